"""A recipe over seeds: does the distilled student clearly beat its baseline, and in what time?

    python bench/recipe_seeds.py RECIPE [--seeds 0,1,2] [any `distill run` flag ...]

Runs `distill run --recipe RECIPE --seed S` once per seed, one after another, as a user would
(a fresh process each, a fresh runs folder, the machine's own precision and compile choice),
with any further flags passed on unchanged (`--temperature 1`, `--train-docs 100`, ...). The
recipe must train its baseline (`baseline: true`), which sees the same batches as the student.

Per seed it prints the teacher, the distilled student and the baseline in the unit the run's
retention used (perplexity for one tokenizer, bits per byte across tokenizers), the gap closed
(how much of the baseline-to-teacher gap the student closed), the same against the baseline
trained on to the student's training FLOPs, the run's wall time and the whole command's. Then
the mean ± sample standard deviation over seeds, and the verdict the experiments use
(training/stats.py): the student beats its baseline clearly only when, paired by seed, its
lead's mean exceeds its spread. Last line: the verdict and the slowest command against the
10-minute budget the recipes keep to on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distill_core.machine import cpu_model  # noqa: E402
from distill_core.training.stats import clear_difference, plus_minus  # noqa: E402

BUDGET_S = 600  # a recipe runs in at most 10 minutes on this 2-core CPU
VERDICT = {-1: "clearly better", 1: "clearly worse", 0: "not clearly different",
           None: "unknown (one seed)"}


def unit_of(summary: dict) -> tuple[str, str]:
    """(metric suffix, unit name) the run's retention used: bpb across tokenizers, else ppl."""
    if summary.get("retention_unit", "").startswith("bits per byte"):
        return "bpb", "bits per byte"
    return "ppl", "perplexity"


def run_seed(recipe: str, seed: int, extra: list[str]) -> dict:
    """One `distill run` of the recipe at `seed`; its summary plus the command's seconds."""
    with tempfile.TemporaryDirectory(prefix="recipe-seeds-") as tmp:
        env = {**os.environ, "DISTILL_RUNS_DIR": tmp}
        cmd = ["distill", "run", "--recipe", recipe, "--seed", str(seed), *extra]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"seed {seed}: `{' '.join(cmd)}` failed: {done.stderr.strip()[-400:]}")
        (summary_file,) = Path(tmp).glob("*/summary.json")
        summary = json.loads(summary_file.read_text())
    if "baseline_ppl" not in summary:
        sys.exit(f"recipe {recipe} trained no baseline: nothing to compare the student with")
    return {**summary, "seed": seed, "command_s": seconds}


def row(s: dict) -> str:
    key, _ = unit_of(s)
    eq = s.get("equal_flops_gap_closed_pct")
    return (f"  seed {s['seed']}  teacher {s[f'teacher_{key}']:.4g}"
            f"  student {s[f'student_{key}']:.4g}  baseline {s[f'baseline_{key}']:.4g}"
            f"  gap closed {s['gap_closed_pct']:6.1f} %"
            f"  at equal FLOPs {'' if eq is None else f'{eq:6.1f} %'}"
            f"  run {s['wall_seconds']:.0f} s, command {s['command_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", default="0,1,2")
    args, extra = parser.parse_known_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{cpu_model()}, {os.cpu_count()} CPU cores, "
          f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average "
          f"{os.getloadavg()[0]:.2f}; recipe {args.recipe}, seeds {seeds}"
          + (f", flags {' '.join(extra)}" if extra else ""))
    runs = []
    for seed in seeds:
        runs.append(run_seed(args.recipe, seed, extra))
        print(row(runs[-1]), flush=True)
    key, unit = unit_of(runs[0])
    student = [r[f"student_{key}"] for r in runs]
    baseline = [r[f"baseline_{key}"] for r in runs]
    for name, values in (("teacher", [r[f"teacher_{key}"] for r in runs]),
                         ("student", student), ("baseline", baseline),
                         ("gap closed %", [r["gap_closed_pct"] for r in runs])):
        print(f"{name:>14}: {plus_minus(values)}")
    verdict = VERDICT[clear_difference(student, baseline, paired=True)]
    slowest = max(r["command_s"] for r in runs)
    print(f"{args.recipe}: the distilled student against its baseline ({unit}, paired by seed): "
          f"{verdict}; gap closed {plus_minus([r['gap_closed_pct'] for r in runs], '.1f')} %; "
          f"slowest command {slowest:.0f} s "
          f"({'within' if slowest <= BUDGET_S else 'OVER'} the {BUDGET_S} s budget)")


if __name__ == "__main__":
    main()
