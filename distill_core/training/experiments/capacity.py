"""capacity: tiny → large students from one teacher; the trained teacher against its early
snapshot (builtin:teacher-early) for the same student.

    finding = f"{retention_clause(records, teacher)}; {teachers_clause(data)}."
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training.experiments.comparisons import paired_difference
from distill_core.training.experiments.labels import EARLY_TEACHER, spec_name, student_start
from distill_core.training.experiments.records import Trial, distinct, quiet, train_trials, values
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import join_words, verdict
from distill_core.training.stats import plus_minus

__all__ = ["finding", "plan", "retention_clause", "starts_clause", "table", "teachers_clause"]


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """Every student once (seed 0) from the trained teacher: their sizes differ a lot. Then the
    compared student at every seed from both teachers, whose difference may be small. α = 0.5
    at T = 1 (the teacher cache is exact there)."""
    config = base.replace(alpha=0.5, temperature=1.0, teacher_cache=True,
                          train_docs=size.model_docs)
    student = size.compared
    trials = []
    for seed in size.seed_range:
        students = size.students if seed == 0 else (student,)
        trials += [Trial({"teacher": config.teacher, "student": s, "seed": seed},
                         config.replace(student=s, seed=seed)) for s in students]
        trials.append(Trial({"teacher": EARLY_TEACHER, "student": student, "seed": seed},
                            config.replace(teacher=EARLY_TEACHER, student=student, seed=seed)))
    return {"records": train_trials(trials, progress), "teacher": config.teacher,
            "early_teacher": EARLY_TEACHER, "student": student}


def table(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for teacher, student in distinct(data["records"], ("teacher", "student")):
        runs = {key: values(data["records"], key, teacher=teacher, student=student)
                for key in ("student_params", "student_ppl", "teacher_ppl", "retention_pct",
                            "speedup")}
        rows.append([spec_name(teacher), spec_name(student), f"{runs['student_params'][0]:,}",
                     student_start(student), len(runs["student_ppl"]),
                     plus_minus(runs["student_ppl"]), plus_minus(runs["teacher_ppl"]),
                     plus_minus(runs["retention_pct"], ".1f"),
                     f"{runs['speedup'][0]:.2f}"])  # speed: measured once per student shape
    return ["teacher", "student", "parameters", "starts from", "seeds", "student ppl",
            "teacher ppl", "retention %", "speed-up x"], rows


def starts_clause(students: list[str]) -> str:
    """' (tiny and small start from random weights, half and large from the teacher's layers)'
    when the students start differently (size is then not all that differs), else ''."""
    starts = {}
    for s in students:
        starts.setdefault(student_start(s), []).append(spec_name(s))
    if len(starts) < 2:
        return ""
    words = {"random": "random weights", "teacher layers": "the teacher's layers",
             "pretrained": "pretrained weights"}
    parts = [f"{join_words(names)} {'start ' * (i == 0)}from {words[start]}"
             for i, (start, names) in enumerate(starts.items())]
    return f" ({', '.join(parts)})"


def retention_clause(records: list[dict], teacher: str) -> str:
    """'At seed 0 the students' retention of the teacher's perplexity rose with every step up in
    size, from 0.1 % (tiny) to 43.5 % (half) (tiny start from random weights, …)': the students
    from `teacher` at seed 0, smallest first."""
    first = {r["student"]: r for r in records if r["teacher"] == teacher and r["seed"] == 0}
    students = sorted(first, key=lambda s: first[s]["student_params"])
    retention = [first[s]["retention_pct"] for s in students]
    highest = students[retention.index(max(retention))]
    trend = ("rose with every step up in size" if retention == sorted(set(retention)) else
             f"did not rise steadily with size (highest: {spec_name(highest)})")
    return (f"At seed 0 the students' retention of the teacher's perplexity {trend}, from "
            f"{retention[0]:.1f} % ({spec_name(students[0])}) to {retention[-1]:.1f} % "
            f"({spec_name(students[-1])}){starts_clause(students)}")


def teachers_clause(data: dict) -> str:
    """'the half student reached perplexity 3.100 ± 0.020 from the trained teacher against
    3.300 ± 0.030 from teacher-early (clearly better from the trained teacher, difference
    -0.200 ± 0.010)': the compared student from both teachers, seed by seed."""
    records, teacher, early = data["records"], data["teacher"], data["early_teacher"]
    student = data["student"]
    ppl = {t: values(records, "student_ppl", teacher=t, student=student) for t in (teacher, early)}
    diff, text = paired_difference(records, {"teacher": teacher, "student": student},
                                   {"teacher": early, "student": student})
    words = verdict(diff, "clearly better from the trained teacher",
                    f"clearly better from {spec_name(early)}")
    return (f"the {spec_name(student)} student reached perplexity {plus_minus(ppl[teacher])} "
            f"from the trained teacher against {plus_minus(ppl[early])} from "
            f"{spec_name(early)} ({words}, difference {text})")


def finding(data: dict) -> str:
    return f"{retention_clause(data['records'], data['teacher'])}; {teachers_clause(data)}."
