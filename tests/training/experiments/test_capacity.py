"""capacity: the table and finding from known numbers, clause by clause."""

from distill_core.training import experiments
from distill_core.training.experiments.capacity import (retention_clause, starts_clause,
                                                        teachers_clause)


def _capacity(early_ppl=(3.3, 3.32, 3.28), retention=(20.0, 35.0, 50.0)) -> dict:
    """tiny, small, half from the trained teacher at seed 0 (retention as given), half at
    seeds 1 and 2 too, and half from teacher-early at seeds 0-2 (perplexities as given)."""
    students = (("builtin:tiny", 1000, 4.0, 1.5), ("builtin:small", 4000, 3.6, 1.3),
                ("builtin:half", 20000, 3.1, 1.1))
    records = [{"teacher": "builtin:teacher", "student": s, "seed": 0, "student_params": p,
                "student_ppl": ppl, "teacher_ppl": 2.5, "retention_pct": r, "speedup": sp}
               for (s, p, ppl, sp), r in zip(students, retention)]
    records += [{"teacher": "builtin:teacher", "student": "builtin:half", "seed": s,
                 "student_params": 20000, "student_ppl": ppl, "teacher_ppl": 2.5,
                 "retention_pct": 50.0, "speedup": 1.1} for s, ppl in ((1, 3.12), (2, 3.08))]
    records += [{"teacher": "builtin:teacher-early", "student": "builtin:half", "seed": s,
                 "student_params": 20000, "student_ppl": ppl, "teacher_ppl": 3.0,
                 "retention_pct": 40.0, "speedup": 1.1} for s, ppl in enumerate(early_ppl)]
    return {"records": records, "teacher": "builtin:teacher",
            "early_teacher": "builtin:teacher-early", "student": "builtin:half"}


def test_the_whole_finding_and_table_word_for_word():
    out = experiments.summarize("capacity", _capacity())
    assert out["finding"] == (
        "At seed 0 the students' retention of the teacher's perplexity rose with every step up "
        "in size, from 20.0 % (tiny) to 50.0 % (half) (tiny and small start from random weights, "
        "half from the teacher's layers); the half student reached perplexity 3.100 ± 0.020 from "
        "the trained teacher against 3.300 ± 0.020 from teacher-early (clearly better from the "
        "trained teacher, difference -0.200 ± 0.000).")
    assert out["rows"][2] == ["teacher", "half", "20,000", "teacher layers", "3",
                              "3.100 ± 0.020", "2.500 ± 0.000", "50.0 ± 0.0", "1.10"]
    assert [row[:2] for row in out["rows"]] == [["teacher", "tiny"], ["teacher", "small"],
                                                ["teacher", "half"], ["teacher-early", "half"]]


def test_retention_clause_says_whether_retention_rose_with_size():
    rising = retention_clause(_capacity()["records"], "builtin:teacher")
    assert rising.startswith("At seed 0 the students' retention of the teacher's perplexity "
                             "rose with every step up in size, from 20.0 % (tiny) to 50.0 % "
                             "(half)")
    bumpy = retention_clause(_capacity(retention=(20.0, 55.0, 50.0))["records"],
                             "builtin:teacher")
    assert "did not rise steadily with size (highest: small), from 20.0 % (tiny)" in bumpy


def test_starts_clause_only_when_students_start_differently():
    assert starts_clause(["builtin:tiny", "builtin:small", "builtin:half"]) == (
        " (tiny and small start from random weights, half from the teacher's layers)")
    assert starts_clause(["builtin:tiny", "builtin:small"]) == ""
    assert starts_clause(["builtin:tiny", "gpt2"]) == (
        " (tiny start from random weights, gpt2 from pretrained weights)")


def test_teachers_clause_compares_the_two_teachers_seed_by_seed():
    assert teachers_clause(_capacity()) == (
        "the half student reached perplexity 3.100 ± 0.020 from the trained teacher against "
        "3.300 ± 0.020 from teacher-early (clearly better from the trained teacher, difference "
        "-0.200 ± 0.000)")
    close = teachers_clause(_capacity(early_ppl=(3.1, 3.13, 3.07)))
    assert close.endswith("against 3.100 ± 0.030 from teacher-early (no clear difference, "
                          "difference +0.000 ± 0.010)")
    better_early = teachers_clause(_capacity(early_ppl=(2.9, 2.92, 2.88)))
    assert "(clearly better from teacher-early, difference +0.200 ± 0.000)" in better_early
