"""tuning: the α × T grid and a no-teacher reference, its best two cells repeated over seeds.

    finding = best_cell_clause(…) + runner_up_clause(…) + no_teacher_clause(…) + "."
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training.experiments.comparisons import against_best, best_value
from distill_core.training.experiments.records import Trial, distinct, quiet, train_trials, values
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import against_text
from distill_core.training.stats import plus_minus

__all__ = ["best_cell_clause", "best_cells", "cell_name", "finding", "no_teacher_clause", "plan",
           "runner_up_clause", "table"]

CELL = ("alpha", "temperature")  # the labels that name a cell of the grid


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """The α × T grid at seed 0 and the no-teacher reference (α = 0, where T does nothing),
    then the best two cells again at the other seeds, so the winner is tested against the
    runner-up rather than against the noise. The teacher runs live: a top-k cache keeps only
    part of its softened probability at large T, which would bend the high-T cells."""
    config = base.replace(seed=0, teacher_cache=False, **size.distilled)
    cells = [(0.0, 1.0)] + [(a, t) for a in size.alphas for t in size.grid_temperatures]
    trials = [Trial({"alpha": a, "temperature": t, "seed": 0},
                    config.replace(alpha=a, temperature=t)) for a, t in cells]
    records = train_trials(trials, progress)
    ranked = sorted(records, key=lambda r: r["student_ppl"])[:2]
    trials = [Trial({"alpha": r["alpha"], "temperature": r["temperature"], "seed": s},
                    config.replace(alpha=r["alpha"], temperature=r["temperature"], seed=s))
              for s in list(size.seed_range)[1:] for r in ranked]
    records += train_trials(trials, progress)
    return {"records": records, "student": config.student,
            "repeated": [[r["alpha"], r["temperature"]] for r in ranked]}


def best_cells(data: dict) -> tuple[tuple, tuple | None]:
    """(best, runner-up) of a tuning result: of the cells repeated over seeds (the grid's best
    two at seed 0), the one with the lower mean student perplexity first."""
    repeated = [tuple(c) for c in data["repeated"]]
    best = best_value([r for r in data["records"] if (r["alpha"], r["temperature"]) in repeated],
                      CELL)
    return best, next((c for c in repeated if c != best), None)


def cell_name(cell: tuple) -> str:
    """(0.5, 2.0) -> 'α = 0.5, T = 2'."""
    return f"α = {cell[0]:g}, T = {cell[1]:g}"


def table(data: dict) -> tuple[list[str], list[list]]:
    records = data["records"]
    grid = [r for r in records if r["seed"] == 0]
    best, runner = best_cells(data)
    against = against_best(records, CELL, best)
    rows = []
    for cell in sorted(distinct(grid, CELL)):
        at_0 = next(r for r in grid if (r["alpha"], r["temperature"]) == cell)
        ppl = values(records, "student_ppl", alpha=cell[0], temperature=cell[1])
        repeated = cell in (best, runner)
        rows.append([f"{cell[0]:g}", f"{cell[1]:g}", f"{at_0['student_ppl']:.3f}",
                     f"{100 * at_0['agreement']:.1f}",
                     f"{plus_minus(ppl)} ({len(ppl)} seeds)" if repeated else "-",
                     against_text(against, cell) if repeated else ""])
    return ["alpha", "T", "student ppl, seed 0", "agreement %, seed 0",
            "student ppl over seeds", "against the best (difference, same seed)"], rows


def best_cell_clause(records: list[dict], best: tuple) -> str:
    """'The best cell of the α × T grid was α = 0.5, T = 2 (student perplexity 3.067 ± 0.015
    over 3 seeds)'."""
    ppl = values(records, "student_ppl", alpha=best[0], temperature=best[1])
    return (f"The best cell of the α × T grid was {cell_name(best)} (student perplexity "
            f"{plus_minus(ppl)} over {len(ppl)} seed{'s' * (len(ppl) > 1)})")


def runner_up_clause(records: list[dict], best: tuple, runner: tuple | None) -> str:
    """', clearly better than the runner-up α = 0.5, T = 1 (3.207 ± 0.006)', or '' with no
    runner-up."""
    if runner is None:
        return ""
    words = {"clearly higher": "clearly better than", "clearly lower": "clearly worse than",
             "no clear difference": "with no clear difference from",
             "one run each": "after one run each, against"}
    ppl = values(records, "student_ppl", alpha=runner[0], temperature=runner[1])
    return (f", {words[against_best(records, CELL, best)[runner][0]]} the runner-up "
            f"{cell_name(runner)} ({plus_minus(ppl)})")


def no_teacher_clause(records: list[dict], best: tuple) -> str:
    """'; at seed 0 it reached 3.050 against 3.400 with no teacher (α = 0)', or '' when there is
    no α = 0 run or the best cell is one (at α = 0 every T trains the same run)."""
    no_teacher = values(records, "student_ppl", alpha=0.0, seed=0)
    if not no_teacher or best[0] == 0.0:
        return ""
    at_0 = values(records, "student_ppl", seed=0, alpha=best[0], temperature=best[1])[0]
    return f"; at seed 0 it reached {at_0:.3f} against {no_teacher[0]:.3f} with no teacher (α = 0)"


def finding(data: dict) -> str:
    records = data["records"]
    best, runner = best_cells(data)
    return (best_cell_clause(records, best) + runner_up_clause(records, best, runner)
            + no_teacher_clause(records, best) + ".")
