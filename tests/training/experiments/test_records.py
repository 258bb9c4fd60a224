"""The pieces every experiment shares: picking values out of records, comparing groups of runs
seed by seed, the phrases of findings, and the names of models."""

import pytest

from distill_core import metrics
from distill_core.training.experiments.comparisons import (against_best, best_value,
                                                           kd_against_baseline,
                                                           paired_difference)
from distill_core.training.experiments.labels import (labels_text, spec_name, student_start,
                                                      teacher_label)
from distill_core.training.experiments.records import (RECORD_METRICS, by_seed, distinct,
                                                       labels_of, values)
from distill_core.training.experiments.wording import (against_text, join_words,
                                                       others_clause, verdict)

# T = 1, 2, 4 at seeds 0-2; T = 2 is best, T = 4 within its noise, T = 1 clearly worse
RECORDS = [{"temperature": t, "seed": s, "student_ppl": p + d, "baseline_ppl": p + 0.3}
           for t, p in ((1.0, 3.5), (2.0, 3.0), (4.0, 3.01))
           for s, d in enumerate((0.0, 0.01, 0.02))]
RECORDS.append({"temperature": 8.0, "seed": 0, "student_ppl": None})  # a run with no number


def test_values_and_by_seed_pick_matching_records_and_skip_missing_numbers():
    assert values(RECORDS, "student_ppl", temperature=2.0) == pytest.approx([3.0, 3.01, 3.02])
    assert values(RECORDS, "student_ppl", temperature=8.0) == []
    assert values(RECORDS, "student_ppl", temperature=2.0, seed=1) == pytest.approx([3.01])
    assert by_seed(RECORDS, "student_ppl", temperature=4.0) == pytest.approx(
        {0: 3.01, 1: 3.02, 2: 3.03})


def test_distinct_and_labels_of():
    assert distinct(RECORDS, "temperature") == [1.0, 2.0, 4.0, 8.0]
    grid = [{"alpha": 0.5, "temperature": 2.0}, {"alpha": 0.9, "temperature": 1.0},
            {"alpha": 0.5, "temperature": 2.0}]
    assert distinct(grid, ("alpha", "temperature")) == [(0.5, 2.0), (0.9, 1.0)]
    assert labels_of(("alpha", "temperature"), (0.5, 2.0)) == {"alpha": 0.5, "temperature": 2.0}
    assert labels_of("seed", 0) == {"seed": 0}


def test_best_value_has_the_lowest_mean():
    assert best_value(RECORDS, "temperature") == 2.0
    assert best_value(RECORDS, "temperature", metric="baseline_ppl") == 2.0


def test_paired_difference_is_signed_and_over_shared_seeds():
    diff, text = paired_difference(RECORDS, {"temperature": 1.0}, {"temperature": 2.0})
    assert (diff, text) == (1, "+0.500 ± 0.000")
    diff, text = paired_difference(RECORDS, {"temperature": 2.0}, {"temperature": 1.0})
    assert (diff, text) == (-1, "-0.500 ± 0.000")
    only_seed_0 = [r for r in RECORDS if r["temperature"] != 2.0 or r["seed"] == 0]
    assert paired_difference(only_seed_0, {"temperature": 1.0}, {"temperature": 2.0}) == \
        (None, "+0.500")  # one shared seed: the spread is unknown
    assert kd_against_baseline(RECORDS, temperature=2.0) == (-1, "-0.290 ± 0.010")


def test_against_best_and_its_words():
    against = against_best(RECORDS, "temperature", 2.0)
    assert against[1.0] == ("clearly higher", "+0.500 ± 0.000")
    assert against[4.0] == ("clearly higher", "+0.010 ± 0.000")  # the same offset every seed
    assert 8.0 in against and against[8.0][0] == "one run each"
    assert against_text(against, 1.0) == "clearly higher (+0.500 ± 0.000)"
    assert against_text(against, 2.0) == "best"


def test_others_clause_puts_unknown_spreads_before_ties():
    name = lambda t: f"T = {t:g}"  # noqa: E731
    assert others_clause({1.0: ("clearly higher", "")}, name) == \
        "clearly below every other setting"
    assert others_clause({1.0: ("clearly higher", ""), 4.0: ("no clear difference", ""),
                          8.0: ("no clear difference", "")}, name) == \
        "with no clear difference from T = 4 and T = 8"
    assert others_clause({4.0: ("no clear difference", ""), 8.0: ("one run each", "")}, name) == \
        "against T = 8 after one run each (spread unknown)"


def test_join_words_and_verdict():
    assert join_words(["tiny"]) == "tiny"
    assert join_words(["tiny", "half"]) == "tiny and half"
    assert join_words(iter(["100", "3,000", "20,000"])) == "100, 3,000 and 20,000"
    words = [verdict(d, "lower", "higher") for d in (-1, 0, 1, None)]
    assert words == ["lower", "no clear difference", "higher", "one run each"]


def test_model_labels():
    assert spec_name("builtin:half") == "half" and spec_name("gpt2") == "gpt2"
    assert teacher_label("builtin:teacher-early") == "teacher-early"
    assert teacher_label("owner/model") == "owner/model (teacher)"
    assert [student_start(s) for s in ("builtin:tiny", "builtin:large", "gpt2")] == \
        ["random", "teacher layers", "pretrained"]
    assert labels_text({"train_docs": 100, "temperature": 2.0, "seed": 0}) == \
        "train_docs 100, temperature 2, seed 0"


def test_records_keep_the_metrics_tables_experiment_numbers():
    assert RECORD_METRICS == metrics.keys("experiment")
    read = {"student_ppl", "baseline_ppl", "teacher_ppl", "gap_closed_pct", "retention_pct",
            "agreement", "speedup", "latency_speedup", "student_params", "size_ratio"}
    assert read <= set(RECORD_METRICS)  # every number a table, finding or figure reads
