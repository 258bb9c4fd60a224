"""limits: perplexity against size and measured speed (the Pareto front), and an imperfect
teacher against no teacher at all.

    finding = f"Of the students, {front_clause(points)}; {imperfect_teacher_clause(data)}."
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training.experiments.comparisons import kd_against_baseline
from distill_core.training.experiments.labels import (EARLY_TEACHER, spec_name, student_start,
                                                      teacher_label)
from distill_core.training.experiments.records import Trial, quiet, train_trials
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import join_words, verdict
from distill_core.training.stats import mean_spread, pareto_front, plus_minus

__all__ = ["finding", "front_clause", "imperfect_teacher_clause", "limits_points", "plan",
           "table"]


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """Every student once from the trained teacher (speed and size from each run's summary),
    then the compared student from teacher-early beside its no-teacher baseline, each seed;
    α = 0.5 at T = 1 (the teacher cache is exact there)."""
    config = base.replace(alpha=0.5, temperature=1.0, teacher_cache=True, seed=0,
                          train_docs=size.model_docs)
    student = size.compared
    trials = [Trial({"teacher": config.teacher, "student": s, "seed": 0},
                    config.replace(student=s)) for s in size.students]
    trials += [Trial({"teacher": EARLY_TEACHER, "student": student, "seed": seed},
                     config.replace(teacher=EARLY_TEACHER, student=student, seed=seed,
                                    baseline=True))
               for seed in size.seed_range]
    return {"records": train_trials(trials, progress), "teacher": config.teacher,
            "early_teacher": EARLY_TEACHER, "student": student}


def limits_points(data: dict) -> list[dict]:
    """The teacher and each student from it: name, where its weights start, perplexity, forward
    speed-up, latency speed-up, size on disk as a share of the teacher's, and whether it is on
    the Pareto front of speed against perplexity."""
    students = [r for r in data["records"] if r["teacher"] == data["teacher"]]
    teacher_ppl = mean_spread([r["teacher_ppl"] for r in students])[0]
    points = [{"name": teacher_label(data["teacher"]), "ppl": teacher_ppl,
               "speedup": 1.0, "latency_speedup": 1.0, "size_pct": 100.0,
               "params": None, "start": "trained"}]
    points += [{"name": spec_name(r["student"]), "start": student_start(r["student"]),
                "ppl": r["student_ppl"],
                "speedup": r["speedup"], "latency_speedup": r["latency_speedup"],
                "size_pct": 100 * r["size_ratio"], "params": r["student_params"]}
               for r in students]
    front = set(pareto_front([(p["speedup"], p["ppl"]) for p in points]))
    return [{**p, "front": i in front} for i, p in enumerate(points)]


def early_records(data: dict) -> list[dict]:
    """The runs from the imperfect (early) teacher."""
    return [r for r in data["records"] if r["teacher"] == data["early_teacher"]]


def table(data: dict) -> tuple[list[str], list[list]]:
    rows = [[p["name"], f"{p['params']:,}" if p["params"] else "-", p["start"],
             f"{p['size_pct']:.0f}", f"{p['speedup']:.2f}", f"{p['latency_speedup']:.2f}",
             f"{p['ppl']:.3f}", "yes" if p["front"] else "no"] for p in limits_points(data)]
    early = early_records(data)
    name = spec_name(data["student"])
    for label, key in ((f"{name} from {spec_name(data['early_teacher'])}", "student_ppl"),
                       (f"{name}, no teacher", "baseline_ppl"),
                       (teacher_label(data["early_teacher"]), "teacher_ppl")):
        rows.append([label, "", "", "", "", "", plus_minus([r[key] for r in early]), ""])
    return ["model", "parameters", "starts from", "size %", "speed-up x",
            "latency speed-up x", "perplexity", "on the front"], rows


def front_clause(points: list[dict]) -> str:
    """'tiny and half are on the speed/perplexity front, the fastest (tiny, 8.1x the teacher's
    forward speed at 8 % of its size) reaching perplexity 31.000 against the teacher's 3.781':
    `points` from limits_points, the teacher first."""
    front = [p for p in points[1:] if p["front"]]
    fastest = max(points[1:], key=lambda p: p["speedup"])
    on_front = (f"{join_words(p['name'] for p in front)} {'is' if len(front) == 1 else 'are'} "
                "on the speed/perplexity front" if front else "no student is on the front")
    return (f"{on_front}, the fastest ({fastest['name']}, {fastest['speedup']:.1f}x the "
            f"teacher's forward speed at {fastest['size_pct']:.0f} % of its size) reaching "
            f"perplexity {fastest['ppl']:.3f} against the teacher's {points[0]['ppl']:.3f}")


def imperfect_teacher_clause(data: dict) -> str:
    """'from the imperfect teacher-early (perplexity 4.752 ± 1.300) the half student reached
    6.054 ± 1.815 against 6.213 ± 1.849 with no teacher (clearly better with it, difference
    -0.159 ± 0.033)'."""
    early = early_records(data)
    diff, text = kd_against_baseline(early)
    words = verdict(diff, "clearly better with it", "clearly worse with it")
    return (f"from the imperfect {spec_name(data['early_teacher'])} (perplexity "
            f"{plus_minus([r['teacher_ppl'] for r in early])}) the "
            f"{spec_name(data['student'])} student reached "
            f"{plus_minus([r['student_ppl'] for r in early])} against "
            f"{plus_minus([r['baseline_ppl'] for r in early])} with no teacher "
            f"({words}, difference {text})")


def finding(data: dict) -> str:
    return (f"Of the students, {front_clause(limits_points(data))}; "
            f"{imperfect_teacher_clause(data)}.")
