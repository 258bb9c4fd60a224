"""Background runs: a real detached process, cancel, and runs orphaned by a dead process."""

import subprocess
import sys
import time

from distill_core import jobs
from distill_core.config import DistillConfig
from distill_core.runs import Run, load_run


def test_launch_then_cancel_keeps_the_student(small_teacher_dir, tmp_path):
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:half", train_docs=200,
                           steps=5000, batch_size=4, seq_len=32, warmup=1, eval_every=0,
                           eval_blocks=4, runs_dir=str(tmp_path))
    run = jobs.launch(config)
    deadline = time.time() + 120
    while len(run.metrics()) < 3 and time.time() < deadline:
        time.sleep(0.1)
    assert run.status()["state"] == "running"
    assert jobs.cancel(run.id, tmp_path)
    deadline = time.time() + 10
    while run.status()["state"] == "running" and time.time() < deadline:
        time.sleep(0.05)
    assert run.status()["state"] == "cancelled"
    assert (run.student_dir / "model.safetensors").exists()
    assert not jobs.cancel(run.id, tmp_path)  # nothing left to stop


def test_runs_whose_process_died_are_marked_failed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = Run.create(tmp_path, {"steps": 10}, name="orphan")
    orphan.set_status("running", pid=dead.pid)
    orphan.log_metrics({"step": 1, "loss": 2.0})
    alive = Run.create(tmp_path, {"steps": 10}, name="alive")
    alive.set_status("running", pid=subprocess.os.getpid())
    assert jobs.mark_orphans(tmp_path) == [orphan.id]
    status = load_run(orphan.id, tmp_path).status()
    assert status["state"] == "failed" and "killed or crashed" in status["error"]
    assert orphan.metrics() == [{"step": 1, "loss": 2.0}]
    assert load_run(alive.id, tmp_path).status()["state"] == "running"
