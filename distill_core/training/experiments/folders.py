"""Result folders, <runs root>/_experiments/<name>-<UTC timestamp>/:

    status.json    {"state": "queued" | "running" | "done" | "failed", "pid", "error"}
    result.json    name, size, claim, header, rows, finding, data (the records and what else
                   the table, finding and figure read), wall_seconds, created, machine, folder
    table.csv      the printed table
    finding.txt    the one sentence
    log.txt        a background run's progress (app.launch)
    figure.html    (and figure.png) drawn by distill_core.app.experiment_figures

The folder is not a run id, so the run list never shows it.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from distill_core.errors import InputError
from distill_core.files import atomic_write_json, atomic_write_text
from distill_core.store.jobs import stalled
from distill_core.store.runs import now, read_json, runs_root
from distill_core.training.experiments.registry import get

__all__ = ["FOLDER", "last_line", "list_results", "load_result", "new_folder", "readable_json",
           "write_result", "write_status"]

FOLDER = "_experiments"  # under the runs root
STAMP = re.compile(r"\d{8}-\d{6}")


def new_folder(name: str, root=None) -> Path:
    """A fresh result folder <runs root>/_experiments/<name>-<UTC timestamp> (not created)."""
    get(name)
    base = runs_root(root) / FOLDER
    stamp = f"{now():%Y%m%d-%H%M%S}"
    folder, n = base / f"{name}-{stamp}", 1
    while folder.exists():
        n += 1
        folder = base / f"{name}-{stamp}-{n}"
    return folder


def write_status(folder: Path, state: str, **extra) -> None:
    """status.json: `state` and this process's pid (unless `extra` gives another)."""
    atomic_write_json(Path(folder) / "status.json", {"state": state, "pid": os.getpid(),
                                                     **extra})


def write_result(folder: Path, result: dict) -> None:
    """result.json, table.csv and finding.txt of a finished experiment."""
    atomic_write_json(folder / "result.json", result)
    lines = io.StringIO()
    csv.writer(lines).writerows([result["header"], *result["rows"]])
    atomic_write_text(folder / "table.csv", lines.getvalue())
    atomic_write_text(folder / "finding.txt", result["finding"] + "\n")


def readable_json(path: Path) -> dict | None:
    """The JSON object in `path`; None where it is missing or unreadable (a folder half
    written by a process that died, or edited by hand, reads as not there)."""
    try:
        return read_json(path)
    except (InputError, OSError):
        return None


def last_line(path: Path) -> str:
    """The last line of a text file ('' if none)."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def load_result(folder) -> dict:
    """{"folder", "name", "status": status.json, "result": result.json once done, else None,
    "last_line": the last line of its log.txt (the progress of a background run)}. A folder
    still marked queued or running whose process is gone reads as failed."""
    folder = Path(folder)
    status = readable_json(folder / "status.json") or {"state": "unknown"}
    if stalled(status):
        status = {**status, "state": "failed", "error": "its process stopped (see log.txt)"}
    done = status.get("state") == "done"
    return {"folder": str(folder), "name": folder.name, "status": status,
            "result": readable_json(folder / "result.json") if done else None,
            "last_line": last_line(folder / "log.txt")}


def list_results(root=None, name: str | None = None) -> list[Path]:
    """Result folders under the runs root (of experiment `name`, or all), newest first."""
    base = runs_root(root) / FOLDER
    if not base.is_dir():
        return []
    folders = [p for p in base.iterdir() if p.is_dir() and STAMP.search(p.name)
               and (name is None or p.name.startswith(name + "-"))]
    return sorted(folders, key=lambda p: (STAMP.search(p.name).group(0), p.name), reverse=True)
