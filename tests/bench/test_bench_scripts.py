"""The benchmarks that vs_trl.py runs, run for real in their quick form (numbers not checked:
timings belong to the benches, not to tests), and the GPU check's behaviour without a GPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def bench(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, check=False,
                          text=True, env=ENV, timeout=timeout, cwd=BENCH.parent)


def test_on_policy_against_trl_trains_both_sides_and_prints_the_ratio():
    pytest.importorskip("trl")
    out = bench("on_policy_vs_trl.py", "--quick")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert any(line.strip().startswith("TRL DistillationTrainer") for line in lines)
    ratio = float(lines[-1].split("on_policy_vs_trl=")[1])
    assert ratio > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_in_one_line_without_cuda():
    out = bench("gpu_check.py", "--quick", timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "gpu_check: no CUDA device here (torch.cuda.is_available() is False)"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.py)")
def test_gpu_check_runs_on_cuda():
    out = bench("gpu_check.py", "--quick")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("gpu: ")
