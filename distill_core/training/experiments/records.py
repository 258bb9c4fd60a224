"""An experiment's runs and the records they leave: one dict per run, its labels (what varies,
e.g. {"train_docs": 100, "seed": 0}) beside the summary numbers named in RECORD_METRICS.

    records = train_trials([Trial({"seed": 0}, config), ...], progress)
    values(records, "student_ppl", train_docs=100)       # [3.41, 3.38, 3.44]
"""

from __future__ import annotations

from dataclasses import dataclass

from distill_core import metrics
from distill_core.config import DistillConfig
from distill_core.store.groups import partition
from distill_core.training.experiments.labels import labels_text

__all__ = ["RECORD_METRICS", "Trial", "by_seed", "distinct", "labels_of", "matches", "quiet",
           "train_trials", "values"]

# The summary numbers each record keeps (summary.json keys): the metrics table's "experiment"
# view, so a metric shown there is kept here too.
RECORD_METRICS = metrics.keys("experiment")
MAX_TOGETHER = 8  # trials trained side by side at most: students and optimisers in memory


def quiet(line: str) -> None:
    """A progress callback that prints nothing."""


@dataclass
class Trial:
    """One run of an experiment: what varies (its labels) and its whole config."""

    labels: dict
    config: DistillConfig


def train_trials(trials: list[Trial], progress=quiet, prepared=None) -> list[dict]:
    """Train the trials, not stored as runs; returns one record per trial, in their order.
    Trials that read the same batches from the same teacher (store.groups: they differ in
    alpha, temperature, loss, lr, ... but not in seed, data, student or shapes) train side by
    side, one teacher forward per batch for all (side_by_side.py); the others, e.g. each seed
    of a claim, or each size of the data, train apart, as their batches differ. Trials with the
    same teacher and data share one loaded Prepared (and so one teacher cache); trials with the
    same teacher share the speeds measured once per student shape."""
    from distill_core.training.loop import RunResult, prepare
    from distill_core.training.side_by_side import train_together

    speeds, summaries = {}, {}
    configs = [trial.config for trial in trials]
    for group in partition(configs, MAX_TOGETHER):
        prepared = prepare(configs[group[0]], prepared)
        prepared.speeds = speeds.setdefault(configs[group[0]].teacher, prepared.speeds)
        outcomes = train_together([configs[i] for i in group], store=False, prepared=prepared)
        for i, outcome in zip(group, outcomes):
            if not isinstance(outcome, RunResult):
                raise outcome  # as a trial trained alone would have raised
            summaries[i] = summary = outcome.summary
            progress(f"[{len(summaries)}/{len(trials)}] {labels_text(trials[i].labels)}: "
                     f"student perplexity {summary['student_ppl']:.3f} "
                     f"({summary['wall_seconds']:.0f} s)")
    return [{**trial.labels, **{k: summaries[i].get(k) for k in RECORD_METRICS}}
            for i, trial in enumerate(trials)]


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
