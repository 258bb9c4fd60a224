"""Running one experiment from start to finish: plan and train its runs, sum them up, and keep
the result folder's status true throughout (running, then done or failed)."""

from __future__ import annotations

import time
from pathlib import Path

from distill_core.config import DistillConfig
from distill_core.machine import describe_machine
from distill_core.store.runs import now, runs_root
from distill_core.training.experiments.folders import new_folder, write_result, write_status
from distill_core.training.experiments.records import quiet
from distill_core.training.experiments.registry import get, summarize
from distill_core.training.experiments.sizes import SIZES, Size

__all__ = ["run"]


def run(name: str, size: Size = SIZES["default"], out=None, root=None,
        base: DistillConfig | None = None, progress=quiet) -> dict:
    """Plan, train and sum up experiment `name` at `size`; write its folder (`out`, else a new
    one under the runs root) and return the result (see folders.py)."""
    experiment = get(name)
    root = runs_root(root or (base.runs_dir if base else None))
    folder = Path(out) if out else new_folder(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    write_status(folder, "running")
    started = time.time()
    try:
        base = (base or DistillConfig()).replace(runs_dir=str(root), **size.config)
        data = experiment.plan(base, size, progress)
        result = {"name": name, "size": size.name, "claim": experiment.claim,
                  **summarize(name, data), "data": data, "wall_seconds": time.time() - started,
                  "created": now().isoformat(timespec="seconds"),
                  "machine": describe_machine(), "folder": str(folder)}
        write_result(folder, result)
    except BaseException as err:
        write_status(folder, "failed", error=str(err).splitlines()[0] if str(err)
                     else type(err).__name__)
        raise
    write_status(folder, "done")
    return result
