"""Background runs: a real detached process, cancel, and runs orphaned by a dead process."""

import subprocess
import sys
import time

from distill_core.store import jobs
from distill_core.config import DistillConfig
from distill_core.store.runs import Run, config_hash, load_run


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


# ---------------------------------------------------------------- the queue shared by sessions

import os  # noqa: E402
import signal  # noqa: E402
from datetime import datetime  # noqa: E402

import pytest  # noqa: E402

from distill_core.errors import InputError  # noqa: E402

# A stand-in for the training process, so queue tests take seconds: it says "running", works
# for a while (or dies by SIGKILL, for a run named crash-…), says "done" and starts the next
# waiting run (with this same stand-in), exactly as `distill run --run-id` ends (cli.py).
STAND_IN = """
import os, signal, sys, time
from distill_core.store import jobs
from distill_core.store.runs import Run
root, run_id = sys.argv[1:3]
run = Run(root, run_id)
jobs.claim(run)  # the "running" write of distill(), a compare-and-set
name = run.config().get("name") or ""
time.sleep(float(name.split("-")[1]) if name.count("-") else 1.0)
if name.startswith("crash"):
    os.kill(os.getpid(), signal.SIGKILL)
run.set_status("done")
jobs.training_command = lambda run, root: [sys.executable, __file__, str(root), run.id]
jobs.pump_after_run(root)
"""


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """A runs root whose runs are trained by the stand-in; every process is ended at the end."""
    for name in ("DISTILL_MAX_QUEUED_PER_SESSION", "DISTILL_MAX_WAITING", "DISTILL_MAX_STEPS",
                 "DISTILL_CLASSROOM_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    # a stand-in trains the one run it is given: no runs side by side (see test_side_by_side)
    monkeypatch.setenv("DISTILL_MAX_TOGETHER", "1")
    stand_in = tmp_path.parent / f"{tmp_path.name}-stand_in.py"
    stand_in.write_text(STAND_IN)
    monkeypatch.setattr(jobs, "training_command", lambda run, root: [
        sys.executable, str(stand_in), str(root), run.id])
    yield tmp_path
    for run, status in jobs.statuses(tmp_path):
        if jobs.pid_alive(status.get("pid")):
            os.kill(status["pid"], signal.SIGKILL)


def _launch(root, name, session=None, steps=10):
    """A new run named `name` (fresh: these runs differ only in name, which decides nothing)."""
    return jobs.launch(DistillConfig(name=name, steps=steps, warmup=0, runs_dir=str(root)),
                       session=session, fresh=True)


def _wait_all_finished(root, seconds=60):
    deadline = time.time() + seconds
    while any(s["state"] in ("queued", "running") for _, s in jobs.statuses(root)):
        assert time.time() < deadline, [s["state"] for _, s in jobs.statuses(root)]
        time.sleep(0.1)


def _stamp(text):
    return datetime.fromisoformat(text).timestamp()


def test_runs_start_oldest_first_never_more_than_the_limit_at_once(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "2")
    runs = [_launch(queue, f"r{i}-1.0") for i in range(5)]
    assert [jobs.queue_position(r.id, queue) for r in runs] == [None, None, 1, 2, 3]
    assert jobs.queue_line(runs[4].id, queue) == ("queued, 3rd in line (at most 2 runs train "
                                                  "at once)")
    assert jobs.queue_line(runs[0].id, queue) is None
    _wait_all_finished(queue)  # nobody pumps here: each run that ends starts the next
    statuses = [r.status() for r in runs]
    assert [s["state"] for s in statuses] == ["done"] * 5
    # a slot is taken from the launch until the end: at most 2 overlap, in creation order
    spans = [(_stamp(s.get("launched") or s["started"]), _stamp(s["finished"])) for s in statuses]
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)
    assert max(sum(a <= t < b for a, b in spans) for t, _ in spans) == 2


def test_a_crashed_run_frees_its_slot_and_leaves_the_others_alone(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    crash, other = _launch(queue, "crash-0.5"), _launch(queue, "fine-0.5")
    assert jobs.queue_position(other.id, queue) == 1
    deadline = time.time() + 30
    while other.status()["state"] == "queued" and not other.status().get("pid"):
        assert time.time() < deadline, "the waiting run never started"
        time.sleep(0.1)
        jobs.pump(queue)  # what every Distill page load and poll does
    _wait_all_finished(queue)
    assert crash.status()["state"] == "failed" and "killed or crashed" in crash.status()["error"]
    assert other.status()["state"] == "done"


def test_limits_per_session_on_waiting_and_on_steps(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    monkeypatch.setenv("DISTILL_MAX_QUEUED_PER_SESSION", "2")
    monkeypatch.setenv("DISTILL_MAX_WAITING", "3")
    monkeypatch.setenv("DISTILL_MAX_STEPS", "50")
    _launch(queue, "a1-30", session="a")
    _launch(queue, "a2-30", session="a")
    with pytest.raises(InputError, match=r"you already have 2 runs waiting or training, this "
                                         r"server's limit per session "
                                         r"\(DISTILL_MAX_QUEUED_PER_SESSION\)"):
        _launch(queue, "a3-30", session="a")
    _launch(queue, "b1-30", session="b")  # another session is not held back by a's runs
    _launch(queue, "b2-30", session="b")
    with pytest.raises(InputError, match=r"3 runs are already waiting.*DISTILL_MAX_WAITING"):
        _launch(queue, "c1-30", session="c")
    with pytest.raises(InputError, match=r"steps 51 is over this server's limit of 50"):
        _launch(queue, "c2-30", session="c", steps=51)
    assert len(jobs.statuses(queue)) == 4  # nothing was created for the refused ones


def test_cancelling_a_waiting_run_means_it_never_starts(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    first, second = _launch(queue, "first-1.0"), _launch(queue, "second-1.0")
    assert jobs.cancel(second.id, queue)
    assert second.status()["state"] == "cancelled"
    assert "before it started" in second.status()["error"]
    _wait_all_finished(queue)
    assert first.status()["state"] == "done" and not second.status().get("pid")
    assert not jobs.cancel(second.id, queue)


def test_a_run_killed_while_starting_after_cancel_is_cancelled_not_failed(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    run = _launch(queue, "slow-30")
    deadline = time.time() + 20
    while run.status()["state"] != "running":
        assert time.time() < deadline
        time.sleep(0.05)
    assert jobs.cancel(run.id, queue)  # the stand-in has no SIGTERM handler: it just dies
    deadline = time.time() + 10
    while jobs.pid_alive(run.status()["pid"]):
        assert time.time() < deadline
        time.sleep(0.05)
    assert jobs.mark_orphans(queue) == [run.id]
    assert run.status()["state"] == "cancelled"


def test_ordinals():
    assert [jobs.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


def test_real_queued_runs_train_one_after_another(small_teacher_dir, tmp_path, monkeypatch):
    """Two real training processes through the queue, one slot: the second starts when the
    first ends (its process starts it), and both finish."""
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:half", train_docs=100,
                           steps=2, batch_size=2, seq_len=32, warmup=0, eval_every=0,
                           eval_blocks=2, precision="fp32", runs_dir=str(tmp_path))
    first, second = jobs.launch(config), jobs.launch(config, fresh=True)
    assert jobs.queue_position(second.id, tmp_path) == 1
    deadline = time.time() + 120
    while second.status().get("state") != "done":
        assert second.status().get("state") in ("queued", "running"), second.status()
        assert time.time() < deadline, (second.path / "log.txt").read_text()[-2000:]
        time.sleep(0.2)
    assert first.status()["state"] == "done"
    assert _stamp(second.status()["launched"]) >= _stamp(first.status()["finished"])


def test_a_sweep_process_holds_one_slot_for_all_its_cells(queue, monkeypatch):
    """A sweep trains its cells one by one in one process: its queued cells carry that pid."""
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "2")
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for i in range(4):
            cell = Run.create(queue, {"steps": 1}, name=f"cell{i}")
            cell.set_status("running" if i == 0 else "queued", pid=sweep.pid)
        run = _launch(queue, "mine-0.5")
        deadline = time.time() + 10
        while not run.status().get("pid"):
            assert time.time() < deadline, "the sweep's cells took every slot"
            time.sleep(0.05)
    finally:
        sweep.kill()
        sweep.wait()


# ---------------------------------------------------------------- a Start with the same settings


def _config(root, name="preset-1.0", **changes):
    return DistillConfig(name=name, steps=10, warmup=0, runs_dir=str(root), **changes)


def test_the_same_settings_attach_to_the_run_training_them(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    monkeypatch.setenv("DISTILL_MAX_QUEUED_PER_SESSION", "1")
    first = jobs.launch(_config(queue), session="alice")
    assert not first.attached and first.status()["config_hash"]
    busy = jobs.launch(_config(queue, "bob-1.0", seed=7), session="bob")  # bob's one run
    # bob presses alice's settings under another name: he is shown her run, over his limit or not
    again = jobs.launch(_config(queue, "copy-1.0"), session="bob")
    assert again.attached and again.id == first.id
    assert len(jobs.statuses(queue)) == 2  # no second run folder, so no second process
    assert sorted(p.name for p in queue.iterdir() if p.is_dir()) == sorted([first.id, busy.id])
    assert {s.get("session") for _, s in jobs.statuses(queue)} == {"alice", "bob"}
    _wait_all_finished(queue)
    assert first.status()["state"] == busy.status()["state"] == "done"
    later = jobs.launch(_config(queue, "carol-1.0"), session="carol")  # a done run: no wait at all
    assert later.attached and later.id == first.id and len(jobs.statuses(queue)) == 2
    assert not any(jobs.waiting(s) or s["state"] == "running" for _, s in jobs.statuses(queue))


def test_a_changed_alpha_temperature_or_seed_trains_its_own_run(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    runs = [jobs.launch(c) for c in (_config(queue), _config(queue, alpha=0.9),
                                     _config(queue, temperature=4.0), _config(queue, seed=1))]
    assert not any(r.attached for r in runs) and len({r.id for r in runs}) == 4
    assert len({r.status()["config_hash"] for r in runs}) == 4


def test_fresh_forces_a_new_run(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    first = jobs.launch(_config(queue))
    second = jobs.launch(_config(queue), fresh=True)
    assert not second.attached and second.id != first.id
    assert first.status()["config_hash"] == second.status()["config_hash"]
    assert jobs.queue_position(second.id, queue) == 1
    # with two to choose from, a Start is shown the one training, not the one waiting
    assert jobs.launch(_config(queue)).id == first.id


def test_failed_cancelled_or_dead_runs_are_not_attached_to(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    config = _config(queue)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for state, extra in (("failed", {"error": "boom"}), ("cancelled", {}),
                         ("running", {"pid": dead.pid})):  # its process is gone: failed
        Run.create(queue, config.to_dict(), name=state).set_status(state, **extra)
    run = jobs.launch(config)
    assert not run.attached and len(jobs.statuses(queue)) == 4
    assert load_run(run.id, queue).status()["config_hash"] == config_hash(config)
    states = sorted(s["state"] for r, s in jobs.statuses(queue) if r.id != run.id)
    assert states == ["cancelled", "failed", "failed"]  # the dead one was marked on the way


def test_a_run_another_session_started_cannot_be_cancelled_from_this_one(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    jobs.launch(_config(queue), session="alice")
    run = jobs.launch(_config(queue, seed=3), session="alice")  # waiting
    assert jobs.launch(_config(queue, seed=3), session="bob").attached
    with pytest.raises(InputError, match="started by another session"):
        jobs.cancel(run.id, queue, session="bob")
    assert jobs.waiting(run.status())
    assert jobs.cancel(run.id, queue, session="alice")
    assert run.status()["state"] == "cancelled"


# ---------------------------------------------------------------- process identity, compare-and-set

from distill_core.store import processes  # noqa: E402


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_reused_pid_is_not_the_run_s_process_and_is_never_signalled(tmp_path):
    """A pid stored before a reboot (other boot id) or by an earlier process with the same pid
    (other start time) names a stranger now: the run is not alive and cancel leaves it be."""
    stranger = _sleeper()
    try:
        me = processes.identity(stranger.pid)
        assert me["pid_started"] == int(open(f"/proc/{stranger.pid}/stat").read()
                                         .rpartition(")")[2].split()[19])
        assert processes.is_alive(me) and jobs.pid_alive(stranger.pid)
        for other in ({"boot_id": "another-boot"}, {"pid_started": me["pid_started"] - 1}):
            run = Run.create(tmp_path, {"steps": 10}, name="old")
            run.set_status("running", **{**me, **other})
            assert jobs.stalled(run.status())
            assert not jobs.cancel(run.id, tmp_path)
            assert stranger.poll() is None  # not signalled
            assert jobs.mark_orphans(tmp_path) == [run.id]
            assert run.status()["state"] == "failed"
        mine = Run.create(tmp_path, {"steps": 10}, name="mine")
        mine.set_status("running", **me)  # the very process: alive, and cancel reaches it
        assert not jobs.stalled(mine.status()) and jobs.cancel(mine.id, tmp_path)
        assert stranger.wait(timeout=10) == -signal.SIGTERM
    finally:
        stranger.kill()
        stranger.wait()


def test_without_proc_a_pid_alone_decides(monkeypatch):
    monkeypatch.setattr(processes, "BOOT_ID_PATH", processes.Path("/nonexistent/boot_id"))
    monkeypatch.setattr(processes, "_stat_fields", lambda pid: None)
    me = processes.identity()
    assert me == {"pid": os.getpid(), "pid_started": None, "boot_id": None}
    assert processes.is_alive({**me, "pid_started": 1, "boot_id": "x"})  # cannot tell: alive


CLAIMANT = """
import sys, time
from distill_core.store import jobs
from distill_core.store.runs import Run
root, run_id, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, at - time.time()))
try:
    jobs.claim(Run(root, run_id))
    print("won")
except jobs.Taken:
    print("lost")
time.sleep(3)  # still alive while the others look
"""


def test_many_processes_claim_one_waiting_run_exactly_one_wins(tmp_path):
    run = Run.create(tmp_path, {"steps": 10}, name="contested")
    at = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMANT, str(tmp_path), run.id, str(at)],
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(results) == ["lost"] * 5 + ["won"]
    winner = procs[results.index("won")]
    assert run.status()["state"] == "running" and run.status()["pid"] == winner.pid


def test_a_claim_refuses_a_cancelled_or_foreign_run_and_leaves_its_status(tmp_path):
    cancelled = Run.create(tmp_path, {"steps": 10}, name="c")
    assert jobs.cancel(cancelled.id, tmp_path)
    with pytest.raises(jobs.Taken, match="is cancelled"):
        jobs.claim(cancelled)
    assert cancelled.status()["state"] == "cancelled"
    owner = _sleeper()
    try:
        foreign = Run.create(tmp_path, {"steps": 10}, name="f", **processes.identity(owner.pid))
        with pytest.raises(jobs.Taken, match=f"by process {owner.pid}"):
            jobs.claim(foreign)
        assert foreign.status()["pid"] == owner.pid and foreign.status()["state"] == "queued"
    finally:
        owner.kill()
        owner.wait()
    assert jobs.claim(foreign)["pid"] == os.getpid()  # its owner is gone: free to take
    assert jobs.claim(cancelled, resume=True)["state"] == "running"  # resuming takes it


def test_a_started_run_records_its_process_identity(queue, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    run = _launch(queue, "slow-5")
    status = run.status()
    assert status["pid"] and status["boot_id"] == processes.boot_id()
    assert status["pid_started"] == processes.start_ticks(status["pid"])


def test_the_training_loop_does_not_train_a_run_cancelled_before_it_claimed(tmp_path):
    from distill_core.training.loop import distill

    config = DistillConfig(student="builtin:half", train_docs=100, steps=2, batch_size=2,
                           seq_len=16, warmup=0, eval_every=0, eval_blocks=2,
                           runs_dir=str(tmp_path))
    run = Run.create(tmp_path, config.to_dict(), name="late")
    assert jobs.cancel(run.id, tmp_path)
    with pytest.raises(jobs.Taken):
        distill(config, run=run)
    assert run.status()["state"] == "cancelled" and not run.metrics()
