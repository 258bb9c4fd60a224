"""Statistics over an experiment's records: which setting is best, and whether two groups of
runs differ clearly, compared seed by seed (a seed draws the same data and validation text for
both groups, so the pairs' differences carry less noise than the groups' spreads)."""

from __future__ import annotations

from distill_core.training.experiments.records import by_seed, distinct, labels_of, values
from distill_core.training.experiments.wording import verdict
from distill_core.training.stats import clear_difference, mean_spread, plus_minus

__all__ = ["against_best", "best_value", "kd_against_baseline", "paired_difference"]


def best_value(records: list[dict], key, metric: str = "student_ppl"):
    """The value of `key` (a label, or a tuple of labels) whose runs have the lowest mean
    `metric`."""
    means = {}
    for value in distinct(records, key):
        runs = values(records, metric, **labels_of(key, value))
        if runs:
            means[value] = mean_spread(runs)[0]
    return min(means, key=means.get)


def paired_difference(records: list[dict], a: dict, b: dict, metric: str = "student_ppl",
                      metric_b: str | None = None) -> tuple[int | None, str]:
    """The runs matching labels `a` against those matching `b` (`metric_b` of those, if given),
    over the seeds both have: (clear_difference of the pairs, the difference a − b as
    '+mean ± spread')."""
    xa, xb = by_seed(records, metric, **a), by_seed(records, metric_b or metric, **b)
    seeds = sorted(set(xa) & set(xb))
    a_values, b_values = [xa[s] for s in seeds], [xb[s] for s in seeds]
    diffs = [x - y for x, y in zip(a_values, b_values)]
    sign = "+" if diffs and mean_spread(diffs)[0] > 0 else ""
    return clear_difference(a_values, b_values, paired=True), sign + plus_minus(diffs)


def kd_against_baseline(records: list[dict], **where) -> tuple[int | None, str]:
    """The KD student against its baseline, trained side by side on the same batches."""
    return paired_difference(records, where, where, "student_ppl", "baseline_ppl")


def against_best(records: list[dict], key, best, metric: str = "student_ppl") -> dict:
    """{value of `key`: (verdict, difference from the best, seed by seed)} for every other
    value."""
    against = {}
    for value in distinct(records, key):
        if value != best:
            diff, text = paired_difference(records, labels_of(key, value),
                                           labels_of(key, best), metric)
            against[value] = (verdict(diff, "clearly lower", "clearly higher"), text)
    return against
