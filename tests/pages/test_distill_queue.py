"""The Distill page on a shared server: runs wait in one queue, each shows its place in line,
a session over its limit gets an error, and a slot freed by a crash goes to the next run."""

import itertools
import os
import signal
import sys

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.store import jobs

TINY = {"steps": 2, "seq_len": 32, "batch_size": 2, "warmup": 0, "eval_every": 0,
        "eval_blocks": 2, "train_docs": 100}


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A runs root whose "training processes" only sleep (the queue is what is tested here)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    monkeypatch.setenv("DISTILL_MAX_QUEUED_PER_SESSION", "2")
    monkeypatch.delenv("DISTILL_CLASSROOM_CONFIG", raising=False)
    monkeypatch.setattr(jobs, "training_command", lambda run, root: [
        sys.executable, "-c", "import time; time.sleep(120)"])
    yield root
    for _, status in jobs.statuses(root):
        if jobs.pid_alive(status.get("pid")):
            os.kill(status["pid"], signal.SIGKILL)


@pytest.fixture
def session(open_page):
    """A new browser session on the Distill page."""
    return lambda: open_page("distill")


STARTS = itertools.count()  # each Start a new seed: identical settings would share one run


def start(at: AppTest) -> AppTest:
    at.text_input(key="cfg_student").set_value("builtin:tiny")
    for name, value in {**TINY, "seed": next(STARTS)}.items():
        at.get_by_key(f"cfg_{name}").set_value(value)
    return at.button(key="start").click().run()


def line(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_queue_position_limits_and_a_freed_slot(session, root):
    alice = start(session())
    assert not alice.exception and not alice.error
    first = alice.session_state["run"]
    assert line(alice) == "queued: starting the training process…"  # it took the one slot

    start(alice)
    second = alice.session_state["run"]
    assert second != first
    assert line(alice) == "queued, 1st in line (at most 1 run trains at once)"

    start(alice)  # a third: over this session's limit of 2
    assert [e.value for e in alice.error] == [
        "you already have 2 runs waiting or training, this server's limit per session "
        "(DISTILL_MAX_QUEUED_PER_SESSION): wait for one to finish or cancel one"]
    assert alice.session_state["run"] == second and len(jobs.statuses(root)) == 2

    bob = start(session())  # another session is not held back by Alice's runs
    assert not bob.error and line(bob) == "queued, 2nd in line (at most 1 run trains at once)"
    third = bob.session_state["run"]

    os.kill(jobs.statuses(root)[0][1]["pid"], signal.SIGKILL)  # the first run's process dies
    alice.run()  # the next page load (or poll) frees its slot for the next in line
    states = {run.id: status for run, status in jobs.statuses(root)}
    assert states[first]["state"] == "failed" and "killed or crashed" in states[first]["error"]
    assert states[second].get("pid") and jobs.pid_alive(states[second]["pid"])
    assert line(alice) == "queued: starting the training process…"
    bob.run()
    assert line(bob) == "queued, 1st in line (at most 1 run trains at once)"
    assert jobs.queue_position(third, root) == 1


def test_cancel_a_waiting_run_from_the_page(session, root):
    at = start(session())
    start(at)
    waiting = at.session_state["run"]
    assert jobs.queue_position(waiting, root) == 1
    at.button(key="cancel").click().run()
    assert not at.exception
    assert jobs.statuses(root)[1][1]["state"] == "cancelled"
    assert jobs.queue_position(waiting, root) is None
