"""What the page tests share: the app, opened on one page through app.py as a browser opens it
(app.py runs first, then st.navigation runs the page)."""

import contextlib
import os
import signal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(page: str | None = None, query: dict | None = None, timeout: int = 90) -> AppTest:
    """AppTest of app.py on app_pages/<page>.py (Home when None), with `query` in its URL."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if page is None and not query:
        return at
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(query or {})
    return at.run()


@pytest.fixture
def open_page(monkeypatch):
    """open_app for a test: open_page("soft_labels", {"T": "4"}); `runs` sets the runs root."""
    def open_on(page: str | None = None, query: dict | None = None, runs=None) -> AppTest:
        if runs is not None:
            monkeypatch.setenv("DISTILL_RUNS_DIR", str(runs))
        return open_app(page, query)
    return open_on


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs root the app uses (DISTILL_RUNS_DIR)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    return root


@pytest.fixture
def no_reference(tmp_path, monkeypatch):
    """No reference results (a reference folder that is not there): the pages' own empty
    states, as before any reference set was shipped."""
    monkeypatch.setenv("DISTILL_REFERENCE_DIR", str(tmp_path / "no-reference"))


@pytest.fixture(autouse=True)
def stop_runs_left_training(monkeypatch):
    """Each script run of the app pumps the queue, so a page test's queued run starts training in
    its own process and would go on after the test, slowing every later test: stop it."""
    yield
    from distill_core.store import jobs

    root = os.environ.get("DISTILL_RUNS_DIR")  # still the test's own: monkeypatch undoes later
    if not root or not Path(root).is_dir():
        return
    for _, status in jobs.statuses(root):
        pid = status.get("pid")
        if status["state"] in ("running", "queued") and pid and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
