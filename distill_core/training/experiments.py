"""Experiments: the lesson's five claims about distillation, each tested by runs on this machine.

    result = run("temperature")      # plans, trains, writes its result folder, returns it
    result["header"], result["rows"], result["finding"]

An experiment plans its runs from a base DistillConfig and a size ("default": minutes on a
2-core CPU; "tiny": seconds, for tests), trains them one after another, sharing what can be
shared (one loaded teacher and data while runs share them, the teacher cache, speeds measured
once per student shape), and keeps one record per run: its labels and its summary's numbers.
Its table and its one-sentence finding are pure functions of those records, so the sentence is
computed from the numbers, never written in advance.

    soft-labels   KD against the no-teacher baseline (same batches) at several data sizes
    temperature   the student's perplexity over T at fixed α, beside the teacher's entropy and
                  top-k probability mass over T (one teacher pass on validation text)
    capacity      tiny → large students from one teacher; the trained teacher against its
                  early snapshot (builtin:teacher-early) for the same student
    tuning        the α × T grid and a no-teacher reference, its best two cells repeated
    limits        perplexity against size and measured speed (the Pareto front), and an
                  imperfect teacher against no teacher at all

The teacher cache serves the experiments that train at T = 1, where its top-k tokens and one
"rest" bucket give the teacher's probabilities exactly; temperature and tuning, which train at
T up to 8, run the teacher live, since at T = 4 the built-in teacher's top 64 tokens hold only
about a sixth of its softened probability and the cache would have to guess the rest.

Runs repeated over seeds (each seed draws its own data, batch order and initial weights) are
reported as mean ± spread, the spread being the sample standard deviation; two groups differ
"clearly" only when their mean ± spread intervals do not overlap (`stats.py`).

A result folder, <runs root>/_experiments/<name>-<timestamp>/:

    status.json    {"state": "running" | "done" | "failed", "pid", "error"}
    result.json    name, size, claim, header, rows, finding, data (the records and what
                   else the table, finding and figure read), wall_seconds, created, machine
    table.csv      the printed table
    finding.txt    the one sentence
    figure.html    (and figure.png) drawn by distill_core.app.experiment_figures
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.files import atomic_write_json, atomic_write_text
from distill_core.kd.losses import entropy, soften
from distill_core.store.runs import _now, runs_root
from distill_core.training.precision import cpu_model
from distill_core.training.stats import clear_difference, mean_spread, pareto_front, plus_minus

__all__ = ["CLAIMS", "EARLY_TEACHER", "EXPERIMENTS", "NAMES", "SIZES", "Trial", "best_cells",
           "get", "limits_points", "list_results", "load_result", "new_folder", "run",
           "student_start", "summarize", "teacher_profile", "train_trials", "write_status"]

NAMES = ("soft-labels", "temperature", "capacity", "tuning", "limits")
EARLY_TEACHER = "builtin:teacher-early"
FOLDER = "_experiments"  # under the runs root; not a run id, so never listed as a run
_STAMP = re.compile(r"\d{8}-\d{6}")
KEEP = ("student_ppl", "baseline_ppl", "teacher_ppl", "gap_closed_pct", "retention_pct",
        "agreement", "speedup", "latency_speedup", "student_params", "size_ratio",
        "wall_seconds")

CLAIMS = {
    "soft-labels": "Soft labels help most when data is scarce: against the same student trained "
                   "without a teacher on the same batches, distillation closes more of the gap "
                   "to the teacher with fewer training stories.",
    "temperature": "Temperature matters: softening the teacher (T > 1) shows the student which "
                   "wrong answers are plausible, until the soft labels grow too flat to teach.",
    "capacity": "A student can only hold what its size allows, and learns more from a better "
                "teacher.",
    "tuning": "α and T interact: the best mix of soft and hard labels depends on the "
              "temperature, and is found by searching the grid.",
    "limits": "Distillation trades quality for speed and size, and it cannot make a student "
              "better than its teacher's knowledge: an imperfect teacher limits it.",
}

# Sizes: the fields every run gets, how many seeds, each grid's values and which students.
# "soft_labels" are the settings of the soft-labels runs: the default run's student, α and T,
# with fewer steps (a default run is 150 steps of 16 x 128 tokens on 300 stories);
# "distilled" those of the temperature and tuning runs, which vary α and T around them (300
# stories: soft labels matter most where data is scarce). "compared" is the student trained
# from both teachers in capacity and limits, which train on "model_docs" stories: they compare
# models, not amounts of data, and a smaller corpus loads faster each time the teacher or the
# seed changes (a run there reads 40 x 10 sequences, half of the ~800 that 1,000 stories make).
SIZES = {
    "default": {"config": dict(steps=40, batch_size=10, seq_len=128, warmup=8, eval_every=0,
                               eval_blocks=96),
                "soft_labels": dict(student="builtin:half", alpha=0.5, temperature=2.0,
                                    steps=80, batch_size=16, warmup=8),
                "distilled": dict(student="builtin:half", steps=80, batch_size=16, warmup=8,
                                  train_docs=300),
                "seeds": 3, "train_docs": (300, 3000, 20000), "temperatures": (1.0, 2.0, 4.0, 8.0),
                "alphas": (0.5, 0.9), "grid_temperatures": (1.0, 2.0, 4.0),
                "students": ("builtin:tiny", "builtin:small", "builtin:half", "builtin:large"),
                "compared": "builtin:half", "model_docs": 1000},
    "tiny": {"config": dict(steps=2, batch_size=4, seq_len=32, warmup=0, eval_every=0,
                            eval_blocks=4, train_docs=100, precision="fp32", top_k=8),
             "soft_labels": dict(student="builtin:small", alpha=0.9, temperature=1.0),
             "distilled": dict(student="builtin:small"),
             "seeds": 2, "train_docs": (100, 200), "temperatures": (1.0, 4.0),
             "alphas": (0.9,), "grid_temperatures": (1.0, 4.0),
             "students": ("builtin:tiny", "builtin:half"),
             "compared": "builtin:half", "model_docs": 100},
}


def _progress_none(line: str) -> None:
    pass


# ---------------------------------------------------------------------------------------------
# Training the runs of a plan


@dataclass
class Trial:
    """One run of an experiment: what varies (its labels, e.g. {"train_docs": 100, "seed": 0})
    and its whole config."""

    labels: dict
    config: DistillConfig


def _describe(labels: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in labels.items())


def train_trials(trials: list[Trial], progress=_progress_none, prepared=None) -> list[dict]:
    """Train each trial in order, not stored as runs; returns one record per trial: its labels
    and the summary numbers named in KEEP. Consecutive trials with the same teacher and data
    share one loaded Prepared (and so one teacher cache); trials with the same teacher share the
    speeds measured once per student shape."""
    from distill_core.training.loop import distill, prepare

    speeds, records = {}, []
    for i, trial in enumerate(trials, 1):
        prepared = prepare(trial.config, prepared)
        prepared.speeds = speeds.setdefault(trial.config.teacher, prepared.speeds)
        summary = distill(trial.config, store=False, prepared=prepared).summary
        records.append({**trial.labels, **{k: summary.get(k) for k in KEEP}})
        progress(f"[{i}/{len(trials)}] {_describe(trial.labels)}: student perplexity "
                 f"{summary['student_ppl']:.3f} ({summary['wall_seconds']:.0f} s)")
    return records


def _values(records: list[dict], key: str, **where) -> list[float]:
    """`key` of the records matching every `where` label, Nones left out."""
    return [r[key] for r in records
            if all(r.get(k) == v for k, v in where.items()) and r.get(key) is not None]


def _seeds(size: dict) -> range:
    return range(size["seeds"])


def _spec_name(spec: str) -> str:
    return spec.split(":", 1)[1] if spec.startswith("builtin:") else spec


def _teacher_label(spec: str) -> str:
    """'teacher', 'teacher-early' for the built-in ones; 'owner/model (teacher)' otherwise."""
    name = _spec_name(spec)
    return name if name.startswith("teacher") else f"{name} (teacher)"


def _verdict(diff: int | None, lower: str, higher: str) -> str:
    """Words for clear_difference: -1 -> `lower`, 1 -> `higher`."""
    return {-1: lower, 1: higher, 0: "no clear difference", None: "one run each"}[diff]


def _ordered(records: list[dict], key) -> list:
    """The distinct values of `key` (a label, or a tuple of labels) in the records, in
    first-seen order."""
    if isinstance(key, tuple):
        return list(dict.fromkeys(tuple(r[k] for k in key) for r in records))
    return list(dict.fromkeys(r[key] for r in records))


def _join(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _best(records: list[dict], key, metric: str = "student_ppl"):
    """The value of `key` (a label, or a tuple of labels) whose runs have the lowest mean
    `metric`."""
    means = {v: mean_spread(_values(records, metric, **_where(key, v)))[0]
             for v in _ordered(records, key) if _values(records, metric, **_where(key, v))}
    return min(means, key=means.get)


def _where(key, value) -> dict:
    return dict(zip(key, value)) if isinstance(key, tuple) else {key: value}


def _compare(records: list[dict], a: dict, b: dict, metric: str = "student_ppl",
             metric_b: str | None = None) -> tuple[int | None, str]:
    """The runs matching labels `a` against those matching `b`, seed by seed (the seeds both
    have: a seed draws the same data and validation text for both): (clear_difference of the
    pairs, the difference a − b as '+mean ± spread')."""
    xa, xb = _by_seed(records, metric, **a), _by_seed(records, metric_b or metric, **b)
    seeds = sorted(set(xa) & set(xb))
    a_values, b_values = [xa[s] for s in seeds], [xb[s] for s in seeds]
    diffs = [x - y for x, y in zip(a_values, b_values)]
    text = plus_minus(diffs)
    sign = "+" if diffs and mean_spread(diffs)[0] > 0 else ""
    return clear_difference(a_values, b_values, paired=True), sign + text


def _by_seed(records: list[dict], metric: str, **where) -> dict:
    return {r["seed"]: r[metric] for r in records
            if all(r.get(k) == v for k, v in where.items()) and r.get(metric) is not None}


def _against_best(records: list[dict], key, best, metric: str = "student_ppl") -> dict:
    """{value of `key`: (verdict, difference from the best seed by seed)} for every other
    value."""
    against = {}
    for value in _ordered(records, key):
        if value != best:
            diff, text = _compare(records, _where(key, value), _where(key, best), metric)
            against[value] = (_verdict(diff, "clearly lower", "clearly higher"), text)
    return against


def _against_text(against: dict, value) -> str:
    """A table cell: 'best', or 'clearly higher (+0.210 ± 0.030)'."""
    return f"{against[value][0]} ({against[value][1]})" if value in against else "best"


def _others_clause(against: dict, name) -> str:
    """'clearly below every other T' / 'with no clear difference from T = 2 and 4' / …"""
    ties = [name(v) for v, (words, _) in against.items() if words == "no clear difference"]
    unknown = [name(v) for v, (words, _) in against.items() if words == "one run each"]
    if unknown:
        return f"against {_join(unknown)} after one run each (spread unknown)"
    if ties:
        return f"with no clear difference from {_join(ties)}"
    return "clearly below every other setting"


# ---------------------------------------------------------------------------------------------
# soft-labels: KD against the no-teacher baseline, over the amount of training data


def _run_soft_labels(base: DistillConfig, size: dict, progress, root) -> dict:
    """Each data size and seed: the student with the size's soft-labels settings (by default
    the default run's student, α and T), and, on the very same batches, the same student
    without the teacher (the baseline). Each seed draws its own stories, so the teacher runs
    live: a cache would be filled once and never read again."""
    config = base.replace(baseline=True, teacher_cache=False, **size["soft_labels"])
    trials = [Trial({"train_docs": n, "seed": s}, config.replace(train_docs=n, seed=s))
              for n in size["train_docs"] for s in _seeds(size)]
    return {"records": train_trials(trials, progress), "alpha": config.alpha,
            "temperature": config.temperature, "student": config.student}


def _table_soft_labels(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for n in _ordered(data["records"], "train_docs"):
        runs = {key: _values(data["records"], key, train_docs=n)
                for key in ("student_ppl", "baseline_ppl", "teacher_ppl", "gap_closed_pct")}
        diff, text = _kd_against_baseline(data["records"], train_docs=n)
        rows.append([n, len(runs["student_ppl"]), plus_minus(runs["student_ppl"]),
                     plus_minus(runs["baseline_ppl"]), plus_minus(runs["teacher_ppl"]),
                     plus_minus(runs["gap_closed_pct"], ".1f"), text,
                     _verdict(diff, "KD clearly better", "KD clearly worse")])
    return ["train stories", "seeds", "KD student ppl", "baseline ppl (no teacher)",
            "teacher ppl", "gap closed %", "KD - baseline ppl (same seed)",
            "KD against baseline"], rows


def _kd_against_baseline(records: list[dict], **where) -> tuple[int | None, str]:
    """The KD student against its baseline, trained side by side on the same batches."""
    return _compare(records, where, where, "student_ppl", "baseline_ppl")


def _finding_soft_labels(data: dict) -> str:
    records, sizes = data["records"], _ordered(data["records"], "train_docs")
    first, last = sizes[0], sizes[-1]
    gap = {n: plus_minus(_values(records, "gap_closed_pct", train_docs=n), ".1f") for n in sizes}
    verdicts = {n: _kd_against_baseline(records, train_docs=n)[0] for n in sizes}
    groups = {"beat the no-teacher baseline clearly": [n for n in sizes if verdicts[n] == -1],
              "was clearly worse than the baseline": [n for n in sizes if verdicts[n] == 1],
              "showed no clear difference from the baseline": [n for n in sizes
                                                               if verdicts[n] == 0],
              "was run once (spread unknown)": [n for n in sizes if verdicts[n] is None]}
    said = [f"{words} at {_join(f'{n:,}' for n in ns)} stories"
            for words, ns in groups.items() if ns]
    trend = _verdict(_compare(records, {"train_docs": first}, {"train_docs": last},
                              "gap_closed_pct")[0], "clearly less with fewer stories",
                     "clearly more with fewer stories")
    return (f"Distillation closed {gap[first]} % of the baseline-to-teacher gap with "
            f"{first:,} training stories and {gap[last]} % with {last:,} ({trend}); it "
            f"{_join(said)}.")


# ---------------------------------------------------------------------------------------------
# temperature: the student over T at fixed α, beside the teacher's softened distribution


@torch.inference_mode()
def teacher_profile(teacher, tokenizer, blocks: torch.Tensor, temperatures, k: int,
                    batch: int = 16) -> list[dict]:
    """The teacher's next-token distribution on `blocks` (N, L) softened at each T: mean entropy
    (nats) and mean probability of its k most likely tokens, one forward pass for all T."""
    was = teacher.training
    teacher.eval()
    rows = min(len(tokenizer), teacher.get_output_embeddings().weight.shape[0])
    sums = {t: [0.0, 0.0] for t in temperatures}
    count = 0
    for i in range(0, len(blocks), batch):
        logits = models.next_token_logits(teacher, blocks[i:i + batch], rows).float()  # (b, L-1, V)
        for t in temperatures:
            sums[t][0] += entropy(logits, t).sum().item()
            sums[t][1] += soften(logits, t).topk(min(k, rows), dim=-1).values.sum(-1).sum().item()
        count += logits.shape[0] * logits.shape[1]
    teacher.train(was)
    return [{"temperature": t, "entropy": h / count, "top_k_mass": m / count}
            for t, (h, m) in sums.items()]


def _run_temperature(base: DistillConfig, size: dict, progress, root) -> dict:
    """α = 0.9 (mostly soft labels), each T and seed, the teacher live: a top-k cache keeps only
    a small share of the teacher's softened probability at large T (the profile's top-k mass)."""
    from distill_core.training.loop import prepare

    config = base.replace(alpha=0.9, teacher_cache=False, **size["distilled"])
    trials = [Trial({"temperature": t, "seed": s}, config.replace(temperature=t, seed=s))
              for s in _seeds(size) for t in size["temperatures"]]
    prepared = prepare(trials[0].config)
    profile = teacher_profile(prepared.teacher, prepared.tokenizer,
                              prepared.val_blocks[:config.eval_blocks], size["temperatures"],
                              config.top_k)
    progress(f"teacher profile over T on {min(config.eval_blocks, len(prepared.val_blocks))} "
             "validation blocks done")
    return {"records": train_trials(trials, progress, prepared), "teacher": profile,
            "alpha": 0.9, "top_k": config.top_k, "student": config.student}


def _table_temperature(data: dict) -> tuple[list[str], list[list]]:
    records = data["records"]
    best = _best(records, "temperature")
    against = _against_best(records, "temperature", best)
    rows = [[f"{p['temperature']:g}", len(_values(records, "student_ppl",
                                                  temperature=p["temperature"])),
             plus_minus(_values(records, "student_ppl", temperature=p["temperature"])),
             f"{p['entropy']:.3f}", f"{100 * p['top_k_mass']:.1f}",
             _against_text(against, p["temperature"])] for p in data["teacher"]]
    return ["T", "seeds", "student ppl", "teacher entropy (nats)",
            f"teacher top-{data['top_k']} mass %",
            "against the best T (difference, same seed)"], rows


def _finding_temperature(data: dict) -> str:
    records, profile = data["records"], data["teacher"]
    best = _best(records, "temperature")
    others = _others_clause(_against_best(records, "temperature", best),
                            lambda t: f"T = {t:g}")
    lo, hi = profile[0], profile[-1]
    return (f"At α = {data['alpha']:g} the student's perplexity was lowest at T = {best:g} "
            f"({plus_minus(_values(records, 'student_ppl', temperature=best))}), {others}, "
            f"while from T = {lo['temperature']:g} to {hi['temperature']:g} the teacher's "
            f"entropy went from {lo['entropy']:.2f} to {hi['entropy']:.2f} nats and its "
            f"top-{data['top_k']} mass from {100 * lo['top_k_mass']:.1f} % to "
            f"{100 * hi['top_k_mass']:.1f} %.")


# ---------------------------------------------------------------------------------------------
# capacity: students of growing size from one teacher; a trained against an early teacher


def _run_capacity(base: DistillConfig, size: dict, progress, root) -> dict:
    """Every student once (seed 0) from the trained teacher: their sizes differ a lot. Then the
    compared student at every seed from both teachers, whose difference may be small. α = 0.5
    at T = 1 (the teacher cache is exact there)."""
    config = base.replace(alpha=0.5, temperature=1.0, teacher_cache=True,
                          train_docs=size["model_docs"])
    student = size["compared"]
    trials = []
    for seed in _seeds(size):
        students = size["students"] if seed == 0 else (student,)
        trials += [Trial({"teacher": config.teacher, "student": s, "seed": seed},
                         config.replace(student=s, seed=seed)) for s in students]
        trials.append(Trial({"teacher": EARLY_TEACHER, "student": student, "seed": seed},
                            config.replace(teacher=EARLY_TEACHER, student=student, seed=seed)))
    return {"records": train_trials(trials, progress), "teacher": config.teacher,
            "early_teacher": EARLY_TEACHER, "student": student}


def _table_capacity(data: dict) -> tuple[list[str], list[list]]:
    rows = []
    for teacher, student in _ordered(data["records"], ("teacher", "student")):
        runs = {key: _values(data["records"], key, teacher=teacher, student=student)
                for key in ("student_params", "student_ppl", "teacher_ppl", "retention_pct",
                            "speedup")}
        rows.append([_spec_name(teacher), _spec_name(student), f"{runs['student_params'][0]:,}",
                     student_start(student), len(runs["student_ppl"]),
                     plus_minus(runs["student_ppl"]), plus_minus(runs["teacher_ppl"]),
                     plus_minus(runs["retention_pct"], ".1f"),
                     f"{runs['speedup'][0]:.2f}"])  # speed: measured once per student shape
    return ["teacher", "student", "parameters", "starts from", "seeds", "student ppl",
            "teacher ppl", "retention %", "speed-up x"], rows


def student_start(student: str) -> str:
    """Where a student's weights start: 'random', 'teacher layers' (presets), 'pretrained'."""
    preset = models.PRESETS.get(_spec_name(student)) if student.startswith("builtin:") else None
    return ("pretrained" if preset is None else
            "random" if preset["init"] == "random" else "teacher layers")


def _finding_capacity(data: dict) -> str:
    records, teacher, early = data["records"], data["teacher"], data["early_teacher"]
    first = {r["student"]: r for r in records if r["teacher"] == teacher and r["seed"] == 0}
    students = sorted(first, key=lambda s: first[s]["student_params"])  # seed 0: all of them
    retention = [first[s]["retention_pct"] for s in students]
    highest = students[retention.index(max(retention))]
    trend = ("rose with every step up in size" if retention == sorted(set(retention)) else
             f"did not rise steadily with size (highest: {_spec_name(highest)})")
    ppl = {t: _values(records, "student_ppl", teacher=t, student=data["student"])
           for t in (teacher, early)}
    diff, text = _compare(records, {"teacher": teacher, "student": data["student"]},
                          {"teacher": early, "student": data["student"]})
    diff = (_verdict(diff, "clearly better from the trained teacher",
                     f"clearly better from {_spec_name(early)}") + f", difference {text}")
    return (f"At seed 0 the students' retention of the teacher's perplexity {trend}, from "
            f"{retention[0]:.1f} % ({_spec_name(students[0])}) to {retention[-1]:.1f} % "
            f"({_spec_name(students[-1])}){_starts_clause(students)}; the "
            f"{_spec_name(data['student'])} student reached "
            f"perplexity {plus_minus(ppl[teacher])} from the trained teacher against "
            f"{plus_minus(ppl[early])} from {_spec_name(early)} ({diff}).")


def _starts_clause(students: list[str]) -> str:
    """' (tiny and small start from random weights, half and large from the teacher's layers)'
    when the students start differently (size is then not all that differs), else ''."""
    starts = {}
    for s in students:
        starts.setdefault(student_start(s), []).append(_spec_name(s))
    if len(starts) < 2:
        return ""
    words = {"random": "random weights", "teacher layers": "the teacher's layers",
             "pretrained": "pretrained weights"}
    parts = [f"{_join(names)} {'start ' * (i == 0)}from {words[start]}"
             for i, (start, names) in enumerate(starts.items())]
    return f" ({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# tuning: the α × T grid, then its best two cells over more seeds


def _run_tuning(base: DistillConfig, size: dict, progress, root) -> dict:
    """The α × T grid at seed 0 and the no-teacher reference (α = 0, where T does nothing),
    then the best two cells again at the other seeds, so the winner is tested against the
    runner-up rather than against the noise. The teacher runs live: a top-k cache keeps only
    part of its softened probability at large T, which would bend the high-T cells."""
    config = base.replace(seed=0, teacher_cache=False, **size["distilled"])
    cells = [(0.0, 1.0)] + [(a, t) for a in size["alphas"] for t in size["grid_temperatures"]]
    trials = [Trial({"alpha": a, "temperature": t, "seed": 0},
                    config.replace(alpha=a, temperature=t)) for a, t in cells]
    records = train_trials(trials, progress)
    ranked = sorted(records, key=lambda r: r["student_ppl"])[:2]
    trials = [Trial({"alpha": r["alpha"], "temperature": r["temperature"], "seed": s},
                    config.replace(alpha=r["alpha"], temperature=r["temperature"], seed=s))
              for s in list(_seeds(size))[1:] for r in ranked]
    records += train_trials(trials, progress)
    return {"records": records, "student": config.student,
            "repeated": [[r["alpha"], r["temperature"]] for r in ranked]}


def best_cells(data: dict) -> tuple[tuple, tuple | None]:
    """(best, runner-up) of a tuning result: of the cells repeated over seeds (the grid's best
    two at seed 0), the one with the lower mean student perplexity first."""
    repeated = [tuple(c) for c in data["repeated"]]
    best = _best([r for r in data["records"]
                  if (r["alpha"], r["temperature"]) in repeated], ("alpha", "temperature"))
    return best, next((c for c in repeated if c != best), None)


def _table_tuning(data: dict) -> tuple[list[str], list[list]]:
    records, key = data["records"], ("alpha", "temperature")
    grid = [r for r in records if r["seed"] == 0]
    best, runner = best_cells(data)
    against = _against_best(records, key, best)
    rows = []
    for cell in sorted(_ordered(grid, key)):
        at_0 = next(r for r in grid if (r["alpha"], r["temperature"]) == cell)
        ppl = _values(records, "student_ppl", **_where(key, cell))
        repeated = cell in (best, runner)
        rows.append([f"{cell[0]:g}", f"{cell[1]:g}", f"{at_0['student_ppl']:.3f}",
                     f"{100 * at_0['agreement']:.1f}",
                     f"{plus_minus(ppl)} ({len(ppl)} seeds)" if repeated else "-",
                     _against_text(against, cell) if repeated else ""])
    return ["alpha", "T", "student ppl, seed 0", "agreement %, seed 0",
            "student ppl over seeds", "against the best (difference, same seed)"], rows


def _finding_tuning(data: dict) -> str:
    records, key = data["records"], ("alpha", "temperature")
    best, runner = best_cells(data)
    name = lambda c: f"α = {c[0]:g}, T = {c[1]:g}"  # noqa: E731
    best_ppl = _values(records, "student_ppl", **_where(key, best))
    text = (f"The best cell of the α × T grid was {name(best)} (student perplexity "
            f"{plus_minus(best_ppl)} over {len(best_ppl)} seed{'s' * (len(best_ppl) > 1)})")
    if runner is not None:
        words = {"clearly higher": "clearly better than", "clearly lower": "clearly worse than",
                 "no clear difference": "with no clear difference from",
                 "one run each": "after one run each, against"}
        verdict = words[_against_best(records, key, best)[runner][0]]
        text += (f", {verdict} the runner-up {name(runner)} "
                 f"({plus_minus(_values(records, 'student_ppl', **_where(key, runner)))})")
    no_teacher = _values(records, "student_ppl", alpha=0.0, seed=0)
    if no_teacher and best[0] != 0.0:  # at α = 0 every T trains the same run
        at_0 = _values(records, "student_ppl", seed=0, **_where(key, best))[0]
        text += (f"; at seed 0 it reached {at_0:.3f} against {no_teacher[0]:.3f} with no "
                 "teacher (α = 0)")
    return text + "."


# ---------------------------------------------------------------------------------------------
# limits: perplexity against size and speed; an imperfect teacher against no teacher


def _run_limits(base: DistillConfig, size: dict, progress, root) -> dict:
    """Every student once from the trained teacher (speed and size from each run's summary),
    then the compared student from teacher-early beside its no-teacher baseline, each seed;
    α = 0.5 at T = 1 (the teacher cache is exact there)."""
    config = base.replace(alpha=0.5, temperature=1.0, teacher_cache=True, seed=0,
                          train_docs=size["model_docs"])
    student = size["compared"]
    trials = [Trial({"teacher": config.teacher, "student": s, "seed": 0},
                    config.replace(student=s)) for s in size["students"]]
    trials += [Trial({"teacher": EARLY_TEACHER, "student": student, "seed": seed},
                     config.replace(teacher=EARLY_TEACHER, student=student, seed=seed,
                                    baseline=True))
               for seed in _seeds(size)]
    return {"records": train_trials(trials, progress), "teacher": config.teacher,
            "early_teacher": EARLY_TEACHER, "student": student}


def limits_points(data: dict) -> list[dict]:
    """The teacher and each student from it: name, where its weights start, perplexity, forward
    speed-up, latency speed-up, size on disk as a share of the teacher's, and whether it is on
    the Pareto front of speed against perplexity."""
    students = [r for r in data["records"] if r["teacher"] == data["teacher"]]
    teacher_ppl = mean_spread([r["teacher_ppl"] for r in students])[0]
    points = [{"name": _teacher_label(data["teacher"]), "ppl": teacher_ppl,
               "speedup": 1.0, "latency_speedup": 1.0, "size_pct": 100.0,
               "params": None, "start": "trained"}]
    points += [{"name": _spec_name(r["student"]), "start": student_start(r["student"]),
                "ppl": r["student_ppl"],
                "speedup": r["speedup"], "latency_speedup": r["latency_speedup"],
                "size_pct": 100 * r["size_ratio"], "params": r["student_params"]}
               for r in students]
    front = set(pareto_front([(p["speedup"], p["ppl"]) for p in points]))
    return [{**p, "front": i in front} for i, p in enumerate(points)]


def _table_limits(data: dict) -> tuple[list[str], list[list]]:
    rows = [[p["name"], f"{p['params']:,}" if p["params"] else "-", p["start"],
             f"{p['size_pct']:.0f}", f"{p['speedup']:.2f}", f"{p['latency_speedup']:.2f}",
             f"{p['ppl']:.3f}", "yes" if p["front"] else "no"] for p in limits_points(data)]
    early = [r for r in data["records"] if r["teacher"] == data["early_teacher"]]
    name = _spec_name(data["student"])
    for label, key in ((f"{name} from {_spec_name(data['early_teacher'])}", "student_ppl"),
                       (f"{name}, no teacher", "baseline_ppl"),
                       (_teacher_label(data["early_teacher"]), "teacher_ppl")):
        rows.append([label, "", "", "", "", "", plus_minus([r[key] for r in early]), ""])
    return ["model", "parameters", "starts from", "size %", "speed-up x",
            "latency speed-up x", "perplexity", "on the front"], rows


def _finding_limits(data: dict) -> str:
    points = limits_points(data)
    front = [p for p in points[1:] if p["front"]]
    fastest = max(points[1:], key=lambda p: p["speedup"])
    early = [r for r in data["records"] if r["teacher"] == data["early_teacher"]]
    kd, alone = [r["student_ppl"] for r in early], [r["baseline_ppl"] for r in early]
    diff, text = _kd_against_baseline(early)
    verdict = (_verdict(diff, "clearly better with it", "clearly worse with it")
               + f", difference {text}")
    on_front = (f"{_join(p['name'] for p in front)} {'is' if len(front) == 1 else 'are'} "
                "on the speed/perplexity front" if front else "no student is on the front")
    return (f"Of the students, {on_front}, the fastest ({fastest['name']}, "
            f"{fastest['speedup']:.1f}x the teacher's forward speed at "
            f"{fastest['size_pct']:.0f} % of its size) reaching perplexity "
            f"{fastest['ppl']:.3f} against the teacher's {points[0]['ppl']:.3f}; from the "
            f"imperfect {_spec_name(data['early_teacher'])} (perplexity "
            f"{plus_minus([r['teacher_ppl'] for r in early])}) the "
            f"{_spec_name(data['student'])} student reached {plus_minus(kd)} against "
            f"{plus_minus(alone)} with no teacher ({verdict}).")


# ---------------------------------------------------------------------------------------------
# The registry, the result folder


@dataclass(frozen=True)
class Experiment:
    name: str
    train: Callable  # (base, size, progress, runs root) -> data {"records": [...], ...}
    table: Callable  # data -> (header, rows)
    finding: Callable  # data -> one sentence


EXPERIMENTS = {e.name: e for e in (
    Experiment("soft-labels", _run_soft_labels, _table_soft_labels, _finding_soft_labels),
    Experiment("temperature", _run_temperature, _table_temperature, _finding_temperature),
    Experiment("capacity", _run_capacity, _table_capacity, _finding_capacity),
    Experiment("tuning", _run_tuning, _table_tuning, _finding_tuning),
    Experiment("limits", _run_limits, _table_limits, _finding_limits),
)}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise InputError(f"no experiment named {name!r}; choose one of: {', '.join(NAMES)}")
    return EXPERIMENTS[name]


def summarize(name: str, data: dict) -> dict:
    """The table and the finding of an experiment's data (pure: the same numbers give the same
    sentence, other numbers another)."""
    header, rows = get(name).table(data)
    return {"header": header, "rows": [[str(c) for c in row] for row in rows],
            "finding": get(name).finding(data)}


def new_folder(name: str, root=None) -> Path:
    """A fresh result folder <runs root>/_experiments/<name>-<UTC timestamp> (not created)."""
    get(name)
    base = runs_root(root) / FOLDER
    stamp = f"{_now():%Y%m%d-%H%M%S}"
    folder, n = base / f"{name}-{stamp}", 1
    while folder.exists():
        n += 1
        folder = base / f"{name}-{stamp}-{n}"
    return folder


def run(name: str, size: str = "default", out=None, root=None, base: DistillConfig | None = None,
        progress=_progress_none) -> dict:
    """Plan, train and sum up experiment `name` at `size`; write its folder (`out`, else a new
    one under the runs root) and return the result (see the module's docstring)."""
    experiment = get(name)
    if size not in SIZES:
        raise InputError(f"no size {size!r}; choose one of: {', '.join(SIZES)}")
    root = runs_root(root or (base.runs_dir if base else None))
    folder = Path(out) if out else new_folder(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    write_status(folder, "running")
    started = time.time()
    try:
        shape = SIZES[size]
        base = (base or DistillConfig()).replace(runs_dir=str(root), **shape["config"])
        data = experiment.train(base, shape, progress, root)
        result = {"name": name, "size": size, "claim": CLAIMS[name], **summarize(name, data),
                  "data": data, "wall_seconds": time.time() - started,
                  "created": _now().isoformat(timespec="seconds"),
                  "machine": f"{cpu_model()}, {os.cpu_count()} cores", "folder": str(folder)}
        _write_result(folder, result)
    except BaseException as err:
        write_status(folder, "failed", error=str(err).splitlines()[0] if str(err)
                     else type(err).__name__)
        raise
    write_status(folder, "done")
    return result


def write_status(folder: Path, state: str, **extra) -> None:
    atomic_write_json(Path(folder) / "status.json", {"state": state, "pid": os.getpid(),
                                                     **extra})


def _write_result(folder: Path, result: dict) -> None:
    atomic_write_json(folder / "result.json", result)
    lines = io.StringIO()
    csv.writer(lines).writerows([result["header"], *result["rows"]])
    atomic_write_text(folder / "table.csv", lines.getvalue())
    atomic_write_text(folder / "finding.txt", result["finding"] + "\n")


def load_result(folder) -> dict:
    """{"folder", "name", "status": status.json, "result": result.json once done, else None,
    "last_line": the last line of its log.txt (the progress of a background run)}. A folder
    still marked queued or running whose process is gone reads as failed."""
    from distill_core.store.jobs import pid_alive

    folder = Path(folder)
    status = _read_json(folder / "status.json") or {"state": "unknown"}
    if (status.get("state") in ("queued", "running") and status.get("pid")
            and not pid_alive(status["pid"])):
        status = {**status, "state": "failed", "error": "its process stopped (see log.txt)"}
    try:
        lines = (folder / "log.txt").read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    done = status.get("state") == "done"
    return {"folder": str(folder), "name": folder.name, "status": status,
            "result": _read_json(folder / "result.json") if done else None,
            "last_line": lines[-1] if lines else ""}


def list_results(root=None, name: str | None = None) -> list[Path]:
    """Result folders under the runs root (of experiment `name`, or all), newest first."""
    base = runs_root(root) / FOLDER
    if not base.is_dir():
        return []
    folders = [p for p in base.iterdir() if p.is_dir() and _STAMP.search(p.name)
               and (name is None or p.name.startswith(name + "-"))]
    return sorted(folders, key=lambda p: (_STAMP.search(p.name).group(0), p.name), reverse=True)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
