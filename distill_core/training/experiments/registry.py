"""The experiments by name: each one's claim, and how it plans its runs, tables its records and
words its finding. The one list of names and claims; the CLI's choices and the page read it.

    get("temperature").claim       summarize("temperature", data) -> header, rows, finding
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from distill_core.errors import InputError
from distill_core.training.experiments import capacity, limits, soft_labels, temperature, tuning

__all__ = ["EXPERIMENTS", "NAMES", "Experiment", "get", "summarize"]


@dataclass(frozen=True)
class Experiment:
    name: str
    claim: str  # what the runs put to the test, in one or two sentences
    plan: Callable  # (base DistillConfig, Size, progress) -> data {"records": [...], ...}
    table: Callable  # data -> (header, rows)
    finding: Callable  # data -> one sentence

    @classmethod
    def of(cls, name: str, claim: str, module: ModuleType) -> "Experiment":
        """The experiment whose plan, table and finding are those of `module`."""
        return cls(name, claim, module.plan, module.table, module.finding)


EXPERIMENTS = {e.name: e for e in (
    Experiment.of("soft-labels", "Soft labels help most when data is scarce: against the same "
                  "student trained without a teacher on the same batches, distillation closes "
                  "more of the gap to the teacher with fewer training stories.", soft_labels),
    Experiment.of("temperature", "Temperature matters: softening the teacher (T > 1) shows the "
                  "student which wrong answers are plausible, until the soft labels grow too "
                  "flat to teach.", temperature),
    Experiment.of("capacity", "A student can only hold what its size allows, and learns more "
                  "from a better teacher.", capacity),
    Experiment.of("tuning", "α and T interact: the best mix of soft and hard labels depends on "
                  "the temperature, and is found by searching the grid.", tuning),
    Experiment.of("limits", "Distillation trades quality for speed and size, and it cannot make "
                  "a student better than its teacher's knowledge: an imperfect teacher limits "
                  "it.", limits),
)}
NAMES = tuple(EXPERIMENTS)


def get(name: str) -> Experiment:
    """The experiment called `name`; InputError naming the experiments there are otherwise."""
    if name not in EXPERIMENTS:
        raise InputError(f"no experiment named {name!r}; choose one of: {', '.join(NAMES)}")
    return EXPERIMENTS[name]


def summarize(name: str, data: dict) -> dict:
    """The table and the finding of an experiment's data (pure: the same numbers give the same
    sentence, other numbers another)."""
    experiment = get(name)
    header, rows = experiment.table(data)
    return {"header": header, "rows": [[str(c) for c in row] for row in rows],
            "finding": experiment.finding(data)}
