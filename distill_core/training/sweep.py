"""α × T sweeps: one run per grid cell, all trained on one loaded teacher and one teacher cache.

    sweep_id, cells = run_sweep(DistillConfig(steps=100), [0, 0.5, 0.9], [1, 2, 4])

A sweep is a plan file and ordinary runs:

    <runs root>/_sweeps/<sweep id>.json   {"id", "created", "base", "alphas", "temperatures",
                                           "cells": [{"alpha", "temperature", "run_id"}], "pid"}

`plan` creates every cell's run as queued, its status naming the sweep; `execute` trains them
side by side in this process (training/side_by_side.py: the teacher, tokenizer and data are
loaded once, the teacher's outputs computed once into the cache and read once per batch for
all the cells; a cancelled cell stops alone). The app queues a planned
sweep as one entry of the run queue (distill_core.app.launch.launch_sweep, jobs.enqueue) and
`jobs.pump` starts one `distill sweep --sweep-id` process for it when a slot is free; that
process holds the slot for all its cells. `cells` reads each cell's state and final numbers
back from the run store.
"""

from __future__ import annotations

import json
import math
import os
import secrets

from distill_core import metrics
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.files import atomic_write_json
from distill_core.store import jobs
from distill_core.store.groups import partition
from distill_core.store.limits import load_limits
from distill_core.store.processes import IDENTITY_KEYS, identity, same_process
from distill_core.store.runs import (FINISHED_STATES, Run, load_run, now, runs_root,
                                    validate_run_id)

MAX_CELLS = 64

__all__ = ["MAX_CELLS", "cells", "execute", "list_sweeps", "log_path", "parse_values", "plan",
           "run_sweep", "sweep_table"]


def parse_values(text: str, name: str) -> list[float]:
    """'0,0.5,1' -> [0.0, 0.5, 1.0], with one clear line for anything else."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"--{name} takes numbers separated by commas, e.g. 0,0.5,1; got "
                             f"{part!r}") from None
        if not math.isfinite(value):
            raise InputError(f"--{name} values must be finite numbers, got {part!r}")
        values.append(value)
    if len(set(values)) != len(values):
        raise InputError(f"--{name} lists a value twice: {text}")
    return values


def _folder(root):
    folder = runs_root(root) / jobs.SWEEPS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _plan_path(sweep_id: str, root):
    return _folder(root) / f"{validate_run_id(sweep_id)}.json"


def _read_plan(sweep_id: str, root) -> dict:
    path = _plan_path(sweep_id, root)
    if not path.exists():
        raise InputError(f"no sweep '{sweep_id}' under {runs_root(root)}")
    try:
        info = json.loads(path.read_text())
        info["cells"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"sweep file {path} is damaged; delete it and start the sweep again") \
            from None
    return info


def plan(base: DistillConfig, alphas, temperatures, root=None,
         queue: bool = True) -> tuple[str, list[Run]]:
    """Create the sweep's plan and one queued run per (α, T) cell; nothing trains yet.

    The cells are made owned by this process and, once the plan file is written, released to
    the queue (`queue`: waiting, as one entry that `jobs.pump` starts as one `distill sweep
    --sweep-id` process), so no page poll can start a cell as a run of its own, nor the sweep
    before its plan exists. With `queue=False` they stay this process's (`run_sweep`)."""
    alphas, temperatures = list(alphas), list(temperatures)
    if not alphas or not temperatures:
        raise InputError("a sweep needs at least one alpha and one temperature")
    if len(alphas) * len(temperatures) > MAX_CELLS:
        raise InputError(f"a sweep of {len(alphas)} x {len(temperatures)} cells is more than "
                         f"{MAX_CELLS}; use fewer values")
    root = runs_root(root or base.runs_dir)
    base = base.replace(teacher_cache=True, runs_dir=str(root))
    configs = [base.replace(alpha=a, temperature=t, name=None)
               for a in alphas for t in temperatures]  # each cell validated before any is made
    sweep_id = f"sweep-{now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    runs, me = [], identity()
    for config in configs:
        name = f"{base.name or 'sweep'}-a{config.alpha:g}-T{config.temperature:g}"
        runs.append(Run.create(root, config.replace(name=name).to_dict(), name=name,
                               sweep=sweep_id, **me))
    atomic_write_json(_plan_path(sweep_id, root), {
        "id": sweep_id, "created": now().isoformat(timespec="seconds"),
        "base": base.to_dict(), "alphas": alphas, "temperatures": temperatures,
        "cells": [{"alpha": c.alpha, "temperature": c.temperature, "run_id": r.id}
                  for c, r in zip(configs, runs)], "pid": None})
    if queue:
        for run in runs:
            jobs.change_status(run, "queued", _owned_by(me), **dict.fromkeys(IDENTITY_KEYS))
    return sweep_id, runs


def _owned_by(me: dict):
    """A status test: queued and recorded as process `me`'s."""
    return lambda status: status.get("state") == "queued" and same_process(status, me)


def _take(cells_info, root, me: dict) -> list[Run]:
    """The cells this process is to train: queued and waiting, left by a dead process, or
    already its own (`jobs.pump` started it for them); each recorded as `me`'s."""
    def free(status: dict) -> bool:
        return status.get("state") == "queued" and (
            not status.get("pid") or same_process(status, me) or jobs.stalled(status))

    runs = [load_run(cell["run_id"], root) for cell in cells_info]
    return [run for run in runs if jobs.change_status(run, "queued", free, **me)]


def execute(sweep_id: str, root=None, on_event=None, prepared=None) -> list[dict]:
    """Train the sweep's queued cells in this process, side by side (side_by_side.py: one
    teacher forward per batch for all; at most the server's max_together at once, groups in
    turn); returns `cells`. `prepared` (loop.prepare) hands over a teacher and data already
    loaded; the cells share it, and with it the teacher cache and the speed figures."""
    from distill_core.training.loop import Cancelled, prepare
    from distill_core.training.side_by_side import train_together

    root = runs_root(root)
    info = _read_plan(sweep_id, root)
    info["pid"] = os.getpid()
    atomic_write_json(_plan_path(sweep_id, root), info)
    me = identity()
    mine = _take(info["cells"], root, me)
    runs = [run for run in mine if run.status().get("state") == "queued"]  # not cancelled
    configs = [DistillConfig.from_dict(run.config()) for run in runs]
    for group in partition(configs, load_limits(root).max_together):
        try:
            prepared = prepare(configs[group[0]], prepared)
            outcomes = train_together([configs[i] for i in group], [runs[i] for i in group],
                                      on_event, prepared)
        except Cancelled:  # the whole sweep was asked to stop
            for rest in mine:
                jobs.change_status(rest, "cancelled", _owned_by(me))
            break
        except InputError:
            raise  # the same bad setting would fail every cell
        except Exception:  # noqa: BLE001 — its runs are marked failed; go on with the next
            continue
        bad = [o for o in outcomes if isinstance(o, InputError) and not isinstance(o, jobs.Taken)]
        if bad and len(bad) == len(group):
            raise bad[0]  # the same bad setting would fail every cell
    return cells(sweep_id, root)


def run_sweep(base: DistillConfig, alphas, temperatures, root=None, on_event=None,
              prepared=None):
    """plan + execute: (sweep id, cells)."""
    sweep_id, _ = plan(base, alphas, temperatures, root, queue=False)
    return sweep_id, execute(sweep_id, root or base.runs_dir, on_event, prepared)


def log_path(sweep_id: str, root=None):
    """Where the process training a sweep in the background writes its output."""
    return jobs.sweep_log(validate_run_id(sweep_id), root)


def cells(sweep_id: str, root=None) -> list[dict]:
    """Each cell's α, T, run id, state and, once done, its final numbers: the metrics table's
    "sweep" view (student perplexity, agreement) and the teacher's perplexity for reference."""
    rows = []
    for cell in _read_plan(sweep_id, root)["cells"]:
        run = Run(runs_root(root), cell["run_id"])
        state = run.status().get("state") if run.exists() else "deleted"
        summary = (run.summary() or {}) if state == "done" else {}
        rows.append({**cell, "state": state,
                     **{k: summary.get(k) for k in (*metrics.keys("sweep"), "teacher_ppl")}})
    return rows


def list_sweeps(root=None) -> list[str]:
    """Sweep ids, newest first."""
    return sorted((p.stem for p in _folder(root).glob("*.json")), reverse=True)


def finished(rows: list[dict]) -> bool:
    return all(r["state"] in (*FINISHED_STATES, "deleted") for r in rows)


def sweep_table(rows: list[dict]) -> tuple[list[list], list[str]]:
    """Rows and header of the CLI's table: one line per cell, a column per "sweep" metric."""
    shown = metrics.shown("sweep")
    return ([[f"{r['alpha']:g}", f"{r['temperature']:g}", *(m.cell(r.get(m.key)) for m in shown),
              r["state"], r["run_id"]] for r in rows],
            ["alpha", "T", *(m.heading for m in shown), "state", "run"])
