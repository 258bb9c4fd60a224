"""The small phrases findings and tables share: lists in words, verdicts of a comparison."""

from __future__ import annotations

__all__ = ["against_text", "join_words", "others_clause", "verdict"]


def join_words(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verdict(diff: int | None, lower: str, higher: str) -> str:
    """Words for stats.clear_difference: -1 -> `lower`, 1 -> `higher`, 0 -> 'no clear
    difference', None -> 'one run each'."""
    return {-1: lower, 1: higher, 0: "no clear difference", None: "one run each"}[diff]


def against_text(against: dict, value) -> str:
    """A table cell from comparisons.against_best: 'best', or 'clearly higher (+0.210 ± 0.030)'."""
    return f"{against[value][0]} ({against[value][1]})" if value in against else "best"


def others_clause(against: dict, name) -> str:
    """How the best setting compares with the others (`name` words a value): 'clearly below
    every other setting' / 'with no clear difference from T = 2 and 4' / 'against T = 2 after one
    run each (spread unknown)'."""
    ties = [name(v) for v, (words, _) in against.items() if words == "no clear difference"]
    unknown = [name(v) for v, (words, _) in against.items() if words == "one run each"]
    if unknown:
        return f"against {join_words(unknown)} after one run each (spread unknown)"
    if ties:
        return f"with no clear difference from {join_words(ties)}"
    return "clearly below every other setting"
