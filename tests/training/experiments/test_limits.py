"""limits: the Pareto points, the table and the finding from known numbers, clause by clause."""

from distill_core.training import experiments
from distill_core.training.experiments.limits import front_clause, imperfect_teacher_clause


def _limits(early_kd=(5.0, 5.2, 4.9), alone=(5.5, 5.7, 5.4), small_ppl=35.0) -> dict:
    """tiny (8.1x, perplexity 31), small (3x, `small_ppl`) and half (1.9x, 6) from the trained
    teacher (3.781); half from teacher-early at three seeds, KD against no teacher."""
    students = (("builtin:tiny", 1000, 31.0, 8.1, 6.0, 0.08),
                ("builtin:small", 4000, small_ppl, 3.0, 2.5, 0.2),
                ("builtin:half", 20000, 6.0, 1.9, 1.7, 0.5))
    records = [{"teacher": "builtin:teacher", "student": s, "seed": 0, "student_params": p,
                "student_ppl": ppl, "teacher_ppl": 3.781, "speedup": sp,
                "latency_speedup": lat, "size_ratio": sr} for s, p, ppl, sp, lat, sr in students]
    records += [{"teacher": "builtin:teacher-early", "student": "builtin:half", "seed": s,
                 "student_params": 20000, "student_ppl": k, "baseline_ppl": b,
                 "teacher_ppl": 4.75 + 0.1 * s, "speedup": 1.9, "latency_speedup": 1.7,
                 "size_ratio": 0.5} for s, (k, b) in enumerate(zip(early_kd, alone))]
    return {"records": records, "teacher": "builtin:teacher",
            "early_teacher": "builtin:teacher-early", "student": "builtin:half"}


def test_limits_points_mark_the_pareto_front():
    points = experiments.limits_points(_limits())
    assert [(p["name"], p["start"], p["front"]) for p in points] == [
        ("teacher", "trained", True), ("tiny", "random", True), ("small", "random", False),
        ("half", "teacher layers", True)]  # small: slower and worse than tiny
    assert points[1]["size_pct"] == 8.0 and points[0]["ppl"] == 3.781


def test_the_whole_finding_and_table_word_for_word():
    out = experiments.summarize("limits", _limits(small_ppl=12.0))
    assert out["finding"] == (
        "Of the students, tiny, small and half are on the speed/perplexity front, the fastest "
        "(tiny, 8.1x the teacher's forward speed at 8 % of its size) reaching perplexity 31.000 "
        "against the teacher's 3.781; from the imperfect teacher-early (perplexity 4.850 ± "
        "0.100) the half student reached 5.033 ± 0.153 against 5.533 ± 0.153 with no teacher "
        "(clearly better with it, difference -0.500 ± 0.000).")
    assert out["rows"][0] == ["teacher", "-", "trained", "100", "1.00", "1.00", "3.781", "yes"]
    assert out["rows"][4:] == [
        ["half from teacher-early", "", "", "", "", "", "5.033 ± 0.153", ""],
        ["half, no teacher", "", "", "", "", "", "5.533 ± 0.153", ""],
        ["teacher-early", "", "", "", "", "", "4.850 ± 0.100", ""]]


def test_front_clause():
    points = experiments.limits_points(_limits())
    assert front_clause(points) == (
        "tiny and half are on the speed/perplexity front, the fastest (tiny, 8.1x the teacher's "
        "forward speed at 8 % of its size) reaching perplexity 31.000 against the teacher's "
        "3.781")
    only_half = [{**p, "front": p["name"] in ("teacher", "half")} for p in points]
    assert front_clause(only_half).startswith("half is on the speed/perplexity front, ")
    none = [{**p, "front": p["name"] == "teacher"} for p in points]
    assert front_clause(none).startswith("no student is on the front, the fastest (tiny, ")


def test_imperfect_teacher_clause():
    assert imperfect_teacher_clause(_limits()) == (
        "from the imperfect teacher-early (perplexity 4.850 ± 0.100) the half student reached "
        "5.033 ± 0.153 against 5.533 ± 0.153 with no teacher (clearly better with it, "
        "difference -0.500 ± 0.000)")
    close = imperfect_teacher_clause(_limits(alone=(5.05, 5.1, 4.98)))
    assert close.endswith("against 5.043 ± 0.060 with no teacher (no clear difference, "
                          "difference -0.010 ± 0.096)")
