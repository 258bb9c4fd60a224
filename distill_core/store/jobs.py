"""Runs in the background, through one queue shared by every browser session and server process.

The app never trains in its script thread. `launch` writes the run directory with the state
"queued" and returns at once; `pump` starts waiting runs, oldest first, while fewer than
`max_concurrent` (limits.py) are training. Each run trains in its own process, `distill run
--run-id ID`, in a new process session, so closing the tab, restarting the app or another run
crashing does not stop it. Everything the app shows is then read from the run directory.

The queue is the runs root itself: a run is waiting while its status is "queued" with no pid,
starting while "queued" with a pid, training while "running". A sweep's cells wait as one
entry of the line (their status names the sweep): `pump` starts one `distill sweep --sweep-id`
process for them, which holds one slot while it trains them in turn; a sweep started in the
foreground (`distill sweep --alpha ...`) creates its cells already owned by its own process.
When a slot frees, the waiting runs that may train with the first in line (groups.gather:
same teacher, data and batches; at most `max_together`) start as one `distill run
--side-by-side` process, which trains them together (training/side_by_side.py).

A process is recorded by pid, start time and boot id (processes.py): a run whose stored
process is not that very process any more is not alive, and `cancel` signals only it.

Every status change another process may race is a compare-and-set under the runs root's
queue lock (`queue_lock`, an exclusive flock on `<root>/.queue.lock`, re-entrant within a
thread): `pump` and `launch` count and start under it, so several server processes sharing one
runs root never start more than the limit; the training process's own "running" write is
`claim`, which refuses (Taken) a run that another live process owns, or that was cancelled or
finished in the meantime. `pump` runs on every Distill page load, on each poll of a waiting
run's page and at the end of every training process (cli.py), and first marks runs whose
process has died as failed (`mark_orphans`), which frees their slots; a first look without the
lock skips it when there is nothing to do.

A Start never trains the same numbers twice: runs are deterministic, so when a run with the
same settings (settings_hash.config_hash, kept in each status) is done, waiting or training,
`launch` returns that run (`run.attached`) instead of queueing another. Thirty students
pressing the same preset share one run and wait for one run, not thirty; `fresh=True` forces
a new one.

`cancel` marks a run that is not training yet cancelled (a process started for it then finds
it so and stops), or sends SIGTERM to the process training it (the loop stops at the next step
and keeps the student); for a run trained side by side it only leaves the mark its process
reads before each step, so the others go on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.locks import exclusive_lock
from distill_core.policy import Limits, check_steps, env_name
from distill_core.store.groups import gather
from distill_core.store.limits import load_limits
from distill_core.store.processes import identity, is_alive, pid_alive, same_process, send_signal
from distill_core.store.runs import Run, config_hash, load_run, now, run_folders, runs_root

LOCK_NAME = ".queue.lock"
SWEEPS_FOLDER = "_sweeps"  # <root>/_sweeps/<sweep id>.json and .log (training.sweep)
CANCEL_MARK = "cancel-asked"  # in a run folder: the pid that SIGTERM was sent to
ATTACHABLE = ("done", "running", "queued")  # states a Start may attach to, the best first

__all__ = ["ATTACHABLE", "CANCEL_MARK", "LOCK_NAME", "SWEEPS_FOLDER", "Taken", "cancel",
           "cancel_asked", "change_status", "claim", "enqueue", "launch", "mark_orphans", "ordinal",
           "pid_alive", "pump", "pump_after_run", "queue_line", "queue_lock", "queue_position",
           "same_settings", "side_by_side_command", "spawn", "stalled", "statuses",
           "sweep_command", "sweep_log", "training_command", "training_env", "waiting"]


class Taken(InputError):
    """A process asked to train a run that is not its to train (see `claim`)."""


# ---------------------------------------------------------------------------------------------
# Processes


def stalled(status: dict) -> bool:
    """True when a run says queued/running but the process that wrote that is gone."""
    return (status.get("state") in ("queued", "running") and bool(status.get("pid"))
            and not is_alive(status))


def waiting(status: dict) -> bool:
    """True for a run in the queue that no process has picked up yet."""
    return status.get("state") == "queued" and not status.get("pid")


def training_command(run: Run, root: Path) -> list[str]:
    """The command that trains a queued run: the CLI, filling that run's folder."""
    return [sys.executable, "-m", "distill_core.cli", "run", "--config", str(run.config_path),
            "--run-id", run.id, "--runs-dir", str(root), "--quiet"]


def side_by_side_command(runs: list[Run], root: Path) -> list[str]:
    """The command that trains several queued runs side by side in one process."""
    return [sys.executable, "-m", "distill_core.cli", "run", "--side-by-side",
            ",".join(run.id for run in runs), "--runs-dir", str(root), "--quiet"]


def sweep_command(sweep_id: str, root: Path) -> list[str]:
    """The command that trains a planned sweep's waiting cells, one after another."""
    return [sys.executable, "-m", "distill_core.cli", "sweep", "--sweep-id", sweep_id,
            "--runs-dir", str(root), "--quiet"]


def sweep_log(sweep_id: str, root) -> Path:
    """Where the process training sweep `sweep_id` writes its output."""
    folder = runs_root(root) / SWEEPS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{sweep_id}.log"


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


# ---------------------------------------------------------------------------------------------
# The lock and compare-and-set

_held = threading.local()  # the runs roots whose queue lock this thread holds


@contextlib.contextmanager
def queue_lock(root):
    """Hold the runs root's queue lock; a thread that holds it already just goes on."""
    key = str(Path(root).resolve())
    held = _held.__dict__.setdefault("roots", set())
    if key in held:
        yield
        return
    with exclusive_lock(Path(root) / LOCK_NAME):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


def change_status(run: Run, state: str, when=None, **extra) -> dict | None:
    """Compare-and-set: under the queue lock, write `state` (and `extra`) only if `when(status)`
    holds for the run's status as it is now; the new status, or None when it did not."""
    with queue_lock(run.root):
        try:
            status = run.status()
        except InputError:
            status = {}
        if when is not None and not when(status):
            return None
        return run.set_status(state, **extra)


def claim(run: Run, resume: bool = False, group: list[str] | None = None) -> dict:
    """The training process's "running" write, as a compare-and-set: this process takes `run`
    if it is queued and owned by no live process but this one, or (with `resume`) cancelled,
    failed or left by a dead process. Raises Taken otherwise (status untouched). `group`: the
    ids of the runs it trains side by side with (recorded; `cancel` then stops it alone)."""
    me = identity()

    def ours(status: dict) -> bool:
        free = not status.get("pid") or same_process(status, me) or not is_alive(status)
        if status.get("state") == "queued" and free:
            return True
        return resume and (status.get("state") in ("cancelled", "failed") or stalled(status))

    with queue_lock(run.root):
        status = change_status(run, "running", ours, **me, group=group)
        if status is None:
            now = run.status()
            owner = f" by process {now['pid']}" if is_alive(now) else ""
            raise Taken(f"run {run.id} is {now.get('state')}{owner}; not training it here")
    return status


# ---------------------------------------------------------------------------------------------
# The queue


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


def _line(rows) -> list[list[tuple[Run, dict]]]:
    """The waiting entries in order: a run alone, or all the waiting cells of one sweep."""
    line, sweeps = [], {}
    for run, status in rows:
        if not waiting(status):
            continue
        sweep = status.get("sweep")
        if sweep is None:
            line.append([(run, status)])
        elif sweep in sweeps:
            sweeps[sweep].append((run, status))
        else:
            sweeps[sweep] = [(run, status)]
            line.append(sweeps[sweep])
    return line


def _check_room(rows, limits: Limits, session: str | None) -> None:
    """Refuse (InputError) one more entry over this server's limits: waiting entries in all,
    and runs one browser session may have waiting or training."""
    active = [s for _, s in rows if s["state"] in ("queued", "running")]
    if session and sum(s.get("session") == session for s in active) >= \
            limits.max_queued_per_session:
        raise InputError(f"you already have {limits.max_queued_per_session} runs waiting or "
                         "training, this server's limit per session "
                         f"({env_name('max_queued_per_session')}): wait for one to finish "
                         "or cancel one")
    if len(_line(rows)) >= limits.max_waiting:
        raise InputError(f"{limits.max_waiting} runs are already waiting, this server's limit "
                         f"({env_name('max_waiting')}): try again when some have started")


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
    digest = config_hash(config, root)
    with queue_lock(root):
        rows = [(run, s) for run, s in statuses(root) if not stalled(s)]
        if not fresh and (same := same_settings(rows, digest)) is not None:
            same.attached = True
            return same
        _check_room(rows, limits, session)
        run = Run.create(root, config.to_dict(), name=config.name, config_hash=digest,
                         **({"session": session} if session else {}))
        _pump(root, limits)
    return run


def enqueue(root, create, limits: Limits | None = None):
    """Under the queue lock: refuse one more waiting entry over this server's limits, then
    `create()` it (a sweep's plan: its cells, waiting) and start what fits; returns what
    `create` returned. Several server processes never see half of it."""
    root = runs_root(root)
    limits = limits or load_limits(root)
    with queue_lock(root):
        _check_room([(run, s) for run, s in statuses(root) if not stalled(s)], limits, None)
        made = create()
        _pump(root, limits)
    return made


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
    """Start waiting entries while slots are free (the queue lock held)."""
    mark_orphans(root)
    rows = statuses(root)
    busy = _busy(rows)
    started = []
    for entry in gather(_line(rows), limits.max_together):
        if busy >= limits.max_concurrent:
            break
        started += _start(entry, root, limits)
        busy += 1
    return started


def _start(entry, root: Path, limits: Limits) -> list[str]:
    """Start the process of one waiting entry (the queue lock held): `distill run --run-id`
    for a run, `distill sweep --sweep-id` for a sweep's cells, `distill run --side-by-side`
    for runs trained together (groups.gather). Each run it owns then records that process,
    compare-and-set: only if it is still waiting. Returns their ids."""
    run, status = entry[0]
    if status.get("sweep"):
        pid = spawn(sweep_command(status["sweep"], root), sweep_log(status["sweep"], root),
                    training_env(limits))
    elif len(entry) > 1:
        pid = spawn(side_by_side_command([r for r, _ in entry], root), run.path / "log.txt",
                    training_env(limits))
    else:
        pid = spawn(training_command(run, root), run.path / "log.txt", training_env(limits))
    owner = {**identity(pid), "launched": now().isoformat(timespec="milliseconds")}
    return [cell.id for cell, _ in entry if change_status(cell, "queued", waiting, **owner)]


def pump_after_run(root) -> None:
    """`pump` for a training process that has just finished: a problem is one line on stderr,
    never an exception (the run's own result stands; the next page load pumps again)."""
    try:
        pump(root)
    except Exception as err:  # noqa: BLE001 - e.g. a broken classroom.toml, a full disk
        print(f"could not start the next queued run: {err}", file=sys.stderr)


def queue_position(run_id: str, root=None) -> int | None:
    """1 for the next run (or sweep) to start, 2 for the one after, ...; None if the run is
    not waiting. A sweep's waiting cells share their sweep's place."""
    for place, entry in enumerate(_line(statuses(runs_root(root))), start=1):
        if any(run.id == run_id for run, _ in entry):
            return place
    return None


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
    """Ask a queued or running run to stop. True if it was not training yet (now cancelled:
    a process started for it finds it so and stops) or its live process was signalled.

    With `session` (the browser session asking), a run another session started is refused
    with InputError: sessions attached to it by `launch` are watching it too.
    """
    run = load_run(run_id, root)
    status = run.status()
    if session and status.get("session") not in (None, session):
        raise InputError("this run was started by another session and others are waiting "
                         "for it too: only the session that started it can cancel it")
    if change_status(run, "cancelled", lambda s: s.get("state") == "queued",
                     error="cancelled before it started"):
        return True
    status = run.status()
    if status.get("state") != "running" or not is_alive(status):
        return False
    (run.path / CANCEL_MARK).write_text(str(status["pid"]))  # if it dies before answering
    if status.get("group"):  # trained side by side: its process stops this run alone
        return True
    return send_signal(status, signal.SIGTERM)


def mark_orphans(root=None) -> list[str]:
    """Mark runs that say queued/running but whose process is gone (killed, crashed, machine
    restarted) as failed, with the reason; their logged metrics stay. A run whose process was
    asked to stop and died before it could say so is marked cancelled. Returns their ids."""
    marked = []
    for run, status in statuses(runs_root(root)):
        if not stalled(status):
            continue
        if cancel_asked(run, status["pid"]):
            done = change_status(run, "cancelled", stalled,
                                 error="cancelled while its process was starting")
        else:
            done = change_status(run, "failed", stalled, error=(
                f"the training process (pid {status['pid']}) ended without finishing: it was "
                "killed or crashed; metrics logged until then are kept"))
        if done:
            marked.append(run.id)
    return marked


def cancel_asked(run: Run, pid) -> bool:
    """True when `cancel` asked process `pid` to stop `run` (its mark in the run folder)."""
    try:
        return (run.path / CANCEL_MARK).read_text().strip() == str(pid)
    except OSError:
        return False
