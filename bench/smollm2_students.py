"""Which student to distil SmolLM2-135M into on a CPU: initialisations compared under one budget.

    python bench/smollm2_students.py [--students builtin:half,builtin:half-ends,builtin:small]
                                     [--steps N] [--out FILE.json]

Every student trains under the `smollm2-cpu` recipe (its steps, batch, learning rate, loss) on
python-docs, in one run each that trains it twice on the very same batches: with the teacher
(KD) and without it (the baseline, alpha = 0). The teacher and the data are loaded once and
shared. Reported per student: validation perplexity (all 18 validation blocks of 128 tokens)
before training, after KD and after the baseline; the run's wall time (student made, precision
chosen, steps, evaluations) and the CPU time this process spent in it, and the training steps'
own time; the load average around it (other processes share the cores, and a 2-core machine
shared with them runs much slower than the same machine alone). The winner, lowest KD
perplexity, is the smollm2 pair's default student (models/registry.py) and the recipe's. Ratios
last, side by side, from this one run.

A finished run also times the teacher's and the student's forward passes and generation for its
summary (training/summary.py `speed_figures`). That says nothing about which student learns
best, and on a busy 2-core machine it took longer than 40 training steps (~15 min in a trial),
so this bench skips it (`--with-speed` keeps it): its wall times are training and evaluation.

Needs the converted teacher (`distill fetch smollm2-135m`; the cache is $DISTILL_MODELS_DIR).

Measured 2026-12-02 on AMD EPYC (2 cores shared with other jobs, load average 3-12; run with
OMP_NUM_THREADS=1, which on the busy machine was 2-3x faster than 2 threads), 40 steps of 4 x 128
tokens, T 1, forward KL; validation perplexity (teacher 25.9):

    student (init)                       before      KD   baseline   KD/base   settings
    builtin:half-ends (first 5, last 10)   1,145    67.2     50.9      1.32    alpha 1, lr 3e-4
    builtin:half (every other layer)   1,105,020   523.6    553.3      0.95    alpha 1, lr 3e-4
    builtin:small (2 x 128, random)       49,406  16,430   18,101      0.91    alpha 1, lr 3e-4
    builtin:half-ends                      1,145    52.3     50.9      1.03    alpha 0.5, lr 3e-4
    builtin:half-ends                      1,145    50.3     50.9      0.99    alpha 0.25, lr 3e-4
    builtin:half-ends                      1,145    37.3     36.4      1.02    alpha 0.5, lr 1e-3
    builtin:half-ends                      1,145    35.2     36.4      0.97    alpha 0.25, lr 1e-3

The first three rows are one run of this script (`--set alpha=1 --set lr=3e-4`); the others are
`--students builtin:half-ends --set alpha=… --set lr=…`, the last being the recipe as shipped
then. Copying the first and last layers wins by far; on that student the teacher's logits alone
help only as a light pull beside the real next tokens (alpha 0.25), and more of them loses to
plain training within this budget.

Issue 22 (2026-12-06, 160 held-out blocks; gap closed as every run's summary counts it, in
nats per token): adding the hidden-state loss at the layers the student was copied from
(hidden_weight 3) and training on the first 10 documents (train_docs 10) made the teacher pay;
at 80 steps the baseline overfits those 10 documents while the distilled student keeps
improving, and that is the recipe now (alpha 0.5, T 1, lr 1e-3, 80 steps of 4 x 128). The
search, seed by seed, is in docs/models-and-data.md. Values go through YAML: write 0.002, not
2e-3 (YAML 1.1 reads that as a string).
"""

import argparse
import json
import math
import os
import tempfile
import time

import torch
import yaml

from distill_core import models
from distill_core.machine import cpu_model
from distill_core.training import evaluate, summary
from distill_core.training.loop import distill, prepare
from distill_core.training.recipes import load_recipe

STUDENTS = ("builtin:half", "builtin:half-ends", "builtin:small")
RECIPE = "smollm2-cpu"


def measure(config, prepared) -> dict:
    """One student: perplexity before, then the recipe's run (KD and baseline side by side)."""
    student = models.load_student(config.student, prepared.teacher, seed=config.seed)
    facts = models.describe(student)
    val = prepared.val_blocks[:config.eval_blocks]
    before = evaluate.perplexity(student, val)
    del student
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    result = distill(config, store=False, prepared=prepared).summary
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    train_s = result["tokens"] / result["train_tokens_per_s"]
    row = {"student": config.student, "layers": facts["layers"], "width": facts["width"],
           "parameters": facts["parameters"], "ppl_before": before,
           "ppl_kd": result["student_ppl"], "ppl_baseline": result["baseline_ppl"],
           "ppl_teacher": result["teacher_ppl"], "wall_s": wall, "cpu_s": cpu,
           "train_s": train_s,
           "train_tokens_per_s": result["train_tokens_per_s"],
           "precision": result["precision"], "load_before": load,
           "load_after": os.getloadavg()[0]}
    print(json.dumps(row), flush=True)
    return row


def report(rows: list[dict], config, header: str) -> str:
    lines = [header, f"budget: {config.steps} steps of {config.batch_size} x {config.seq_len} "
             f"tokens, lr {config.lr:g}, warmup {config.warmup}, alpha {config.alpha:g}, "
             f"T {config.temperature:g}, {config.loss}; KD and baseline in one run", "",
             f"{'student':20s} {'layers':>6s} {'params':>7s} {'ppl before':>11s} "
             f"{'KD ppl':>8s} {'base ppl':>9s} {'wall s':>7s} {'train s':>7s} {'cpu s':>7s} "
             f"{'tok/s':>6s} "
             f"{'load':>9s}"]
    for r in rows:
        lines.append(f"{r['student']:20s} {r['layers']:6d} {r['parameters'] / 1e6:6.1f}M "
                     f"{r['ppl_before']:11,.0f} {r['ppl_kd']:8.1f} {r['ppl_baseline']:9.1f} "
                     f"{r['wall_s']:7.0f} {r['train_s']:7.0f} {r['cpu_s']:7.0f} "
                     f"{r['train_tokens_per_s']:6.1f} "
                     f"{r['load_before']:4.1f}-{r['load_after']:<4.1f}")
    lines += ["", f"teacher ppl {rows[0]['ppl_teacher']:.2f}", "ratios (this run):"]
    for r in rows:
        lines.append(f"  {r['student']:20s} KD / baseline ppl {r['ppl_kd'] / r['ppl_baseline']:.3f}"
                     f"   KD / teacher ppl {r['ppl_kd'] / r['ppl_teacher']:.2f}")
    best = min(rows, key=lambda r: r["ppl_kd"])
    lines.append(f"winner (lowest KD perplexity): {best['student']}")
    return "\n".join(lines)


def gap_closed(row: dict) -> float:
    """Share of the baseline's gap to the teacher that KD closed, as every run's summary counts
    it (training.summary.retention: in nats per token, the log of the perplexities)."""
    losses = {"teacher_val_loss": math.log(row["ppl_teacher"]),
              "val_loss": math.log(row["ppl_kd"]),
              "baseline_val_loss": math.log(row["ppl_baseline"])}
    return summary.retention(losses)["gap_closed_pct"] / 100


def seeds_report(rows: list[dict]) -> str:
    """Per seed and over seeds: KD, baseline and the gap closed, with the seeds' range."""
    lines = ["", f"{'seed':>4} {'KD ppl':>8} {'base ppl':>9} {'teacher':>8} {'gap closed':>10}"]
    for r in rows:
        lines.append(f"{r['seed']:>4} {r['ppl_kd']:8.2f} {r['ppl_baseline']:9.2f} "
                     f"{r['ppl_teacher']:8.2f} {100 * gap_closed(r):9.1f}%")
    kd, base = [r["ppl_kd"] for r in rows], [r["ppl_baseline"] for r in rows]
    gaps = [100 * gap_closed(r) for r in rows]
    apart = "apart" if max(kd) < min(base) else "overlapping"
    lines.append(f"over {len(rows)} seeds: KD {min(kd):.2f}-{max(kd):.2f}, baseline "
                 f"{min(base):.2f}-{max(base):.2f} ({apart}); gap closed mean "
                 f"{sum(gaps) / len(gaps):.1f}% (range {min(gaps):.1f}-{max(gaps):.1f}%)")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", help="comma-separated seeds: the first student trained once per "
                   "seed, KD against baseline per seed, the gap closed over seeds")
    p.add_argument("--students", default=",".join(STUDENTS))
    p.add_argument("--steps", type=int, help=f"override the {RECIPE} recipe's steps")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override another of the recipe's settings (YAML value), e.g. alpha=0.5")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--with-speed", action="store_true", help="also time forward passes and "
                   "generation at the end of each run, as a real run does")
    args = p.parse_args()
    if not args.with_speed:
        summary.speed_figures = lambda prepared, student, val_blocks: {}
    overrides = {"steps": args.steps, "warmup": args.steps // 10} if args.steps else {}
    for item in args.set:
        field, _, value = item.partition("=")
        overrides[field.strip()] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory() as runs:
        config = load_recipe(RECIPE, runs_dir=runs, **overrides)
        header = (f"{time.strftime('%Y-%m-%d %H:%M')} on {cpu_model()} ({os.cpu_count()} "
                  f"cores, torch {torch.__version__}, {torch.get_num_threads()} threads)")
        print(header, flush=True)
        prepared = prepare(config)
        if args.seeds:
            student = args.students.split(",")[0]
            rows = [{**measure(config.replace(student=student, seed=int(seed)), prepared),
                     "seed": int(seed)} for seed in args.seeds.split(",")]
        else:
            rows = [measure(config.replace(student=s), prepared)
                    for s in args.students.split(",")]
    text = report(rows, config, header) + (seeds_report(rows) if args.seeds else "")
    print("\n" + text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"header": header, "config": config.to_dict(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
