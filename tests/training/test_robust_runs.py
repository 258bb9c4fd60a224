"""Runs that go wrong end `failed` with the reason and keep what they logged: a full disk, out
of memory, a NaN loss. Each failure is a real one (OS limits in a subprocess), not a mock, but
for a failed finish (a writer made to raise), which must leave the run resumable.

(A SIGKILL mid-run: tests/test_cli.py; orphans after a restart and cancel: tests/test_jobs.py.)
"""

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distill_core.config import DistillConfig
from distill_core.store.runs import Run
from distill_core.training.loop import distill, resume_run

REPO = Path(__file__).resolve().parents[2]


def _config(teacher_dir, root, **over) -> DistillConfig:
    base = dict(teacher=str(teacher_dir), student="builtin:half", train_docs=200, steps=200,
                batch_size=2, seq_len=32, warmup=0, eval_every=0, eval_blocks=2,
                precision="fp32", runs_dir=str(root))
    return DistillConfig(**{**base, **over})


def test_a_full_disk_while_logging_fails_the_run_and_keeps_earlier_lines(small_teacher_dir,
                                                                         tmp_path):
    """The app's training process (`distill run --run-id`) with a 3 kB file size limit: the
    metrics file hits it after a dozen steps, as a full disk would (EFBIG instead of ENOSPC)."""
    run = Run.create(tmp_path, _config(small_teacher_dir, tmp_path).to_dict())

    def file_size_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    done = subprocess.run([sys.executable, "-m", "distill_core.cli", "run", "--config",
                           str(run.config_path), "--run-id", run.id, "--runs-dir", str(tmp_path),
                           "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          preexec_fn=file_size_limit)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "disk full while writing metrics" in done.stderr and "Traceback" not in done.stderr
    status = run.status()
    assert status["state"] == "failed"
    assert "disk full while writing metrics" in status["error"]
    assert "File too large" in status["error"]
    records = run.metrics()
    assert 5 <= len(records) < 200 and run.skipped_metric_lines == 0
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    assert run.metrics_path.read_bytes().endswith(b"\n")


OUT_OF_MEMORY = """
import re, resource, sys
import accelerate, datasets, torch, transformers  # loaded before the limit: they map a lot
from distill_core.config import DistillConfig
from distill_core.store.runs import Run
from distill_core.training.loop import distill

config = DistillConfig.from_json(sys.argv[1])
run = Run(config.runs_dir, sys.argv[2])
size = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 1_500_000_000, resource.RLIM_INFINITY))
try:
    distill(config, run=run)
except (MemoryError, RuntimeError) as err:
    print("out of memory:", type(err).__name__)
"""


def test_running_out_of_memory_fails_the_run_with_the_reason(small_teacher_dir, tmp_path):
    """A training process limited to 1.5 GB more address space than it has after its imports
    asks for a batch whose activations need more: the allocation fails for real. (The loss
    never makes the B x T x V logits (kd.fused), so 2,560 x 64 tokens still fit here; 4,096 is
    the largest batch a config takes.)"""
    config = _config(small_teacher_dir, tmp_path, steps=3, batch_size=4096, seq_len=64)
    run = Run.create(tmp_path, config.to_dict())
    done = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, str(run.config_path), run.id],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "out of memory" in done.stdout, done.stderr[-2000:]
    status = run.status()
    assert status["state"] == "failed"
    assert "allocate memory" in status["error"] or "MemoryError" in status["error"]
    assert run.metrics() == []  # the first step never finished


def test_a_nan_loss_stops_the_run_with_a_clear_reason(small_teacher_dir, tmp_path):
    """A teacher whose final layer norm is NaN: its soft labels, hence the loss, are NaN at
    the first step."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill_core.training.loop import distill

    broken = tmp_path / "nan-teacher"
    model = AutoModelForCausalLM.from_pretrained(small_teacher_dir)
    with torch.no_grad():
        model.transformer.ln_f.weight.fill_(float("nan"))
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(small_teacher_dir).save_pretrained(broken)
    config = _config(broken, tmp_path / "runs", steps=5)
    run = Run.create(tmp_path / "runs", config.to_dict())
    try:
        distill(config, run=run)
    except FloatingPointError as err:
        assert "loss became nan at step 1" in str(err)
    else:
        raise AssertionError("a NaN loss did not stop the run")
    status = run.status()
    assert status["state"] == "failed"
    assert status["error"].startswith("FloatingPointError: student loss became nan at step 1")
    # the settings in play, by name and value
    assert "with temperature=2, alpha=0.5, lr=" in status["error"]
    assert "precision=fp32" in status["error"] and "\n" not in status["error"]
    assert run.metrics() == []


def test_a_really_full_disk_fails_the_run_with_the_reason(small_teacher_dir, tmp_path):
    """The runs root on a 64 kB tmpfs: the metrics fill it (ENOSPC), and the failed status
    still gets written (over the old one, as a new file has no room). Needs root to mount."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test above covers the rest")
    try:
        run = Run.create(mnt, _config(small_teacher_dir, mnt, steps=5000).to_dict())
        done = subprocess.run([sys.executable, "-m", "distill_core.cli", "run", "--config",
                               str(run.config_path), "--run-id", run.id, "--runs-dir", str(mnt),
                               "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr[-2000:]
        status = run.status()
        assert status["state"] == "failed", status
        assert "disk full while writing metrics" in status["error"]
        assert "No space left on device" in status["error"]
        records = run.metrics()
        assert len(records) > 50 and run.skipped_metric_lines == 0
        assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_an_on_policy_run_with_a_baseline_finishes(small_teacher_dir, tmp_path):
    """The baseline is saved with the settings it trained with (alpha 0, nothing on-policy),
    not with a copy of the run's settings that the config refuses (on_policy needs alpha > 0)."""
    config = _config(small_teacher_dir, tmp_path, steps=2, on_policy=0.5, baseline=True,
                     alpha=0.5, checkpoint_every=1)
    result = distill(config)
    run = result.run
    assert run.status()["state"] == "done"
    assert result.summary["baseline_ppl"] is not None
    assert (run.baseline_dir / "config.json").exists()
    card = (run.baseline_dir / "README.md").read_text()
    assert "alpha = 0.0" in card
    assert not run.checkpoint_dir.exists()  # done: no checkpoint left behind


def test_a_run_whose_finish_fails_resumes_to_the_same_numbers(small_teacher_dir, tmp_path,
                                                              monkeypatch):
    """summary.json cannot be written (a full disk, say): the run fails with its checkpoint
    whole, taken after the last step, and resuming it finishes with the numbers it would have
    had, without training any step again."""
    config = _config(small_teacher_dir, tmp_path, steps=4, checkpoint_every=3, baseline=True,
                     alpha=0.5)
    whole = distill(config.replace(name="whole"), store=False).summary

    def full_disk(self, summary):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Run, "write_summary", full_disk)
    with pytest.raises(OSError):
        distill(config.replace(name="unfinished"))
    (folder,) = [p for p in tmp_path.iterdir() if "unfinished" in p.name]
    run = Run(tmp_path, folder.name)
    status = run.status()
    assert status["state"] == "failed" and "No space left on device" in status["error"]
    assert (run.checkpoint_dir / "state.pt").exists()
    assert torch.load(run.checkpoint_dir / "state.pt", weights_only=True)["step"] == 4
    monkeypatch.undo()

    steps = []
    resumed = resume_run(run, on_event=lambda e: steps.append(e.get("step")))
    assert [s for s in steps if s is not None] == []  # nothing trained again
    assert run.status()["state"] == "done"
    assert [m["step"] for m in run.metrics()] == [1, 2, 3, 4]
    assert not run.checkpoint_dir.exists()
    for key in ("student_loss", "baseline_loss", "teacher_loss", "agreement", "kl"):
        assert resumed.summary[key] == pytest.approx(whole[key], abs=1e-6), key
    assert resumed.summary["tokens"] == whole["tokens"]
    assert run.summary()["student_ppl"] == resumed.summary["student_ppl"]
