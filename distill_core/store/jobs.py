"""Runs in the background, through one queue shared by every browser session and server process.

The app never trains in its script thread. `launch` writes the run directory with the state
"queued" and returns at once; `pump` starts waiting runs, oldest first, while fewer than
`max_concurrent` (limits.py) are training. Each run trains in its own process, `distill run
--run-id ID`, in a new process session, so closing the tab, restarting the app or another run
crashing does not stop it. Everything the app shows is then read from the run directory.

The queue is the runs root itself: a run is waiting while its status is "queued" with no pid,
starting while "queued" with a pid, training while "running". `pump` and `launch` hold an
exclusive lock on `<root>/.queue.lock` (fcntl.flock) while they count and start, so several
server processes sharing one runs root never start more than the limit (a first look without
the lock skips it when there is nothing to do). `pump` runs on every Distill page load, on each
poll of a waiting run's page and at the end of every training process (cli.py), and first marks
runs whose process has died as failed (`mark_orphans`), which frees their slots.

A Start never trains the same numbers twice: runs are deterministic, so when a run with the
same settings (runs.config_hash, kept in each status) is done, waiting or training, `launch`
returns that run (`run.attached`) instead of queueing another. Thirty students pressing the
same preset share one run and wait for one run, not thirty; `fresh=True` forces a new one.

`cancel` sends SIGTERM (the loop stops at the next step and keeps the student) or, for a run
still waiting, marks it cancelled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.policy import Limits, check_steps, env_name
from distill_core.store.limits import load_limits
from distill_core.store.runs import Run, config_hash, load_run, run_folders, runs_root

LOCK_NAME = ".queue.lock"
CANCEL_MARK = "cancel-asked"  # in a run folder: the pid that SIGTERM was sent to
ATTACHABLE = ("done", "running", "queued")  # states a Start may attach to, the best first


# ---------------------------------------------------------------------------------------------
# Processes


def pid_alive(pid) -> bool:
    """True while process `pid` exists and has not exited (an unreaped zombie counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def stalled(status: dict) -> bool:
    """True when a run says queued/running but the process that wrote that is gone."""
    pid = status.get("pid")
    return status.get("state") in ("queued", "running") and bool(pid) and not pid_alive(pid)


def waiting(status: dict) -> bool:
    """True for a run in the queue that no process has picked up yet."""
    return status.get("state") == "queued" and not status.get("pid")


def training_command(run: Run, root: Path) -> list[str]:
    """The command that trains a queued run: the CLI, filling that run's folder."""
    return [sys.executable, "-m", "distill_core.cli", "run", "--config", str(run.config_path),
            "--run-id", run.id, "--runs-dir", str(root), "--quiet"]


def spawn(cmd: list[str], log_path, env=None) -> int:
    """Start `cmd` detached from the caller (its own session: closing the tab or restarting the
    app does not stop it), output appended to `log_path`; returns its pid. A thread reaps it
    when it ends."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc.pid


def training_env(limits: Limits) -> dict:
    """This process's environment for a training process: runs share the cores, so no more
    threads each than their share (more threads than cores slow every one of them down)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // limits.max_concurrent)))
    return env


def _start(run: Run, root: Path, limits: Limits) -> None:
    """Start the training process of a waiting run (called under the queue lock)."""
    pid = spawn(training_command(run, root), run.path / "log.txt", training_env(limits))
    launched = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    if run.status().get("state") == "queued":  # the process may already say "running"
        run.set_status("queued", pid=pid, launched=launched)


# ---------------------------------------------------------------------------------------------
# The queue


@contextlib.contextmanager
def queue_lock(root):
    """Hold the runs root's queue lock (blocks until no other process holds it)."""
    with open(Path(root) / LOCK_NAME, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def statuses(root) -> list[tuple[Run, dict]]:
    """(run, status) of every readable run under `root`, oldest first (queue order)."""
    out = []
    for run in run_folders(root):
        try:
            status = run.status()
        except InputError:
            continue  # a corrupt status is shown as "unreadable" by list_runs, never started
        if status:
            out.append((run, status))
    out.sort(key=lambda rs: (rs[1].get("created") or "", rs[0].id))
    return out


def launch(config: DistillConfig, root=None, *, session: str | None = None,
           limits: Limits | None = None, fresh: bool = False) -> Run:
    """Queue a run for `config` and start it now if a slot is free; return the run.

    A Start that would train numbers already there is not queued: unless `fresh`, when a run
    with the same settings (`config_hash`: everything but name and runs_dir) is done, waiting
    or training, that run is returned with `run.attached` True. Nothing is created and no
    limit counts it; the caller shows that run as if it were its own. Failed and cancelled
    runs are never attached to. `fresh=True` always queues a new run.

    Refused with InputError over this server's limits: steps per run, runs waiting in all,
    and (with `session`, the browser session asking) runs one session may have waiting or
    training at once.
    """
    root = runs_root(root or config.runs_dir)
    limits = limits or load_limits(root)
    check_steps(config.steps, limits)
    digest = config_hash(config)
    with queue_lock(root):
        rows = [(run, s) for run, s in statuses(root) if not stalled(s)]
        if not fresh and (same := same_settings(rows, digest)) is not None:
            same.attached = True
            return same
        active = [s for _, s in rows if s["state"] in ("queued", "running")]
        if session and sum(s.get("session") == session for s in active) >= \
                limits.max_queued_per_session:
            raise InputError(f"you already have {limits.max_queued_per_session} runs waiting or "
                             "training, this server's limit per session "
                             f"({env_name('max_queued_per_session')}): wait for one to finish "
                             "or cancel one")
        if sum(waiting(s) for s in active) >= limits.max_waiting:
            raise InputError(f"{limits.max_waiting} runs are already waiting, this server's limit "
                             f"({env_name('max_waiting')}): try again when some have started")
        run = Run.create(root, config.to_dict(), name=config.name, config_hash=digest,
                         **({"session": session} if session else {}))
        _pump(root, limits)
    return run


def same_settings(rows, digest: str) -> Run | None:
    """Of `rows` ((run, status), oldest first, none stalled), the run a Start with settings
    `digest` is shown instead of a new one: the newest done, else the one training, else the
    first waiting; None when no run has those settings or all that do failed or were
    cancelled."""
    matches = [(run, s) for run, s in rows if s.get("config_hash") == digest]
    for state in ATTACHABLE:
        found = [run for run, s in matches if s["state"] == state]
        if found:
            return found[-1] if state == "done" else found[0]
    return None


def pump(root=None, limits: Limits | None = None) -> list[str]:
    """Mark dead runs failed, then start waiting runs while slots are free; the started ids.

    A first look without the lock returns at once when there is nothing to do (no dead run,
    and no waiting run or no free slot): every page poll calls this, and most find the queue
    as it was.
    """
    root = runs_root(root)
    limits = limits or load_limits(root)
    rows = statuses(root)
    if not any(stalled(s) for _, s in rows) and (
            not any(waiting(s) for _, s in rows) or _busy(rows) >= limits.max_concurrent):
        return []
    with queue_lock(root):
        return _pump(root, limits)


def _busy(rows) -> int:
    """How many training processes hold a slot: those of runs training, or started and not
    yet training. One process counts once (a sweep trains its queued cells one by one)."""
    return len({s.get("pid") or run.id for run, s in rows
                if s["state"] == "running" or (s["state"] == "queued" and s.get("pid"))})


def _pump(root: Path, limits: Limits) -> list[str]:
    mark_orphans(root)
    rows = statuses(root)
    busy = _busy(rows)
    started = []
    for run, status in rows:
        if busy >= limits.max_concurrent:
            break
        if waiting(status):
            _start(run, root, limits)
            started.append(run.id)
            busy += 1
    return started


def pump_after_run(root) -> None:
    """`pump` for a training process that has just finished: a problem is one line on stderr,
    never an exception (the run's own result stands; the next page load pumps again)."""
    try:
        pump(root)
    except Exception as err:  # noqa: BLE001 - e.g. a broken classroom.toml, a full disk
        print(f"could not start the next queued run: {err}", file=sys.stderr)


def queue_position(run_id: str, root=None) -> int | None:
    """1 for the next run to start, 2 for the one after, ...; None if the run is not waiting."""
    ids = [run.id for run, status in statuses(runs_root(root)) if waiting(status)]
    return ids.index(run_id) + 1 if run_id in ids else None


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue_line(run_id: str, root=None) -> str | None:
    """'queued, 3rd in line (at most 2 runs train at once)'; None if the run is not waiting."""
    position = queue_position(run_id, root)
    if position is None:
        return None
    try:
        most = load_limits(root).max_concurrent
    except InputError:  # a broken limits file: the page says so once, at its top
        most = Limits().max_concurrent
    return (f"queued, {ordinal(position)} in line (at most {most} "
            f"{'runs train' if most > 1 else 'run trains'} at once)")


# ---------------------------------------------------------------------------------------------
# Stopping


def cancel(run_id: str, root=None, *, session: str | None = None) -> bool:
    """Ask a queued or running run to stop. True if it was waiting (now cancelled) or a live
    process was signalled.

    With `session` (the browser session asking), a run another session started is refused
    with InputError: sessions attached to it by `launch` are watching it too.
    """
    run = load_run(run_id, root)
    status = run.status()
    if session and status.get("session") not in (None, session):
        raise InputError("this run was started by another session and others are waiting "
                         "for it too: only the session that started it can cancel it")
    if waiting(status):
        with queue_lock(run.root):
            if waiting(run.status()):  # not started since
                run.set_status("cancelled", error="cancelled before it started")
                return True
        status = run.status()
    if status.get("state") not in ("queued", "running"):
        return False
    pid = status.get("pid")
    if not pid_alive(pid):
        return False
    (run.path / CANCEL_MARK).write_text(str(pid))  # if it dies before answering: cancelled
    os.kill(int(pid), signal.SIGTERM)
    return True


def mark_orphans(root=None) -> list[str]:
    """Mark runs that say queued/running but whose process is gone (killed, crashed, machine
    restarted) as failed, with the reason; their logged metrics stay. A run whose process was
    asked to stop and died before it could say so is marked cancelled. Returns their ids."""
    marked = []
    for run, status in statuses(runs_root(root)):
        if stalled(status) and _cancel_asked(run, status["pid"]):
            run.set_status("cancelled", error="cancelled while its process was starting")
            marked.append(run.id)
        elif stalled(status):
            run.set_status("failed", error=f"the training process (pid {status['pid']}) ended "
                           "without finishing: it was killed or crashed; metrics logged until "
                           "then are kept")
            marked.append(run.id)
    return marked


def _cancel_asked(run: Run, pid) -> bool:
    try:
        return (run.path / CANCEL_MARK).read_text().strip() == str(pid)
    except OSError:
        return False
