"""The on-disk run store: files, status timestamps, crash safety, listing, deleting."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from distill_core.store import runs
from distill_core.errors import InputError
from distill_core.files import atomic_write_json
from distill_core.store.runs import (Run, compare, delete_run, list_runs, load_run, new_run_id,
                                    runs_root, validate_run_id)

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"teacher": "t-big", "student": "s-small", "dataset": "tinytales", "alpha": 0.5,
          "temperature": 2.0, "steps": 100, "loss": "forward_kl"}


def fixed_clock(monkeypatch, *times):
    """Make runs.now return `times` in turn (the last one from then on)."""
    stamps = [datetime(*t, tzinfo=timezone.utc) for t in times]
    monkeypatch.setattr(runs, "now", lambda: stamps.pop(0) if len(stamps) > 1 else stamps[0])


# ---------------------------------------------------------------- create, status, config


def test_create_writes_config_and_queued_status(tmp_path):
    run = Run.create(tmp_path, CONFIG, name="first")
    assert run.path == tmp_path / run.id and run.path.is_dir()
    assert run.config_path.is_file() and run.status_path.is_file()
    assert run.id.endswith("-first") and run.exists()
    assert run.config() == CONFIG
    status = run.status()
    assert status["state"] == "queued"
    assert datetime.fromisoformat(status["created"]).tzinfo is not None
    assert run.summary() is None and run.metrics() == []
    assert run.student_dir == run.path / "student"
    assert run.baseline_dir == run.path / "baseline"
    assert run.checkpoint_dir == run.path / "checkpoint"


def test_status_transitions_set_started_and_finished(tmp_path, monkeypatch):
    fixed_clock(monkeypatch, (2025, 1, 1, 0, 0, 0), (2025, 1, 1, 0, 0, 0), (2025, 1, 1, 0, 1),
                (2025, 1, 1, 0, 2), (2025, 1, 1, 0, 3))
    run = Run.create(tmp_path, CONFIG)
    created = run.status()["created"]
    running = run.set_status("running", pid=1234)
    assert running["started"] == running["updated"] > created and running["pid"] == 1234
    again = run.set_status("running")
    assert again["started"] == running["started"] and again["updated"] > running["updated"]
    failed = run.set_status("failed", error="RuntimeError: boom")
    assert run.status() == failed
    assert failed["state"] == "failed" and failed["error"] == "RuntimeError: boom"
    assert failed["created"] == created and failed["started"] == running["started"]
    assert failed["finished"] == failed["updated"] and failed["pid"] == 1234
    with pytest.raises(ValueError):
        run.set_status("paused")
    assert run.status()["state"] == "failed"


def test_set_status_back_to_running_clears_finished_and_error(tmp_path):
    run = Run.create(tmp_path, CONFIG)
    run.set_status("failed", error="out of memory")
    status = run.set_status("running")
    assert "finished" not in status and "error" not in status


# ---------------------------------------------------------------- metrics


def test_log_metrics_appends_lines_in_order_with_nan_as_null(tmp_path):
    run = Run.create(tmp_path, CONFIG)
    run.log_metrics({"step": 1, "loss": 2.5})
    run.log_metrics({"step": 2, "loss": math.nan, "kl": math.inf, "parts": [1.0, -math.inf]})
    run.log_metrics({"step": 3, "loss": 1.5})
    lines = run.metrics_path.read_text().splitlines()
    assert len(lines) == 3 and "NaN" not in lines[1] and "Infinity" not in lines[1]
    assert run.metrics() == [{"step": 1, "loss": 2.5},
                             {"step": 2, "loss": None, "kl": None, "parts": [1.0, None]},
                             {"step": 3, "loss": 1.5}]


def test_torn_last_line_is_skipped(tmp_path):
    run = Run.create(tmp_path, CONFIG)
    run.log_metrics({"step": 1})
    run.log_metrics({"step": 2})
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 3, "lo')  # a kill in the middle of a line
    assert run.metrics() == [{"step": 1}, {"step": 2}]
    run.log_metrics({"step": 4})  # a resumed run starts a fresh line
    assert run.metrics() == [{"step": 1}, {"step": 2}, {"step": 4}]
    assert run.skipped_metric_lines == 1


# ---------------------------------------------------------------- atomic writes


def test_atomic_write_json_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2, "bad": math.nan})
    assert json.loads(target.read_text()) == {"x": 2, "bad": None}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_crash_during_atomic_write_keeps_old_content(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    atomic_write_json(target, {"state": "running"})

    def crash(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_json(target, {"state": "done"})
    assert json.loads(target.read_text()) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


# ---------------------------------------------------------------- listing, loading, comparing


def test_list_runs_newest_first_skips_junk_and_survives_corrupt_status(tmp_path, monkeypatch):
    fixed_clock(monkeypatch, (2025, 1, 1, 10, 0, 0))
    old = Run.create(tmp_path, CONFIG, name="old")
    fixed_clock(monkeypatch, (2025, 1, 2, 10, 0, 0))
    new = Run.create(tmp_path, {**CONFIG, "alpha": 0.9}, name="new")
    new.write_summary({"student_ppl": 12.5, "retention_pct": 80.0, "speedup": 3.0})
    broken = Run.create(tmp_path, CONFIG, name="broken")
    broken.status_path.write_text('{"state": "runn')
    (tmp_path / "notes").mkdir()  # a folder with no run files
    (tmp_path / ".cache").mkdir()
    (tmp_path / "readme.txt").write_text("not a run")
    (tmp_path / ".status.json.x1.tmp").write_text("{")

    rows = list_runs(tmp_path)
    assert [r["id"] for r in rows] == [new.id, old.id, broken.id]
    assert rows[0]["alpha"] == 0.9 and rows[0]["student_ppl"] == 12.5
    assert rows[0]["retention_pct"] == 80.0 and rows[0]["baseline_ppl"] is None
    assert rows[1]["state"] == "queued" and rows[1]["teacher"] == "t-big"
    assert rows[2]["state"] == "unreadable"


def test_load_run_and_compare(tmp_path):
    a = Run.create(tmp_path, CONFIG, name="a")
    a.write_summary({"student_ppl": 10.0, "teacher_ppl": 8.0, "gap_closed_pct": 40.0})
    b = Run.create(tmp_path, {**CONFIG, "loss": "jsd"}, name="b")
    assert load_run(a.id, tmp_path).path == a.path
    with pytest.raises(InputError, match="no run 'nope'"):
        load_run("nope", tmp_path)
    rows = compare([a.id, b.id], tmp_path)
    assert [r["id"] for r in rows] == [a.id, b.id]
    assert rows[0]["student_ppl"] == 10.0 and rows[0]["gap_closed_pct"] == 40.0
    assert rows[1]["loss"] == "jsd" and rows[1]["student_ppl"] is None
    assert rows[0]["student"] == "s-small" and rows[0]["temperature"] == 2.0


# ---------------------------------------------------------------- ids and roots


@pytest.mark.parametrize("bad", ["../x", "/etc", "a/b", "", ".hidden", "x..y", "..", "a\\b",
                                 "x\n", "a" * 129, None])
def test_validate_run_id_refuses_paths(bad, tmp_path):
    with pytest.raises(InputError, match="may contain only letters"):
        validate_run_id(bad)
    with pytest.raises(InputError):
        Run(tmp_path, bad)
    with pytest.raises(InputError):
        load_run(bad, tmp_path)


@pytest.mark.parametrize("good", ["20250101-120000-abc", "a", "A.b_c-1", "a" * 128])
def test_validate_run_id_accepts_plain_names(good):
    assert validate_run_id(good) == good


def test_new_run_id_is_unique_within_a_second(tmp_path, monkeypatch):
    fixed_clock(monkeypatch, (2025, 3, 4, 5, 6, 7))
    ids = [Run.create(tmp_path, CONFIG, name="same").id for _ in range(3)]
    assert ids == ["20250304-050607-same", "20250304-050607-same-2", "20250304-050607-same-3"]
    random_ids = {new_run_id() for _ in range(20)}
    assert len(random_ids) == 20
    assert all(len(i.rsplit("-", 1)[1]) == 6 for i in random_ids)
    assert new_run_id("my run/../x!").endswith("-my-run-.-x")  # a name is made id-safe


def test_runs_root_env_var_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path / "from-env"))
    assert runs_root() == tmp_path / "from-env" and (tmp_path / "from-env").is_dir()
    assert runs_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv(runs.RUNS_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert runs_root() == Path("runs") and (tmp_path / "runs").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError):
        runs_root(tmp_path / "file")


# ---------------------------------------------------------------- deleting


def test_delete_run_refuses_running_and_deletes_done(tmp_path):
    run = Run.create(tmp_path, CONFIG)
    run.set_status("running")
    with pytest.raises(InputError, match="is running"):
        delete_run(run.id, tmp_path)
    assert run.exists()
    run.set_status("done")
    delete_run(run.id, tmp_path)
    assert not run.path.exists() and tmp_path.is_dir()
    with pytest.raises(InputError, match="no run"):
        delete_run(run.id, tmp_path)


def test_delete_run_never_deletes_outside_root(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "precious"
    root.mkdir()
    beside = Run.create(tmp_path, CONFIG)  # a run next to the root, reachable only by "../"
    outside.mkdir()
    atomic_write_json(outside / "status.json", {"state": "done"})
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="outside"):
        delete_run("link", root)
    for bad in ("../precious", str(outside), "..", f"../{beside.id}", str(beside.path)):
        with pytest.raises(InputError):
            delete_run(bad, root)
    assert (outside / "status.json").is_file() and beside.exists() and root.is_dir()


# ---------------------------------------------------------------- a real kill


WRITER = """
import sys
from distill_core.store.runs import Run
run = Run(sys.argv[1], sys.argv[2])
step = 0
while True:
    run.log_metrics({"step": step, "loss": 1.0 / (step + 1), "note": "x" * 200})
    step += 1
"""


def test_sigkill_while_logging_keeps_every_earlier_line(tmp_path):
    run = Run.create(tmp_path, CONFIG)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), run.id], cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not run.metrics_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert proc.poll() is None, "the writer died on its own"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = run.metrics_path.read_bytes().splitlines()
    records = run.metrics()
    assert len(records) >= 1 and len(records) >= len(lines) - 1  # at most the last line torn
    assert [r["step"] for r in records] == list(range(len(records)))


# ---------------------------------------------------------------- a full disk

FULL_DISK_WRITER = """
import resource, signal, sys
from distill_core.store.runs import DiskFullError, Run
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
run = Run(sys.argv[1], sys.argv[2])
for step in range(10_000):
    try:
        run.log_metrics({"step": step, "loss": 1.0 / (step + 1), "note": "x" * 100})
    except DiskFullError as err:
        print(step, err)
        break
"""


@pytest.mark.parametrize("torn", [False, True])
def test_a_full_disk_refuses_the_line_and_keeps_every_earlier_one(tmp_path, torn):
    """A real write failure: the file size limit (RLIMIT_FSIZE) makes write() fail with EFBIG
    part-way through a line, as a full disk does with ENOSPC."""
    run = Run.create(tmp_path, CONFIG)
    if torn:  # an earlier process was killed mid-line
        run.metrics_path.write_bytes(b'{"step":-1}\n{"step":-2,"lo')
    limit = 2000
    done = subprocess.run([sys.executable, "-c", FULL_DISK_WRITER, str(tmp_path), run.id,
                           str(limit)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    failed_at, message = done.stdout.split(" ", 1)
    assert message.startswith("disk full while writing metrics to ") and "File too large" in message
    data = run.metrics_path.read_bytes()
    assert len(data) <= limit and data.endswith(b"\n" if not torn or int(failed_at) else b"lo")
    steps = [r["step"] for r in run.metrics()]
    assert steps == [-1] * torn + list(range(int(failed_at)))  # whole lines, none half-written
    assert run.skipped_metric_lines == int(torn)  # only the line torn before


# ---------------------------------------------------------------- which settings a run has

from distill_core.config import DistillConfig  # noqa: E402
from distill_core.store.runs import config_hash  # noqa: E402


def test_config_hash_ignores_name_and_runs_dir_but_not_what_decides_the_numbers(tmp_path):
    base = DistillConfig(steps=300, alpha=0.5)
    same = base.replace(name="mine", runs_dir=str(tmp_path / "elsewhere"))
    assert config_hash(base) == config_hash(same) == config_hash(same.to_dict())
    assert config_hash({"steps": 300.0, "loss": "FORWARD_KL"}) == config_hash(base)  # normalised
    assert len(config_hash(base)) == 16 and int(config_hash(base), 16) >= 0
    changed = [base.replace(**{k: v}) for k, v in (("alpha", 0.9), ("temperature", 4.0),
                                                   ("seed", 1), ("steps", 301))]
    assert len({config_hash(c) for c in [base, *changed]}) == 5


def test_config_hash_changes_with_the_contents_of_local_inputs(tmp_path):
    data = tmp_path / "stories.txt"
    data.write_text("once upon a time\n")
    config = DistillConfig(dataset=str(data))
    before = config_hash(config)
    assert config_hash(config) == before
    data.write_text("once upon a tine\n")  # edited since: not the same numbers any more
    assert config_hash(config) != before


def test_a_new_run_records_its_config_hash_in_its_status(tmp_path):
    config = DistillConfig(name="x", runs_dir=str(tmp_path))
    run = Run.create(tmp_path, config.to_dict(), name="x")
    assert run.status()["config_hash"] == config_hash(config)
    run.set_status("running", pid=1)
    run.set_status("done")
    assert run.status()["config_hash"] == config_hash(config)  # kept through every state
    partial = Run.create(tmp_path, {"steps": 10, "warmup": 30})  # not a valid config
    assert "config_hash" not in partial.status() and not partial.attached
