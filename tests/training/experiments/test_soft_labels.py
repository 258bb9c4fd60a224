"""soft-labels: its table and finding from known numbers, clause by clause."""

from distill_core.training import experiments
from distill_core.training.experiments.soft_labels import (baseline_clause, gap_clause,
                                                           gap_trend)
from distill_core.training.stats import clear_difference


def _soft_labels(kd_small: float, kd_large: float) -> dict:
    """Three seeds at 100 and 20,000 stories: KD at `kd_small` / `kd_large` (± 0.03), the
    baseline at 4.0 (± 0.01), the teacher at 2.5."""
    records = []
    for n, kd in ((100, kd_small), (20000, kd_large)):
        for seed, (wiggle, base) in enumerate(((0.0, 0.0), (0.03, 0.01), (-0.03, -0.01))):
            records.append({"train_docs": n, "seed": seed, "student_ppl": kd + wiggle,
                            "baseline_ppl": 4.0 + base, "teacher_ppl": 2.5,
                            "gap_closed_pct": 100 * (4.0 - kd) / 1.5})
    return {"records": records, "alpha": 0.9, "temperature": 1.0, "student": "builtin:small"}


def test_paired_runs_are_compared_by_their_differences():
    # KD is 0.3 below its baseline in every seed, while the seeds themselves differ by 0.5
    data = {"records": [{"train_docs": 100, "seed": s, "student_ppl": 3.0 + 0.5 * s,
                         "baseline_ppl": 3.3 + 0.5 * s, "teacher_ppl": 2.5,
                         "gap_closed_pct": 37.5} for s in range(3)]}
    assert clear_difference([3.0, 3.5, 4.0], [3.3, 3.8, 4.3]) == 0  # as unpaired groups
    out = experiments.summarize("soft-labels", data)
    assert out["rows"][0][-2:] == ["-0.300 ± 0.000", "KD clearly better"]
    assert "beat the no-teacher baseline clearly at 100 stories" in out["finding"]


def test_soft_labels_finding_is_computed_from_the_numbers():
    helped = experiments.summarize("soft-labels", _soft_labels(3.4, 3.99))
    assert "beat the no-teacher baseline clearly at 100 stories" in helped["finding"]
    assert "no clear difference from the baseline at 20,000 stories" in helped["finding"]
    assert "40.0 ± 0.0 % of the baseline-to-teacher gap with 100" in helped["finding"]
    assert "0.7 ± 0.0 % with 20,000 (clearly more with fewer stories)" in helped["finding"]
    hurt = experiments.summarize("soft-labels", _soft_labels(4.5, 3.5))
    assert "clearly worse than the baseline at 100 stories" in hurt["finding"]
    assert hurt["finding"] != helped["finding"]
    assert helped["header"][0] == "train stories" and len(helped["rows"]) == 2


def test_the_whole_finding_and_table_word_for_word():
    out = experiments.summarize("soft-labels", _soft_labels(3.4, 3.99))
    assert out["finding"] == (
        "Distillation closed 40.0 ± 0.0 % of the baseline-to-teacher gap with 100 training "
        "stories and 0.7 ± 0.0 % with 20,000 (clearly more with fewer stories); it beat the "
        "no-teacher baseline clearly at 100 stories and showed no clear difference from the "
        "baseline at 20,000 stories.")
    assert out["rows"] == [
        ["100", "3", "3.400 ± 0.030", "4.000 ± 0.010", "2.500 ± 0.000", "40.0 ± 0.0",
         "-0.600 ± 0.020", "KD clearly better"],
        ["20000", "3", "3.990 ± 0.030", "4.000 ± 0.010", "2.500 ± 0.000", "0.7 ± 0.0",
         "-0.010 ± 0.020", "no clear difference"]]


def test_gap_trend_compares_the_smallest_and_largest_data_seed_by_seed():
    records = _soft_labels(3.4, 3.99)["records"]  # gap closed: 40 % at 100, 0.67 % at 20,000
    assert gap_trend(records, 100, 20000) == "clearly more with fewer stories"
    assert gap_trend(records, 20000, 100) == "clearly less with fewer stories"
    same = _soft_labels(3.4, 3.4)["records"]
    assert gap_trend(same, 100, 20000) == "no clear difference"


def test_gap_clause_names_the_first_and_last_data_sizes():
    records = _soft_labels(3.55, 3.7)["records"]  # 30 % and 20 % of the 1.5 gap
    assert gap_clause(records) == ("Distillation closed 30.0 ± 0.0 % of the baseline-to-teacher "
                                   "gap with 100 training stories and 20.0 ± 0.0 % with 20,000 "
                                   "(clearly more with fewer stories)")


def test_baseline_clause_groups_data_sizes_by_verdict():
    records = _soft_labels(3.4, 3.5)["records"]  # KD 0.6 and 0.5 below the baseline
    assert baseline_clause(records) == ("beat the no-teacher baseline clearly at 100 and 20,000 "
                                        "stories")
    worse = _soft_labels(4.5, 3.5)["records"]
    assert baseline_clause(worse) == ("beat the no-teacher baseline clearly at 20,000 stories and "
                                      "was clearly worse than the baseline at 100 stories")
    once = [r for r in records if r["seed"] == 0]
    assert baseline_clause(once) == "was run once (spread unknown) at 100 and 20,000 stories"
