"""Plain fixed-width text tables, as every command prints them."""

from __future__ import annotations

from distill_core.app.report import verdict_rows


def table(rows: list[list], header: list[str]) -> str:
    """A plain fixed-width text table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict_table(summary: dict) -> str:
    """A finished run's results, one metric a line."""
    return table([list(row) for row in verdict_rows(summary)], ["metric", "value"])
