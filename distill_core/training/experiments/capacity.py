"""capacity: tiny → large students from one teacher; the trained teacher against its early
snapshot (builtin:teacher-early) for the compared student and for the smallest one.

Every student gets a start where it learns: presets cut from the teacher start from its layers;
those that start from random weights (narrower than the teacher) also learn the teacher's hidden
states through a projection (hidden_weight, live teacher) for more steps (`Size.from_random`).
SmolLM2-135M is not among the teachers: its tokenizer is not the built-in students' one.

    finding = f"{retention_clause(records, teacher)}; {teachers_clause(data)}"
              f"[; {teachers_clause(data, smallest)}]."
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training.experiments.comparisons import paired_difference
from distill_core.training.experiments.labels import EARLY_TEACHER, spec_name, student_start
from distill_core.training.experiments.records import Trial, distinct, quiet, train_trials, values
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import join_words, verdict
from distill_core.training.stats import plus_minus

__all__ = ["budget", "finding", "plan", "retention_clause", "starts_clause", "student_config",
           "table", "teachers_clause"]


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """Every student once (seed 0) from the trained teacher: their sizes differ a lot. Then the
    compared student and the smallest one at every seed from both teachers, whose difference
    may be small. α = 0.5 at T = 1 (the teacher cache is exact there)."""
    config = base.replace(alpha=0.5, temperature=1.0, teacher_cache=True,
                          train_docs=size.model_docs)
    smallest = size.students[0]
    both = tuple(dict.fromkeys((size.compared, smallest)))  # from both teachers, every seed
    trials = []
    for seed in size.seed_range:
        students = size.students if seed == 0 else both
        trials += [Trial({"teacher": config.teacher, "student": s, "seed": seed},
                         student_config(config, s, size).replace(seed=seed)) for s in students]
        trials += [Trial({"teacher": EARLY_TEACHER, "student": s, "seed": seed},
                         student_config(config, s, size).replace(teacher=EARLY_TEACHER,
                                                                 seed=seed)) for s in both]
    return {"records": train_trials(trials, progress), "teacher": config.teacher,
            "early_teacher": EARLY_TEACHER, "student": size.compared, "smallest": smallest,
            "budgets": {s: budget(student_config(config, s, size)) for s in size.students}}


def student_config(config: DistillConfig, student: str, size: Size) -> DistillConfig:
    """The settings `student` trains with: a student from random weights also learns the
    teacher's hidden states (live teacher: they are not cached) for more steps."""
    config = config.replace(student=student)
    if student_start(student) != "random":
        return config
    return config.replace(teacher_cache=False, **size.from_random)


def budget(config: DistillConfig) -> str:
    """'40 steps' or '160 steps + hidden states'."""
    return f"{config.steps} steps" + (" + hidden states" if config.hidden_weight > 0 else "")


def table(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for teacher, student in distinct(data["records"], ("teacher", "student")):
        runs = {key: values(data["records"], key, teacher=teacher, student=student)
                for key in ("student_params", "student_ppl", "teacher_ppl", "retention_pct",
                            "speedup")}
        start = student_start(student)
        if student in data.get("budgets", {}):
            start += f", {data['budgets'][student]}"
        rows.append([spec_name(teacher), spec_name(student), f"{runs['student_params'][0]:,}",
                     start, len(runs["student_ppl"]),
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


def teachers_clause(data: dict, student: str | None = None) -> str:
    """'the half student reached perplexity 3.100 ± 0.020 from the trained teacher against
    3.300 ± 0.030 from teacher-early (clearly better from the trained teacher, difference
    -0.200 ± 0.010)': the compared student from both teachers, seed by seed."""
    records, teacher, early = data["records"], data["teacher"], data["early_teacher"]
    student = student or data["student"]
    ppl = {t: values(records, "student_ppl", teacher=t, student=student) for t in (teacher, early)}
    diff, text = paired_difference(records, {"teacher": teacher, "student": student},
                                   {"teacher": early, "student": student})
    words = verdict(diff, "clearly better from the trained teacher",
                    f"clearly better from {spec_name(early)}")
    return (f"the {spec_name(student)} student reached perplexity {plus_minus(ppl[teacher])} "
            f"from the trained teacher against {plus_minus(ppl[early])} from "
            f"{spec_name(early)} ({words}, difference {text})")


def finding(data: dict) -> str:
    text = f"{retention_clause(data['records'], data['teacher'])}; {teachers_clause(data)}"
    smallest = data.get("smallest")
    if smallest and smallest != data["student"] and values(
            data["records"], "student_ppl", teacher=data["early_teacher"], student=smallest):
        text += f"; for the smallest, {teachers_clause(data, smallest)}"
    return text + "."
