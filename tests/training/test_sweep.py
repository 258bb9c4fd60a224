"""α × T sweeps: the grid parser, plans, training the cells in order, the background launch
(the app's, distill_core.app.launch.launch_sweep)."""

import json
import os
import time

import pytest

from distill_core.app.launch import launch_sweep
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store.runs import list_runs, load_run
from distill_core.training import sweep


@pytest.fixture(autouse=True)
def _no_shared_cache(monkeypatch):
    monkeypatch.delenv("DISTILL_CACHE_DIR", raising=False)


def _base(teacher_dir, tmp_path, **over):
    return DistillConfig(**{**dict(teacher=str(teacher_dir), student="builtin:half",
                                   train_docs=200, steps=2, batch_size=8, seq_len=32, warmup=1,
                                   eval_every=0, eval_blocks=4, precision="fp32",
                                   runs_dir=str(tmp_path / "runs")), **over})


@pytest.mark.parametrize("text, values", [
    ("0,0.5,1", [0.0, 0.5, 1.0]),
    (" 1 , 2,4 ", [1.0, 2.0, 4.0]),
    ("0.25", [0.25]),
    ("1e-1,2", [0.1, 2.0]),
])
def test_parse_values(text, values):
    assert sweep.parse_values(text, "alpha") == values


@pytest.mark.parametrize("text, words", [
    ("0,x", "'x'"), ("", "numbers separated by commas"), ("0,,1", "numbers separated"),
    ("1,nan", "finite"), ("inf", "finite"), ("0.5,0.5", "twice"), ("1;2", "'1;2'"),
])
def test_parse_values_bad(text, words):
    with pytest.raises(InputError, match="--temperature") as err:
        sweep.parse_values(text, "temperature")
    assert words in str(err.value)


def test_plan_creates_queued_runs_and_a_plan_file(small_teacher_dir, tmp_path):
    base = _base(small_teacher_dir, tmp_path, name="grid")
    sweep_id, runs = sweep.plan(base, [0.0, 0.5], [1.0, 2.0, 4.0])
    assert len(runs) == 6
    assert all(r.status()["state"] == "queued" and not r.status().get("pid") for r in runs)
    configs = [r.config() for r in runs]
    assert [(c["alpha"], c["temperature"]) for c in configs] == [
        (a, t) for a in (0.0, 0.5) for t in (1.0, 2.0, 4.0)]
    assert all(c["teacher_cache"] and c["steps"] == 2 for c in configs)
    assert configs[4]["name"] == "grid-a0.5-T2"
    plan_file = tmp_path / "runs" / "_sweeps" / f"{sweep_id}.json"
    plan = json.loads(plan_file.read_text())
    assert plan["id"] == sweep_id and plan["alphas"] == [0.0, 0.5]
    assert plan["temperatures"] == [1.0, 2.0, 4.0] and plan["pid"] is None
    assert [c["run_id"] for c in plan["cells"]] == [r.id for r in runs]
    assert sweep.list_sweeps(tmp_path / "runs") == [sweep_id]
    rows = sweep.cells(sweep_id, tmp_path / "runs")
    assert [r["state"] for r in rows] == ["queued"] * 6
    assert all(r["student_ppl"] is None and r["agreement"] is None for r in rows)


@pytest.mark.parametrize("alphas, temperatures, words", [
    ([], [1.0], "at least one"),
    ([0.5], [], "at least one"),
    ([i / 10 for i in range(9)], [1.0 + i for i in range(8)], "more than 64"),  # 72 cells
    ([0.5, 2.0], [1.0], "alpha"),  # the second cell is invalid: no cell is made at all
    ([0.5], [1.0, 0.0], "temperature"),
])
def test_plan_refuses_bad_grids(small_teacher_dir, tmp_path, alphas, temperatures, words):
    with pytest.raises(InputError, match=words):
        sweep.plan(_base(small_teacher_dir, tmp_path), alphas, temperatures)
    assert list_runs(tmp_path / "runs") == []
    assert sweep.list_sweeps(tmp_path / "runs") == []


def test_plan_accepts_exactly_max_cells(small_teacher_dir, tmp_path):
    _, runs = sweep.plan(_base(small_teacher_dir, tmp_path), [i / 7 for i in range(8)],
                         [1.0 + i for i in range(8)])
    assert len(runs) == sweep.MAX_CELLS == 64


def test_execute_trains_the_cells_and_reports_them(small_teacher_dir, tmp_path):
    base = _base(small_teacher_dir, tmp_path)
    events = []
    sweep_id, rows = sweep.run_sweep(base, [0.5, 1.0], [2.0], on_event=events.append)
    assert [r["state"] for r in rows] == ["done", "done"]
    assert [(r["alpha"], r["temperature"]) for r in rows] == [(0.5, 2.0), (1.0, 2.0)]
    for row in rows:
        summary = load_run(row["run_id"], base.runs_dir).summary()
        assert row["student_ppl"] == summary["student_ppl"] > 1
        assert row["agreement"] == summary["agreement"] and 0 <= row["agreement"] <= 1
        assert row["teacher_ppl"] == summary["teacher_ppl"]
        assert summary["teacher_mode"] == "cached"
    assert rows[0]["student_ppl"] != rows[1]["student_ppl"]  # really different settings
    assert [e["type"] for e in events].count("done") == 2
    assert json.loads((tmp_path / "runs" / "_sweeps" / f"{sweep_id}.json").read_text())[
        "pid"] == os.getpid()
    assert sweep.finished(rows)
    table, header = sweep.sweep_table(rows)
    assert header[0] == "alpha" and len(table) == 2
    assert table[0][2] == f"{rows[0]['student_ppl']:.3f}" and table[1][5] == rows[1]["run_id"]


def test_cell_cancelled_before_its_turn_is_skipped(small_teacher_dir, tmp_path):
    base = _base(small_teacher_dir, tmp_path)
    sweep_id, runs = sweep.plan(base, [0.5], [1.0, 2.0])

    def cancel_second(e):  # while the first cell trains, someone cancels the second
        if e["type"] == "start":
            second = load_run(runs[1].id, base.runs_dir)
            if second.status()["state"] == "queued":
                second.set_status("cancelled")

    rows = sweep.execute(sweep_id, base.runs_dir, on_event=cancel_second)
    assert [r["state"] for r in rows] == ["done", "cancelled"]
    assert rows[1]["student_ppl"] is None and rows[1]["agreement"] is None
    assert rows[0]["student_ppl"] is not None
    assert not (runs[1].path / "metrics.jsonl").exists()  # it never trained
    assert sweep.finished(rows)


def test_cell_cancelled_before_the_sweep_starts_is_skipped(small_teacher_dir, tmp_path):
    # e.g. cancelled in the app while the background process was still starting
    base = _base(small_teacher_dir, tmp_path)
    sweep_id, runs = sweep.plan(base, [0.5], [1.0, 2.0])
    runs[1].set_status("cancelled")
    rows = sweep.execute(sweep_id, base.runs_dir)
    assert [r["state"] for r in rows] == ["done", "cancelled"]
    assert not (runs[1].path / "metrics.jsonl").exists()


def test_executing_a_finished_sweep_again_trains_nothing(small_teacher_dir, tmp_path):
    # e.g. `distill sweep --sweep-id ID` run a second time
    base = _base(small_teacher_dir, tmp_path)
    sweep_id, rows = sweep.run_sweep(base, [0.5], [1.0])
    first = load_run(rows[0]["run_id"], base.runs_dir).status()["finished"]
    events = []
    again = sweep.execute(sweep_id, base.runs_dir, on_event=events.append)
    assert [r["state"] for r in again] == ["done"]
    assert events == []
    assert load_run(rows[0]["run_id"], base.runs_dir).status().get("finished") == first


def test_unknown_sweep(tmp_path):
    with pytest.raises(InputError, match="no sweep"):
        sweep.cells("sweep-nope", tmp_path)
    with pytest.raises(InputError):
        sweep.cells("../escape", tmp_path)


def test_list_sweeps_newest_first(small_teacher_dir, tmp_path):
    base = _base(small_teacher_dir, tmp_path)
    assert sweep.list_sweeps(base.runs_dir) == []
    first, _ = sweep.plan(base, [0.5], [1.0])
    time.sleep(1.05)  # ids carry the second they were made
    second, _ = sweep.plan(base, [0.5], [1.0])
    assert sweep.list_sweeps(base.runs_dir) == [second, first]


def test_launch_trains_in_the_background(small_teacher_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    base = _base(small_teacher_dir, tmp_path)
    sweep_id = launch_sweep(base, [0.0, 1.0], [1.0])
    rows = sweep.cells(sweep_id, base.runs_dir)
    assert all(r["state"] in ("queued", "running", "done") for r in rows)
    deadline = time.time() + 120
    while time.time() < deadline and not sweep.finished(rows):
        time.sleep(0.5)
        rows = sweep.cells(sweep_id, base.runs_dir)
    log = tmp_path / "runs" / "_sweeps" / f"{sweep_id}.log"
    assert sweep.log_path(sweep_id, base.runs_dir) == log
    assert sweep.finished(rows), log.read_text()[-2000:]
    assert [r["state"] for r in rows] == ["done", "done"], log.read_text()[-2000:]
    assert all(r["student_ppl"] and r["agreement"] is not None for r in rows)
    plan = json.loads((tmp_path / "runs" / "_sweeps" / f"{sweep_id}.json").read_text())
    assert plan["pid"] and plan["pid"] != os.getpid()


def test_launch_applies_the_apps_checks(small_teacher_dir, tmp_path, monkeypatch):
    base = _base(small_teacher_dir, tmp_path)
    with pytest.raises(InputError, match="may read"):  # a folder the app does not share
        launch_sweep(base, [1.0], [1.0])
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))
    monkeypatch.setenv("DISTILL_MAX_STEPS", "2")
    with pytest.raises(InputError, match="limit"):
        launch_sweep(base.replace(steps=3, warmup=1), [1.0], [1.0])
    assert sweep.list_sweeps(base.runs_dir) == []  # nothing planned


# ---------------------------------------------------------------- a sweep in the run queue

import subprocess  # noqa: E402
import sys  # noqa: E402

from distill_core.store import jobs  # noqa: E402

# What a started process does here: note its kind ("run" or "sweep") and live a while.
RECORDER = "import sys, time; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); time.sleep(30)"


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """jobs starts recorders instead of training processes; the file lists what started."""
    for name in ("DISTILL_MAX_WAITING", "DISTILL_CLASSROOM_CONFIG", "DISTILL_MAX_STEPS"):
        monkeypatch.delenv(name, raising=False)
    started = tmp_path / "started.txt"
    monkeypatch.setattr(jobs, "training_command", lambda run, root: [
        sys.executable, "-c", RECORDER, str(started), f"run {run.id}"])
    monkeypatch.setattr(jobs, "sweep_command", lambda sweep_id, root: [
        sys.executable, "-c", RECORDER, str(started), f"sweep {sweep_id}"])
    yield started
    for _, status in jobs.statuses(tmp_path / "runs"):
        if jobs.pid_alive(status.get("pid")):
            os.kill(status["pid"], 9)


def _lines(path, count, seconds=20):
    deadline = time.time() + seconds
    while (len(path.read_text().splitlines()) if path.exists() else 0) < count:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # and nothing more comes
    return path.read_text().splitlines()


def test_a_page_poll_after_plan_starts_the_sweep_never_its_cells_as_runs(
        small_teacher_dir, tmp_path, recorded, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "4")
    base = _base(small_teacher_dir, tmp_path)
    sweep_id, runs = sweep.plan(base, [0.0, 0.5, 1.0], [2.0])
    assert jobs.queue_position(runs[2].id, base.runs_dir) == 1  # one entry in line
    started = jobs.pump(base.runs_dir)  # any Distill page load or poll
    assert sorted(started) == sorted(r.id for r in runs)
    assert _lines(recorded, 1) == [f"sweep {sweep_id}"]  # one process for all three cells
    pids = {r.status()["pid"] for r in runs}
    assert len(pids) == 1 and all(r.status()["state"] == "queued" for r in runs)
    assert jobs.pump(base.runs_dir) == []  # started cells are not waiting any more


def test_a_sweep_waits_for_a_free_slot_like_any_run(small_teacher_dir, tmp_path, recorded,
                                                    monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    root = tmp_path / "runs"
    busy = jobs.launch(DistillConfig(name="busy", steps=10, warmup=0, runs_dir=str(root)))
    assert _lines(recorded, 1) == [f"run {busy.id}"]
    sweep_id = launch_sweep(_base(small_teacher_dir, tmp_path), [0.0, 1.0], [1.0])
    rows = sweep.cells(sweep_id, root)
    assert all(jobs.waiting(load_run(r["run_id"], root).status()) for r in rows)
    assert jobs.queue_line(rows[1]["run_id"], root).startswith("queued, 1st in line")
    os.kill(busy.status()["pid"], 9)  # the slot frees (its run is marked failed)
    deadline = time.time() + 20
    while not jobs.pump(root):
        assert time.time() < deadline
        time.sleep(0.1)
    assert _lines(recorded, 2)[1] == f"sweep {sweep_id}"
    assert busy.status()["state"] == "failed"


def test_a_foreground_sweep_owns_its_cells_from_the_start(small_teacher_dir, tmp_path):
    base = _base(small_teacher_dir, tmp_path)
    sweep_id, runs = sweep.plan(base, [0.5], [1.0, 2.0], queue=False)
    assert all(r.status()["pid"] == os.getpid() and r.status()["sweep"] == sweep_id
               for r in runs)
    assert not any(jobs.waiting(r.status()) for r in runs)
    assert jobs.pump(base.runs_dir) == []


def test_a_cell_cancelled_while_its_sweep_trains_others_is_skipped_alone(tmp_path):
    """cancel marks a cell not yet trained cancelled (no signal to the sweep's process)."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        from distill_core.store.processes import identity
        from distill_core.store.runs import Run

        cell = Run.create(tmp_path, {"steps": 1}, name="cell", sweep="s", **identity(owner.pid))
        assert jobs.cancel(cell.id, tmp_path)
        assert cell.status()["state"] == "cancelled" and owner.poll() is None
    finally:
        owner.kill()
        owner.wait()
