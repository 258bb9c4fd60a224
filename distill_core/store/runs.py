"""The on-disk run store. A run IS its directory under the runs root:

    <root>/<run id>/
        config.json     the DistillConfig the run was started with
        status.json     {"state", "created", "started", "finished", "updated", "error", "pid",
                        "pid_started", "boot_id", "sweep", "config_hash"}
        metrics.jsonl   one JSON object per logged step, appended as training goes
        summary.json    final metrics, written once at the end (named in distill_core/metrics.py)
        student/        the distilled student (and baseline/, checkpoint/)

The app and the CLI keep no state of their own: everything they show is read from here.

Which settings a run has: `config_hash(config)` (settings_hash.py) is a fingerprint of
everything that decides a run's numbers (the validated config without `name` and `runs_dir`,
the package version, the bytes of local model and data files it names, the cached commit of
a hub model). `Run.create` records it in status.json, which the queue
reads anyway, so finding a run with the same settings is one small read per run (jobs.launch
attaches a Start to such a run instead of training the same numbers again). Runs are
deterministic: the same hash means the same numbers, as long as the code is the same.

Crash safety: JSON files are written to a temp file in the same folder, fsynced and then
renamed over the target (os.replace), so a reader sees the old file or the new one, never
half of one. Metric lines are appended and fsynced one at a time, so a run killed at any
instant keeps every line logged before; a torn last line is skipped when reading. A metric
line the disk has no room for is taken back (the file is cut to its old length) and
DiskFullError is raised, so the lines before stay intact and the run fails with that reason;
with no room left for a new status file, the status is written over the old one in place.
NaN and ±inf are stored as null, so every file is strict JSON.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

from distill_core import metrics
from distill_core.errors import InputError
from distill_core.files import atomic_write_json, atomic_write_text, json_safe, overwrite
from distill_core.store.settings_hash import config_hash

RUNS_DIR_ENV = "DISTILL_RUNS_DIR"
STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = ("done", "failed", "cancelled")
LIST_CONFIG_FIELDS = ("teacher", "student", "dataset", "alpha", "temperature", "steps")
COMPARE_CONFIG_FIELDS = ("student", "teacher", "alpha", "temperature", "loss")

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

__all__ = ["RUNS_DIR_ENV", "STATES", "DiskFullError", "Run",
           "atomic_write_json", "atomic_write_text", "compare", "config_hash", "delete_run",
           "list_runs", "load_run", "new_run_id", "now", "read_json", "run_folders", "runs_root",
           "validate_run_id"]

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # no space, over quota, over size limit


class DiskFullError(OSError):
    """A run file could not be written because the disk (or a quota or size limit) is full."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# ---------------------------------------------------------------- roots, ids, time


def runs_root(path=None, create: bool = True) -> Path:
    """The runs root: `path` if given, else $DISTILL_RUNS_DIR, else ./runs. Created if missing
    (unless `create` is False)."""
    root = Path(path or os.environ.get(RUNS_DIR_ENV) or "runs").expanduser()
    if not create:
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"runs root '{root}' is not a folder; choose another one") from None
    return root


def validate_run_id(run_id: str) -> str:
    """Return `run_id` if it is a plain folder name (so it can never point outside the root)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InputError(f"run id {run_id!r} is not valid: it must start with a letter or digit, "
                         "be at most 128 characters and may contain only letters, digits, "
                         "'.', '_' and '-'")
    return run_id


def now() -> datetime:
    """The time now, in UTC: what every time a run records is stamped with."""
    return datetime.now(timezone.utc)


def _timestamp() -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.123+00:00 (sorts as text)."""
    return now().isoformat(timespec="milliseconds")


def _slug(name: str) -> str:
    """`name` reduced to characters a run id may hold ('my run!' -> 'my-run')."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    slug = re.sub(r"\.{2,}", ".", slug)
    return slug.strip("-._")[:100]


def new_run_id(name: str | None = None, root=None) -> str:
    """YYYYMMDD-HHMMSS-<name or 6 random hex chars>, UTC.

    With `root`, a suffix -2, -3, ... is added while that id is already taken there, so two
    runs created in the same second with the same name still get different ids.
    """
    base = f"{now():%Y%m%d-%H%M%S}-{_slug(name or '') or secrets.token_hex(3)}"
    run_id, n = base, 1
    while root is not None and (Path(root) / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return validate_run_id(run_id)


# ---------------------------------------------------------------- atomic files


def read_json(path: Path, missing=None):
    """The JSON object in `path`, or `missing` if there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return missing
    try:
        data = json.loads(raw)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path} is not valid JSON ({err}); fix or delete that file") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} does not hold a JSON object; fix or delete that file")
    return data


# ---------------------------------------------------------------- one run


class Run:
    """One run: a folder `root/id` holding config, status, metrics, summary and models.

    `attached` is True on a Run that jobs.launch returned without queueing anything: an
    earlier run with the same settings (done, waiting or training) that this Start now shows.
    """

    attached = False

    def __init__(self, root, run_id: str):
        self.root = Path(root)
        self.id = validate_run_id(run_id)
        self.path = self.root / self.id
        self.skipped_metric_lines = 0  # unparsable lines skipped by the last metrics()

    @classmethod
    def create(cls, root, config: dict, name: str | None = None, **status) -> Run:
        """Make a new run folder with its config and a "queued" status (plus `status` keys).

        The status records `config_hash(config)` (unless given): a config that is not valid
        (some tests store partial ones) records none, and nothing is ever attached to it.
        """
        if "config_hash" not in status:
            try:
                status["config_hash"] = config_hash(config, root)
            except (InputError, OSError):
                pass
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            run = cls(root, new_run_id(name, root))
            try:
                run.path.mkdir()
                break
            except FileExistsError:  # another process took this id since new_run_id looked
                continue
        atomic_write_json(run.config_path, config)
        run.set_status("queued", **status)
        return run

    # paths

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def student_dir(self) -> Path:
        return self.path / "student"

    @property
    def baseline_dir(self) -> Path:
        return self.path / "baseline"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"

    def exists(self) -> bool:
        return self.path.is_dir() and (self.status_path.exists() or self.config_path.exists())

    # status and config

    def status(self) -> dict:
        return read_json(self.status_path, missing={})

    def config(self) -> dict:
        return read_json(self.config_path, missing={})

    def set_status(self, state: str, **extra) -> dict:
        """Record `state` (keeping other keys) with timestamps; returns the new status.

        created: first status written; started: first time "running"; finished: each time
        done/failed/cancelled; updated: always. Back to queued/running drops finished and error.
        Pass error="..." with "failed" and pid=os.getpid() with "running".
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        try:
            status = self.status()
        except InputError:  # a corrupt status file is replaced, not fatal to the run
            status = {}
        now = _timestamp()
        if state not in FINISHED_STATES:
            status.pop("finished", None)
            status.pop("error", None)
        status.update(extra)
        status["state"] = state
        status.setdefault("created", now)
        if state == "running":
            status.setdefault("started", now)
        if state in FINISHED_STATES:
            status["finished"] = now
        status["updated"] = now
        text = json.dumps(json_safe(status), indent=1, allow_nan=False) + "\n"
        try:
            atomic_write_text(self.status_path, text)
        except OSError as err:  # a full disk has no room for the new file beside the old one
            if err.errno not in _DISK_FULL or not self.status_path.exists():
                raise
            overwrite(self.status_path, text.encode("utf-8"))  # so reuse the old one's room
        return status

    # metrics

    def log_metrics(self, record: dict) -> None:
        """Append `record` to metrics.jsonl (see `append_json_line`)."""
        append_json_line(self.metrics_path, record, "metrics")

    def metrics(self) -> list[dict]:
        """All logged records in order; unparsable (torn) lines are skipped and counted."""
        records, skipped = read_json_lines(self.metrics_path)
        self.skipped_metric_lines = skipped
        return records

    def truncate_metrics(self, last_step: int) -> None:
        """Keep only the records up to `last_step` (a resumed run redoes the later ones)."""
        kept = [r for r in self.metrics() if r.get("step", 0) <= last_step]
        atomic_write_text(self.metrics_path, "".join(
            json.dumps(json_safe(r), separators=(",", ":"), allow_nan=False) + "\n" for r in kept))

    # summary

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.summary_path, summary)

    def summary(self) -> dict | None:
        return read_json(self.summary_path, missing=None)

    def __repr__(self) -> str:
        return f"Run(root={str(self.root)!r}, id={self.id!r})"


def append_json_line(path, record: dict, what: str = "metrics") -> None:
    """Append `record` as one JSON line and fsync it, so a kill cannot lose it.

    Raises DiskFullError when the disk has no room for the line; the file is then cut back
    to its length before, so every earlier line stays whole.
    """
    data = (json.dumps(json_safe(record), separators=(",", ":"), allow_nan=False)
            + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a kill mid-line: end that line
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:  # unbuffered: a short write is seen, and nothing is retried later
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as err:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            if err.errno in _DISK_FULL:
                raise DiskFullError(err.errno, f"disk full while writing {what} to {path} "
                                    f"({os.strerror(err.errno)}); the lines logged before are "
                                    "kept: free some space and start the run again") from None
            raise
    finally:
        os.close(fd)


def read_json_lines(path) -> tuple[list[dict], int]:
    """(the JSON objects of a file written by `append_json_line`, in order; how many non-blank
    lines were skipped as unparsable or not objects, e.g. a line torn by a kill). A missing
    file is empty."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    records, skipped = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            skipped += 1
    return records, skipped


# ---------------------------------------------------------------- the store


def load_run(run_id: str, root=None) -> Run:
    """The existing run `run_id` under the runs root."""
    root = runs_root(root)
    run = Run(root, run_id)
    if not run.exists():
        raise InputError(f"no run '{run_id}' in {root}; `distill runs` lists them")
    return run


def _list_row(run: Run) -> dict:
    """One `list_runs` row; any corrupt file makes the state "unreadable"."""
    row = {"id": run.id, "state": None, "created": None, "finished": None}
    row.update(dict.fromkeys(LIST_CONFIG_FIELDS + metrics.keys("list")))
    try:
        status, config, summary = run.status(), run.config(), run.summary() or {}
    except (InputError, OSError):
        row["state"] = "unreadable"
        return row
    row["state"] = status.get("state", "unknown")
    row["created"] = status.get("created")
    row["finished"] = status.get("finished")
    row.update({k: config.get(k) for k in LIST_CONFIG_FIELDS})
    row.update({k: summary.get(k) for k in metrics.keys("list")})
    return row


def run_folders(root) -> list[Run]:
    """Every run under an existing root, in no particular order (other folders are ignored)."""
    runs = []
    for child in Path(root).iterdir():
        if not _RUN_ID.fullmatch(child.name) or ".." in child.name or not child.is_dir():
            continue
        run = Run(root, child.name)
        if run.exists():
            runs.append(run)
    return runs


def list_runs(root=None) -> list[dict]:
    """A row per run under the root, newest first (folders that are not runs are ignored)."""
    rows = [_list_row(run) for run in run_folders(runs_root(root))]
    rows.sort(key=lambda r: (r["created"] or "", r["id"]), reverse=True)
    return rows


def delete_run(run_id: str, root=None) -> None:
    """Delete a run's folder; refused while it is running or if it lies outside the root."""
    run = load_run(run_id, root)
    if run.status().get("state") == "running":
        raise InputError(f"run {run.id} is running; stop it before deleting it (if its process "
                         f"is gone, delete {run.path} by hand)")
    target, root_dir = run.path.resolve(), run.root.resolve()
    if target.parent != root_dir or run.path.is_symlink():
        raise InputError(f"run {run.id} points outside {root_dir}; not deleting it")
    shutil.rmtree(target)


def compare(run_ids, root=None) -> list[dict]:
    """Final metrics of each run, one row per run, for a side-by-side table."""
    rows = []
    for run_id in run_ids:
        run = load_run(run_id, root)
        config, summary = run.config(), run.summary() or {}
        row = {"id": run.id}
        row.update({k: config.get(k) for k in COMPARE_CONFIG_FIELDS})
        row.update({k: summary.get(k) for k in metrics.keys("compare")})
        rows.append(row)
    return rows
