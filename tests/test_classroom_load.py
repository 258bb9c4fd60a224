"""A bounded load test on loopback: a real `streamlit run app.py`, 20 sessions pressing Start
at the same moment (Streamlit's agent API drives the real form over HTTP), then each watching
its run as a browser does (websocket, live panel rerun every 2 s) while a visitor keeps opening
the page and the shared queue trains the tiny runs two at a time.

Nothing may be lost: 20 presses, 20 runs, each done or still waiting/training, started in
queue order, never more than the limit at once; every page load and health check answered.
The same driver at a larger scale, with page times idle vs under load: bench/classroom_load.py.
"""

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest

SESSIONS, MAX_CONCURRENT, WATCH_SECONDS = 20, 2, 30
BENCH = Path(__file__).resolve().parents[1] / "bench" / "classroom_load.py"


@pytest.fixture(scope="module")
def load():
    spec = importlib.util.spec_from_file_location("classroom_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_twenty_sessions_start_runs_at_once(load, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    env = {"DISTILL_MAX_CONCURRENT": str(MAX_CONCURRENT), "DISTILL_MAX_QUEUED_PER_SESSION": "3"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # this process reads the queue with the same limits
    monkeypatch.delenv("DISTILL_CLASSROOM_CONFIG", raising=False)
    with load.Server(root, env) as server:
        try:
            students = load.class_presses_start(server, SESSIONS, load.TINY_RUN)
            seen = load.watch_while_training(server, students, root, WATCH_SECONDS,
                                             enough_done=MAX_CONCURRENT + 1)
            report = load.queue_report(root)
            assert server.healthy() and server.proc.poll() is None
        finally:
            load.stop_all(root)

    assert [e for s in students for e in s.errors] + seen["errors"] == []  # no st.error/exception
    run_ids = [s.run_id for s in students]
    assert None not in run_ids and sorted(run_ids) == sorted(report["ids"])  # none lost
    assert report["runs"] == SESSIONS
    assert set(report["by_state"]) <= {"done", "running", "queued", "waiting"}, report
    assert report["by_state"].get("done", 0) >= 1, report  # the queue moves
    assert report["in_order"], report  # the runs that started are the oldest ones
    assert seen["health_failures"] == 0 and seen["health_checks"] > 5
    assert len(seen["visit_times"]) >= 5 and max(seen["visit_times"]) < 30  # the app answers
    assert len(seen["poll_times"]) >= SESSIONS  # every student's live panel was rerun
    assert 1 <= seen["most_busy"] <= MAX_CONCURRENT
    spans = [(datetime.fromisoformat(s.get("launched") or s["started"]).timestamp(),
              datetime.fromisoformat(s["finished"]).timestamp() if s.get("finished") else 1e12)
             for s in report["statuses"] if s.get("pid")]
    assert max(sum(a <= t < b for a, b in spans) for t, _ in spans) <= MAX_CONCURRENT
    assert not any(load.jobs.pid_alive(s.get("pid")) for _, s in load.jobs.statuses(root))
