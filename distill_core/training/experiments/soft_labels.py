"""soft-labels: KD against the no-teacher baseline (same batches), over the amount of data.

    finding = f"{gap_clause(records)}; it {baseline_clause(records)}."
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training.experiments.comparisons import kd_against_baseline, paired_difference
from distill_core.training.experiments.records import Trial, distinct, quiet, train_trials, values
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import join_words, verdict
from distill_core.training.stats import plus_minus

__all__ = ["baseline_clause", "finding", "gap_clause", "gap_trend", "plan", "table"]


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """Each data size and seed: the student with the size's soft-labels settings (by default
    the default run's student, α and T), and, on the very same batches, the same student
    without the teacher (the baseline). Each seed draws its own stories, so the teacher runs
    live: a cache would be filled once and never read again."""
    config = base.replace(baseline=True, teacher_cache=False, **size.soft_labels)
    trials = [Trial({"train_docs": n, "seed": s}, config.replace(train_docs=n, seed=s))
              for n in size.train_docs for s in size.seed_range]
    return {"records": train_trials(trials, progress), "alpha": config.alpha,
            "temperature": config.temperature, "student": config.student}


def table(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for n in distinct(data["records"], "train_docs"):
        runs = {key: values(data["records"], key, train_docs=n)
                for key in ("student_ppl", "baseline_ppl", "teacher_ppl", "gap_closed_pct")}
        diff, text = kd_against_baseline(data["records"], train_docs=n)
        rows.append([n, len(runs["student_ppl"]), plus_minus(runs["student_ppl"]),
                     plus_minus(runs["baseline_ppl"]), plus_minus(runs["teacher_ppl"]),
                     plus_minus(runs["gap_closed_pct"], ".1f"), text,
                     verdict(diff, "KD clearly better", "KD clearly worse")])
    return ["train stories", "seeds", "KD student ppl", "baseline ppl (no teacher)",
            "teacher ppl", "gap closed %", "KD - baseline ppl (same seed)",
            "KD against baseline"], rows


def gap_trend(records: list[dict], first: int, last: int) -> str:
    """Whether KD closed clearly more of the gap with `first` stories than with `last`."""
    diff = paired_difference(records, {"train_docs": first}, {"train_docs": last},
                             "gap_closed_pct")[0]
    return verdict(diff, "clearly less with fewer stories", "clearly more with fewer stories")


def gap_clause(records: list[dict]) -> str:
    """'Distillation closed 40.0 ± 0.0 % of the baseline-to-teacher gap with 100 training
    stories and 0.7 ± 0.0 % with 20,000 (clearly more with fewer stories)'."""
    sizes = distinct(records, "train_docs")
    first, last = sizes[0], sizes[-1]
    gap = {n: plus_minus(values(records, "gap_closed_pct", train_docs=n), ".1f")
           for n in (first, last)}
    return (f"Distillation closed {gap[first]} % of the baseline-to-teacher gap with "
            f"{first:,} training stories and {gap[last]} % with {last:,} "
            f"({gap_trend(records, first, last)})")


def baseline_clause(records: list[dict]) -> str:
    """'beat the no-teacher baseline clearly at 100 stories and showed no clear difference from
    the baseline at 20,000 stories': the data sizes grouped by KD's verdict against baseline."""
    sizes = distinct(records, "train_docs")
    verdicts = {n: kd_against_baseline(records, train_docs=n)[0] for n in sizes}
    groups = {"beat the no-teacher baseline clearly": -1, "was clearly worse than the baseline": 1,
              "showed no clear difference from the baseline": 0,
              "was run once (spread unknown)": None}
    said = []
    for words, diff in groups.items():
        ns = [n for n in sizes if verdicts[n] == diff]
        if ns:
            said.append(f"{words} at {join_words(f'{n:,}' for n in ns)} stories")
    return join_words(said)


def finding(data: dict) -> str:
    records = data["records"]
    return f"{gap_clause(records)}; it {baseline_clause(records)}."
