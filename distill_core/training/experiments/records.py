"""An experiment's runs and the records they leave: one dict per run, its labels (what varies,
e.g. {"train_docs": 100, "seed": 0}) beside the summary numbers named in RECORD_METRICS.

    records = train_trials([Trial({"seed": 0}, config), ...], progress)
    values(records, "student_ppl", train_docs=100)       # [3.41, 3.38, 3.44]
"""

from __future__ import annotations

from dataclasses import dataclass

from distill_core import metrics
from distill_core.config import DistillConfig
from distill_core.training.experiments.labels import labels_text

__all__ = ["RECORD_METRICS", "Trial", "by_seed", "distinct", "labels_of", "matches", "quiet",
           "train_trials", "values"]

# The summary numbers each record keeps (summary.json keys): the metrics table's "experiment"
# view, so a metric shown there is kept here too.
RECORD_METRICS = metrics.keys("experiment")


def quiet(line: str) -> None:
    """A progress callback that prints nothing."""


@dataclass
class Trial:
    """One run of an experiment: what varies (its labels) and its whole config."""

    labels: dict
    config: DistillConfig


def train_trials(trials: list[Trial], progress=quiet, prepared=None) -> list[dict]:
    """Train each trial in order, not stored as runs; returns one record per trial. Consecutive
    trials with the same teacher and data share one loaded Prepared (and so one teacher cache);
    trials with the same teacher share the speeds measured once per student shape."""
    from distill_core.training.loop import distill, prepare

    speeds, records = {}, []
    for i, trial in enumerate(trials, 1):
        prepared = prepare(trial.config, prepared)
        prepared.speeds = speeds.setdefault(trial.config.teacher, prepared.speeds)
        summary = distill(trial.config, store=False, prepared=prepared).summary
        records.append({**trial.labels, **{k: summary.get(k) for k in RECORD_METRICS}})
        progress(f"[{i}/{len(trials)}] {labels_text(trial.labels)}: student perplexity "
                 f"{summary['student_ppl']:.3f} ({summary['wall_seconds']:.0f} s)")
    return records


def matches(record: dict, where: dict) -> bool:
    return all(record.get(k) == v for k, v in where.items())


def values(records: list[dict], key: str, **where) -> list[float]:
    """`key` of the records matching every `where` label, Nones left out."""
    return [r[key] for r in records if matches(r, where) and r.get(key) is not None]


def by_seed(records: list[dict], key: str, **where) -> dict:
    """{seed: `key`} of the records matching every `where` label, Nones left out."""
    return {r["seed"]: r[key] for r in records if matches(r, where) and r.get(key) is not None}


def distinct(records: list[dict], key) -> list:
    """The distinct values of `key` (a label, or a tuple of labels) in the records, in
    first-seen order."""
    if isinstance(key, tuple):
        return list(dict.fromkeys(tuple(r[k] for k in key) for r in records))
    return list(dict.fromkeys(r[key] for r in records))


def labels_of(key, value) -> dict:
    """The labels that pick `value` of `key`: ("alpha", "temperature"), (0.5, 2.0) ->
    {"alpha": 0.5, "temperature": 2.0}; "seed", 0 -> {"seed": 0}."""
    return dict(zip(key, value)) if isinstance(key, tuple) else {key: value}
