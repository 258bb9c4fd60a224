"""Runs in the background: each run trains in its own process, detached from the caller.

The app never trains in its script thread: `launch` writes the run directory (queued), starts
`distill run --run-id ID` in a new process session (so closing the tab or restarting the app
does not stop it), and returns at once. Everything the app shows is then read from the run
directory. `cancel` sends SIGTERM; the loop stops at the next step and keeps the student.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from distill_core.config import DistillConfig
from distill_core.runs import Run, list_runs, load_run, runs_root


def launch(config: DistillConfig, root=None) -> Run:
    """Create a queued run for `config` and start training it in a background process."""
    root = runs_root(root or config.runs_dir)
    run = Run.create(root, config.to_dict(), name=config.name)
    cmd = [sys.executable, "-m", "distill_core.cli", "run", "--config", str(run.config_path),
           "--run-id", run.id, "--runs-dir", str(root), "--quiet"]
    with open(run.path / "log.txt", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    run.set_status("queued", pid=proc.pid)
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends
    return run


def pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stalled(status: dict) -> bool:
    """True when a run says queued/running but the process that wrote that is gone."""
    pid = status.get("pid")
    return status.get("state") in ("queued", "running") and bool(pid) and not pid_alive(pid)


def cancel(run_id: str, root=None) -> bool:
    """Ask a queued or running run to stop. True if a live process was signalled."""
    run = load_run(run_id, root)
    status = run.status()
    if status.get("state") not in ("queued", "running"):
        return False
    pid = status.get("pid")
    if not pid_alive(pid):
        return False
    os.kill(int(pid), signal.SIGTERM)
    return True


def mark_orphans(root=None) -> list[str]:
    """Mark runs that say queued/running but whose process is gone (killed, crashed, machine
    restarted) as failed, with the reason; their logged metrics stay. Returns their ids."""
    marked = []
    for row in list_runs(root):
        if row["state"] not in ("queued", "running"):
            continue
        run = load_run(row["id"], root)
        status = run.status()
        if stalled(status):
            run.set_status("failed", error=f"the training process (pid {status['pid']}) ended "
                           "without finishing: it was killed or crashed; metrics logged until "
                           "then are kept")
            marked.append(run.id)
    return marked
