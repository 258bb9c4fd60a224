"""The one home of each small shared thing: the machine's description, file locks, the user's
cache folder, and a model's train/eval mode for one block."""

import fcntl
import os
from pathlib import Path

import pytest
import torch

from distill_core import machine, user_cache
from distill_core.locks import exclusive_lock
from distill_core.model_mode import eval_mode, train_mode


# ---------------------------------------------------------------- machine


def test_the_machine_is_described_by_cpu_cores_and_torch():
    name = machine.cpu_model()
    assert name and name == machine.machine_name("cpu")
    assert machine.describe_machine() == (f"{name}, {os.cpu_count()} CPU cores, "
                                          f"torch {torch.__version__}")


class FakeCpuinfo:
    def __init__(self, text):
        self.text = text

    def __call__(self, path):
        return self

    def read_text(self):
        if self.text is None:
            raise OSError("no /proc here")
        return self.text


def test_cpu_model_reads_cpuinfo_then_lscpu_then_the_platform(monkeypatch):
    monkeypatch.setattr(machine, "Path", FakeCpuinfo("processor : 0\nHardware : BCM2835\n"))
    assert machine.cpu_model() == "BCM2835"

    class Lscpu:
        stdout = "Architecture: aarch64\nModel name: Cortex-A72\n"

    monkeypatch.setattr(machine, "Path", FakeCpuinfo(None))
    monkeypatch.setattr(machine.subprocess, "run", lambda *a, **k: Lscpu())
    assert machine.cpu_model() == "Cortex-A72"

    def no_lscpu(*args, **kwargs):
        raise FileNotFoundError("lscpu")

    monkeypatch.setattr(machine.subprocess, "run", no_lscpu)
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "riscv64")
    assert machine.cpu_model() == "riscv64"


# ---------------------------------------------------------------- locks


def other_process_could_lock(path: Path) -> bool:
    """Whether a second open file (as another process would have) gets the lock at once."""
    with open(path, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return True


def test_exclusive_lock_is_held_for_the_block_only(tmp_path):
    path = tmp_path / ".queue.lock"
    with exclusive_lock(path):
        assert path.exists() and not other_process_could_lock(path)
    assert other_process_could_lock(path)
    assert path.exists()  # left in place: removing it would let two processes lock two files


def test_exclusive_lock_is_let_go_when_the_block_raises(tmp_path):
    path = tmp_path / "x.lock"
    with pytest.raises(RuntimeError):
        with exclusive_lock(path):
            raise RuntimeError("inside")
    assert other_process_could_lock(path)


# ---------------------------------------------------------------- the user's cache folder


def test_cache_folders_from_the_environment(monkeypatch, tmp_path):
    for name in ("DISTILL_CACHE_DIR", "DISTILL_MODELS_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "distill-playground"
    assert user_cache.user_cache_dir() == home_cache
    assert user_cache.default_cache_dir() == home_cache
    assert user_cache.default_models_dir() == home_cache / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache.default_models_dir() == tmp_path / "xdg" / "distill-playground" / "models"
    monkeypatch.setenv("DISTILL_CACHE_DIR", "~/measured")
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path / "models"))
    assert user_cache.default_cache_dir() == tmp_path / "home" / "measured"
    assert user_cache.default_models_dir() == tmp_path / "models"


# ---------------------------------------------------------------- a model's mode


def test_eval_mode_gives_back_the_mode_it_found():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    with eval_mode(model) as inside:
        assert inside is model and not model.training and not model[1].training
    assert model.training and model[1].training
    model.eval()
    with train_mode(model):
        assert model.training
        with eval_mode(model):
            assert not model.training
        assert model.training
    assert not model.training


def test_eval_mode_gives_it_back_when_the_block_raises():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError):
        with eval_mode(model):
            raise ValueError("inside")
    assert model.training
