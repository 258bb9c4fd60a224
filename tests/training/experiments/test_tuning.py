"""tuning: the best cells, the table and the finding from known numbers, clause by clause."""

from distill_core.app.experiment_figures import experiment_figure
from distill_core.training import experiments
from distill_core.training.experiments.tuning import (best_cell_clause, cell_name,
                                                      no_teacher_clause, runner_up_clause)


def _tuning() -> dict:
    grid = {(0.0, 1.0): 3.4, (0.0, 2.0): 3.4, (0.5, 1.0): 3.2, (0.5, 2.0): 3.05}
    records = [{"alpha": a, "temperature": t, "seed": 0, "student_ppl": p, "agreement": 0.9,
                "run_id": f"r{i}"} for i, ((a, t), p) in enumerate(grid.items())]
    records += [{"alpha": a, "temperature": t, "seed": s, "student_ppl": p, "agreement": 0.9}
                for s in (1, 2) for (a, t), p in (((0.5, 2.0), 3.06 + 0.01 * s),
                                                  ((0.5, 1.0), 3.21))]
    return {"records": records, "repeated": [[0.5, 2.0], [0.5, 1.0]], "sweep_id": "s",
            "student": "builtin:half"}


def test_tuning_finding_names_the_best_cell():
    data = _tuning()
    out = experiments.summarize("tuning", data)
    assert out["finding"].startswith("The best cell of the α × T grid was α = 0.5, T = 2 ")
    assert "clearly better than the runner-up α = 0.5, T = 1" in out["finding"]
    assert "against 3.400 with no teacher" in out["finding"]
    assert experiments.best_cells(data) == ((0.5, 2.0), (0.5, 1.0))
    title = experiment_figure({"name": "tuning", "data": data}).layout.title.text
    assert "best over 3 seeds: α = 0.5, T = 2 (3.067 ± 0.015)" in title


def test_the_whole_finding_and_table_word_for_word():
    out = experiments.summarize("tuning", _tuning())
    assert out["finding"] == (
        "The best cell of the α × T grid was α = 0.5, T = 2 (student perplexity 3.067 ± 0.015 "
        "over 3 seeds), clearly better than the runner-up α = 0.5, T = 1 (3.207 ± 0.006); at "
        "seed 0 it reached 3.050 against 3.400 with no teacher (α = 0).")
    assert out["rows"] == [["0", "1", "3.400", "90.0", "-", ""],
                           ["0", "2", "3.400", "90.0", "-", ""],
                           ["0.5", "1", "3.200", "90.0", "3.207 ± 0.006 (3 seeds)",
                            "clearly higher (+0.140 ± 0.010)"],
                           ["0.5", "2", "3.050", "90.0", "3.067 ± 0.015 (3 seeds)", "best"]]


def test_clauses_of_the_tuning_finding():
    records = _tuning()["records"]
    assert cell_name((0.5, 2.0)) == "α = 0.5, T = 2"
    assert best_cell_clause(records, (0.5, 2.0)) == (
        "The best cell of the α × T grid was α = 0.5, T = 2 (student perplexity 3.067 ± 0.015 "
        "over 3 seeds)")
    assert best_cell_clause(records, (0.0, 1.0)).endswith("(student perplexity 3.400 over 1 seed)")
    assert runner_up_clause(records, (0.5, 2.0), (0.5, 1.0)) == (
        ", clearly better than the runner-up α = 0.5, T = 1 (3.207 ± 0.006)")
    assert runner_up_clause(records, (0.5, 2.0), None) == ""
    assert no_teacher_clause(records, (0.5, 2.0)) == (
        "; at seed 0 it reached 3.050 against 3.400 with no teacher (α = 0)")
    assert no_teacher_clause(records, (0.0, 1.0)) == ""  # the best is the no-teacher run
    assert no_teacher_clause([r for r in records if r["alpha"] > 0], (0.5, 2.0)) == ""


def test_a_runner_up_within_the_noise_is_no_clear_difference():
    data = _tuning()
    for r in data["records"]:
        if (r["alpha"], r["temperature"]) == (0.5, 1.0):
            r["student_ppl"] = 3.07 - 0.01 * r["seed"]  # 3.07, 3.06, 3.05 against 3.05-3.08
    best, runner = experiments.best_cells(data)
    assert (best, runner) == ((0.5, 1.0), (0.5, 2.0))
    assert runner_up_clause(data["records"], best, runner) == (
        ", with no clear difference from the runner-up α = 0.5, T = 2 (3.067 ± 0.015)")
