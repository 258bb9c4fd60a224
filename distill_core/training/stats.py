"""Honest statistics for the experiments: mean ± spread over repeated runs, and when two groups
of runs differ clearly.

    mean_spread([3.02, 3.05, 3.01])           -> (3.0267, 0.0208)   spread = sample std (n - 1)
    overlap((3.03, 0.02), (3.06, 0.02))       -> True               |Δmean| <= spread_a + spread_b
    clear_difference([3.0, 3.01], [3.2, 3.21]) -> -1                 a clearly lower
    clear_difference([3.0, 3.5], [3.1, 3.6], paired=True) -> -1      lower in each pair, by 0.1
    plus_minus([3.02, 3.05, 3.01])            -> "3.027 ± 0.021"

A difference is called clear only when the mean ± spread intervals do not overlap (for normal
noise and three seeds each, a gap of more than about two standard deviations), and never from
one run per group: with one run the spread is unknown, and `clear_difference` says so (None)
rather than guessing. Runs made in pairs (the same seed draws the same data and validation
text for both) are compared by their differences, whose spread no longer holds what differs
between seeds. Pure Python; no torch.
"""

from __future__ import annotations

import math
import statistics

__all__ = ["clear_difference", "mean_spread", "overlap", "pareto_front", "plus_minus"]


def mean_spread(values) -> tuple[float, float]:
    """(mean, spread) of the values; the spread is the sample standard deviation (0 for one)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_spread needs at least one value")
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), spread


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the intervals mean ± spread of a = (mean, spread) and b touch or overlap."""
    return abs(a[0] - b[0]) <= a[1] + b[1]


def clear_difference(a_values, b_values, paired: bool = False) -> int | None:
    """-1 when group a is clearly lower than b, 1 when clearly higher, 0 when not clearly
    different, None when either group has fewer than two values (the spread is unknown, so no
    verdict).

    Unpaired: clear when the groups' mean ± spread intervals do not overlap. `paired`: a[i] and
    b[i] were measured together (the same seed: the same data, batches and validation text), so
    what varies between seeds cancels in their differences: clear when the differences'
    mean ± spread interval does not hold 0 (the same overlap test, of the differences against
    no difference)."""
    if len(a_values) < 2 or len(b_values) < 2:
        return None
    if paired:
        if len(a_values) != len(b_values):
            raise ValueError("paired values come in pairs: the two lists differ in length")
        a, b = mean_spread([x - y for x, y in zip(a_values, b_values)]), (0.0, 0.0)
    else:
        a, b = mean_spread(a_values), mean_spread(b_values)
    if overlap(a, b):
        return 0
    return -1 if a[0] < b[0] else 1


def plus_minus(values, spec: str = ".3f") -> str:
    """'3.027 ± 0.021' (the mean and spread of the values), or '3.020' for a single value,
    '-' for none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    mean, spread = mean_spread(values)
    text = format(mean, spec)
    return text if len(values) == 1 else f"{text} ± {format(spread, spec)}"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (speed, perplexity) that no other point beats: none is at least as
    fast and at least as good (lower perplexity) and strictly better in one of the two."""
    def beats(q, p):
        return q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1])

    return [i for i, p in enumerate(points) if not any(beats(q, p) for q in points)]
