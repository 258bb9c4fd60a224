"""Rebuild the reference results a fresh install shows: `python bench/reference.py`.

It runs the project's own commands (the `distill` command line, in this process) into a
temporary runs folder, then copies what the pages need into assets/reference/ (or `--out`),
replacing what was there only once everything has trained:

    distill run --baseline --seed S        the default run, seeds 0, 1 and 2 (summaries of
                                           all; seed 0 also its probes and its students,
                                           stored in bf16 for the Disagreement and Soft
                                           labels views)
    distill experiment NAME                each of the five experiments: result, table,
                                           finding, figure.png
    distill sweep --alpha 0,0.5,0.9 --temperature 1,2,4 --steps 60 --warmup 12 --eval-blocks 32
                                           one sweep (the Sweep page's default grid); its
                                           cells without their students

Each item gets a reference.json (the command, the date, describe_machine() and the package
version) and manifest.json lists them all (distill_core/app/reference.py reads it). Sizes:

    --size default   the real thing (about 40 minutes on a 2-core CPU: the experiments take
                     about 400 s each); what the repository ships
    --size small     a provisional set in a few minutes: the default run at 40 steps, the
                     experiments at their "tiny" size, a 20-step sweep
    --size quick     the default run and the sweep as in `default`, the experiments at their
                     "tiny" size (about 10 minutes: what was shipped on 2026-12-06, when the
                     full experiments did not fit the session; each result says its command)
    --size tiny      seconds, for tests: everything at the smallest shapes

`--steps N` overrides the default run's and the sweep's steps; `--experiments a,b` trains only
those experiments (the others are then missing from the set: for tests). The whole set must
stay under 15 MB (checked at the end; tests/app/test_reference.py checks what is shipped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill_core.app.reference import ABOUT, MANIFEST
from distill_core.cli import main as distill
from distill_core.machine import describe_machine
from distill_core.models import ASSETS
from distill_core.store.runs import now
from distill_core.store.settings_hash import package_version
from distill_core.training.experiments import FOLDER, NAMES

LIMIT_MB = 15
TINY = ["--steps", "2", "--batch-size", "4", "--seq-len", "32", "--train-docs", "100",
        "--eval-blocks", "4", "--eval-every", "1", "--warmup", "0", "--precision", "fp32"]
GRID = ["--alpha", "0,0.5,0.9", "--temperature", "1,2,4"]  # the Sweep page's default grid
SIZES = {  # size: (default run flags, experiment size, sweep grid and flags)
    "default": ([], "default", [*GRID, "--steps", "60", "--warmup", "12", "--eval-blocks", "32"]),
    "small": (["--steps", "40"], "tiny",
              [*GRID, "--steps", "20", "--warmup", "4", "--eval-blocks", "32"]),
    "tiny": (TINY, "tiny", ["--alpha", "0,0.9", "--temperature", "1", *TINY]),
    "quick": ([], "tiny", [*GRID, "--steps", "60", "--warmup", "12", "--eval-blocks", "32"]),
}
SEEDS = (0, 1, 2)
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json")
STUDENT_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "README.md")


def with_steps(flags: list[str], steps: int | None) -> list[str]:
    """`flags` with --steps set to `steps` (when given)."""
    if steps is None:
        return list(flags)
    out = list(flags)
    if "--steps" in out:
        out[out.index("--steps") + 1] = str(steps)
    else:
        out += ["--steps", str(steps)]
    return out


def command(argv: list[str], runs: Path) -> dict:
    """Run `distill ARGV` here into the runs folder `runs`; its provenance (the command as a
    user types it, the date, the machine, the package version). Exits on a failed command."""
    print("distill " + " ".join(argv), flush=True)
    code = distill([*argv, "--runs-dir", str(runs), "--quiet"])
    if code != 0:
        raise SystemExit(f"`distill {' '.join(argv)}` failed (exit {code}); nothing replaced")
    return {"command": "distill " + " ".join(argv), "created": now().isoformat(timespec="seconds"),
            "machine": describe_machine(), "package_version": package_version()}


def new_folders(parent: Path, before: set) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name not in before) \
        if parent.is_dir() else []


def names_in(parent: Path) -> set:
    return {p.name for p in parent.iterdir()} if parent.is_dir() else set()


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")


def bf16_copy(source: Path, target: Path) -> None:
    """A student's Hugging Face folder with its weights in bfloat16 (half the bytes)."""
    import torch
    from safetensors.torch import load_file, save_file

    target.mkdir(parents=True)
    for name in STUDENT_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
               for k, v in load_file(source / "model.safetensors").items()}
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((target / "config.json").read_text())
    config.update({k: "bfloat16" for k in ("torch_dtype", "dtype") if k in config})
    write_json(target / "config.json", config)


def copy_run(run: Path, target: Path, about: dict, students: bool) -> None:
    """A run's config (its runs_dir made the default), a clean done status, metrics, summary,
    and with `students` its probes and bf16 students."""
    target.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(run / name, target / name)
    config = json.loads((run / "config.json").read_text())
    write_json(target / "config.json", {**config, "runs_dir": "runs"})
    status = json.loads((run / "status.json").read_text())
    write_json(target / "status.json", {k: status[k] for k in (
        "state", "created", "started", "finished", "updated", "config_hash", "sweep")
        if k in status})
    if students:
        if (run / "probes.jsonl").exists():
            shutil.copy2(run / "probes.jsonl", target / "probes.jsonl")
        for folder in ("student", "baseline"):
            if (run / folder / "model.safetensors").exists():
                bf16_copy(run / folder, target / folder)
    write_json(target / ABOUT, about)


def default_runs(runs: Path, stage: Path, flags: list[str]) -> dict:
    ids, abouts = [], []
    for seed in SEEDS:
        before = names_in(runs)
        about = command(["run", "--baseline", *flags, "--seed", str(seed)], runs)
        (run,) = [p for p in new_folders(runs, before) if not p.name.startswith("_")]
        copy_run(run, stage / run.name, about, students=seed == SEEDS[0])
        ids.append(run.name)
        abouts.append(about)
    return {**abouts[0], "command": " ".join(["distill run --baseline", *flags]),
            "runs": ids, "seeds": list(SEEDS)}


def experiment(name: str, size: str, runs: Path, stage: Path) -> dict:
    parent = runs / FOLDER
    before = names_in(parent)
    about = command(["experiment", name, "--size", size], runs)
    (folder,) = new_folders(parent, before)
    relative = f"{FOLDER}/{folder.name}"
    target = stage / relative
    target.mkdir(parents=True)
    for name_ in ("status.json", "table.csv", "finding.txt", "figure.png"):
        if (folder / name_).exists():
            shutil.copy2(folder / name_, target / name_)
    result = json.loads((folder / "result.json").read_text())
    write_json(target / "result.json", {**result, "folder": relative})
    write_json(target / "status.json", {"state": "done"})
    write_json(target / ABOUT, about)
    return {**about, "folder": relative}


def one_sweep(runs: Path, stage: Path, flags: list[str]) -> dict:
    parent = runs / "_sweeps"
    before = names_in(parent)
    about = command(["sweep", *flags], runs)
    (plan_path,) = [parent / n for n in names_in(parent) - before]
    plan = json.loads(plan_path.read_text())
    for cell in plan["cells"]:
        copy_run(runs / cell["run_id"], stage / cell["run_id"], about, students=False)
    (stage / "_sweeps").mkdir()
    write_json(stage / "_sweeps" / plan_path.name,
               {**plan, "pid": None, "base": {**plan["base"], "runs_dir": "runs"}})
    return {**about, "id": plan["id"]}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rebuild(out: Path, size: str, steps: int | None = None, names=NAMES,
            work: Path | None = None) -> dict:
    """Train everything (of the experiments, those in `names`) into a temporary runs folder,
    then replace `out` with the reference set; returns the manifest."""
    run_flags, experiment_size, sweep_flags = SIZES[size]
    work = Path(work or tempfile.mkdtemp(prefix="distill-reference-"))
    runs, stage = work / "runs", work / "reference"
    runs.mkdir(parents=True, exist_ok=True)
    stage.mkdir(parents=True)
    manifest = {"format": 1, "size": size, "rebuild": "python bench/reference.py"
                + (f" --size {size}" if size != "default" else "")
                + (f" --steps {steps}" if steps else ""),
                "created": now().isoformat(timespec="seconds"), "machine": describe_machine(),
                "package_version": package_version()}
    try:
        manifest["default_run"] = default_runs(runs, stage, with_steps(run_flags, steps))
        manifest["experiments"] = {name: experiment(name, experiment_size, runs, stage)
                                   for name in names}
        manifest["sweep"] = one_sweep(runs, stage, with_steps(sweep_flags, steps))
        write_json(stage / MANIFEST, manifest)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stage), str(out))
    finally:  # trained or not, the temporary runs folder goes
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=list(SIZES), default="default",
                   help="default: the shipped set (about 40 min); small: a provisional set in "
                        "minutes; tiny: seconds, for tests")
    p.add_argument("--steps", type=int, help="the default run's and the sweep's steps")
    p.add_argument("--experiments", default=",".join(NAMES),
                   help=f"which experiments, comma-separated (default all: {','.join(NAMES)})")
    p.add_argument("--out", type=Path, default=Path(ASSETS) / "reference",
                   help="where the reference set goes (replaced; default assets/reference)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.experiments.split(",") if n.strip()]
    if unknown := [n for n in names if n not in NAMES]:
        p.error(f"no experiment {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    manifest = rebuild(args.out, args.size, args.steps, names)
    megabytes = folder_bytes(args.out) / 1e6
    print(f"\nreference set ({manifest['size']}) in {args.out}: {megabytes:.1f} MB "
          f"(limit {LIMIT_MB} MB), made on {manifest['machine']}")
    return 0 if megabytes <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
