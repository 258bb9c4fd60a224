"""The commands that train: `distill run`, `distill sweep`, `distill experiment` and
`distill on-policy`, with their progress printers."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from distill_core.app.experiment_figures import experiment_figure, save_figure
from distill_core.cli.flags import (add_config_file, add_config_flags, add_quiet, add_runs_dir,
                                    config_flags_given, config_from_args)
from distill_core.cli.tables import table, verdict_table
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store.jobs import pump_after_run
from distill_core.store.runs import load_run
from distill_core.training import experiments, sweep
from distill_core.training.loop import Cancelled, RunResult, distill, resume_run
from distill_core.training.side_by_side import train_together
from distill_core.training.on_policy_experiment import compare_on_policy, comparison_table

# ---------------------------------------------------------------------------------------------
# distill run


def cmd_run(args) -> int:
    if args.side_by_side:
        return _run_side_by_side(args)
    train, queue_root = _training(args)
    try:
        result = train(_run_progress(args.quiet))
    except Cancelled:
        print("run cancelled; the student so far is kept in its run folder", file=sys.stderr)
        return 143
    finally:
        if queue_root is not None:  # a queued run: its slot is free now, so start the next one
            pump_after_run(queue_root)
    print(verdict_table(result.summary))
    if result.run is not None:
        print(f"\nrun {result.run.id} saved in {result.run.path}")
    return 0


def _run_side_by_side(args) -> int:
    """`distill run --side-by-side ID,ID,...`: queued runs trained together (the queue's
    process, store.groups); a verdict line per run, then the next queued run is started."""
    root = args.runs_dir
    try:
        runs = [load_run(run_id, root) for run_id in args.side_by_side.split(",")]
        configs = [DistillConfig.from_dict(run.config()) for run in runs]
        outcomes = train_together(configs, runs, on_event=_run_progress(True))
    except Cancelled:
        print("runs cancelled; each student so far is kept in its run folder", file=sys.stderr)
        return 143
    finally:
        pump_after_run(root)
    for run, outcome in zip(runs, outcomes):
        state = run.status().get("state")
        print(f"run {run.id}: {state}" + (f" ({outcome})" if state != "done" else ""))
    return 0 if all(isinstance(o, RunResult) for o in outcomes) else 1


def _training(args):
    """(train(on_event) -> RunResult, the runs root of the queue to pump after it, or None):
    a resumed run, a queued run filled (--run-id), or a new run."""
    if args.resume:
        run = _run_to_resume(args)
        return (lambda on_event: resume_run(run, on_event=on_event)), None
    config = config_from_args(args)
    run = load_run(args.run_id, config.runs_dir) if args.run_id else None
    return ((lambda on_event: distill(config, on_event=on_event, run=run)),
            config.runs_dir if args.run_id else None)


def _run_to_resume(args):
    """The run `--resume RUN` names; refused with the flags that would change its settings."""
    extra = [k for k in config_flags_given(args) if k != "runs_dir"] + \
        [k for k in ("config", "recipe", "run_id") if getattr(args, k)]
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise InputError(f"--resume continues a run with its own settings; drop {flags}")
    return load_run(args.resume, args.runs_dir)


def _run_progress(quiet: bool):
    """on_event for `distill run`: a progress bar with the loss parts, notices as lines."""
    bar = None

    def on_event(e):
        nonlocal bar
        if e["type"] == "start":
            bar = tqdm(total=e["steps"], unit="step", disable=quiet, file=sys.stderr,
                       dynamic_ncols=True)
        elif e["type"] in ("step", "eval"):
            post = {"loss": f"{e['loss']:.3f}", "kd": f"{e['kd']:.3f}", "ce": f"{e['ce']:.3f}"}
            if "hidden" in e:
                post["hidden"] = f"{e['hidden']:.3f}"
            if "val_ppl" in e:
                post["val_ppl"] = f"{e['val_ppl']:.2f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        elif e["type"] == "notice":  # one line, e.g. a failed compile falling back to eager
            (bar.write if bar is not None else print)(e["message"], file=sys.stderr)
        elif e["type"] == "done" and bar is not None:
            bar.close()
    return on_event


# ---------------------------------------------------------------------------------------------
# distill sweep, distill on-policy


def cmd_sweep(args) -> int:
    if args.sweep_id:  # a planned sweep (the app's background process)
        rows = sweep.execute(args.sweep_id, args.runs_dir)
    else:
        if args.alpha is None or args.temperature is None:
            raise InputError("give the grid: --alpha 0,0.5,1 --temperature 1,2,4")
        alphas = sweep.parse_values(args.alpha, "alpha")
        temperatures = sweep.parse_values(args.temperature, "temperature")
        config = config_from_args(args, skip=("alpha", "temperature"))
        if "eval_every" not in vars(args):  # a cell pays for training and its final evaluation
            config = config.replace(eval_every=0)
        sweep_id, rows = sweep.run_sweep(config, alphas, temperatures, config.runs_dir,
                                         on_event=_sweep_progress(args.quiet))
        print(f"sweep {sweep_id}")
    body, header = sweep.sweep_table(rows)
    print(table(body, header))
    return 0 if all(r["state"] == "done" for r in rows) else 1


def _sweep_progress(quiet: bool):
    state = {"cell": 0}

    def on_event(e):
        if quiet:
            return
        if e["type"] == "start":
            state["cell"] += 1
            print(f"cell {state['cell']}: {e['steps']} steps, teacher {e['teacher_mode']}",
                  file=sys.stderr, flush=True)
        elif e["type"] == "done":
            s = e["summary"]
            print(f"  student ppl {s['student_ppl']:.3f}, agreement {100 * s['agreement']:.1f} %, "
                  f"{s['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    return on_event


def cmd_on_policy(args) -> int:
    config = config_from_args(args)
    fraction = config.on_policy or 0.5
    rows = compare_on_policy(config.replace(on_policy=0.0), (0.0, fraction), store=True,
                             on_event=_sweep_progress(args.quiet))
    body, header = comparison_table(rows)
    print(table(body, header))
    off, on = rows
    print(f"\nruns {off['run']} (off-policy) and {on['run']} (on-policy, lambda = {fraction:g})")
    print(f"on-policy / off-policy: training time {on['train_s'] / off['train_s']:.2f}x, "
          f"of which generating {on['generation_s']:.1f} s "
          f"({on['generated_tokens'] / max(on['generation_s'], 1e-9):,.0f} tokens/s); "
          f"KL on the student's own text {on['sample_kl'] / off['sample_kl']:.2f}x")
    return 0


# ---------------------------------------------------------------------------------------------
# distill experiment


def cmd_experiment(args) -> int:
    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    result = experiments.run(args.name, experiments.SIZES[args.size], args.out, args.runs_dir,
                             progress=progress)
    paths = save_figure(experiment_figure(result), result["folder"])
    print(f"experiment {result['name']} ({result['size']}): {result['claim']}\n")
    print(table(result["rows"], result["header"]))
    print(f"\nfinding: {result['finding']}")
    print(f"\n{result['wall_seconds']:.0f} s on {result['machine']}; saved in "
          f"{result['folder']} (result.json, table.csv, finding.txt, "
          f"{', '.join(p.name for p in paths)})")
    return 0


# ---------------------------------------------------------------------------------------------


def add_parsers(sub) -> None:
    """`distill run`, `sweep`, `on-policy` and `experiment`."""
    run = sub.add_parser("run", help="distill a student (defaults: built-in pair on tinytales)")
    add_config_file(run)
    run.add_argument("--recipe", help="start from a named recipe (`distill recipes` lists them); "
                     "flags override it")
    run.add_argument("--run-id", help="fill this existing (queued) run instead of a new one")
    run.add_argument("--side-by-side", metavar="RUN,RUN", help=argparse.SUPPRESS)  # the queue
    run.add_argument("--resume", metavar="RUN", help="continue a cancelled or crashed run from "
                     "its last checkpoint (its own settings; see --checkpoint-every)")
    sw = sub.add_parser("sweep", help="one run per (alpha, temperature), on one teacher cache; "
                        "each cell is evaluated at its end only unless --eval-every is given")
    sw.add_argument("--alpha", help="comma-separated alphas, e.g. 0,0.25,0.5,0.75,1")
    sw.add_argument("--temperature", help="comma-separated temperatures, e.g. 1,2,4,8")
    add_config_file(sw)
    sw.add_argument("--sweep-id", help=argparse.SUPPRESS)  # train a planned sweep (the app)
    onp = sub.add_parser("on-policy", help="train the same student off-policy and on-policy "
                         "(GKD; lambda = --on-policy, default 0.5) and compare them")
    add_config_file(onp)
    for p, skip in ((run, ()), (sw, ("alpha", "temperature")), (onp, ())):
        add_quiet(p)
        add_runs_dir(p)
        add_config_flags(p, skip=skip)
    run.set_defaults(func=cmd_run)
    sw.set_defaults(func=cmd_sweep)
    onp.set_defaults(func=cmd_on_policy)
    ex = sub.add_parser("experiment", help="test one of the five claims: plan and train its "
                        "runs, print a table and a finding computed from the numbers")
    ex.add_argument("name", choices=experiments.NAMES)
    ex.add_argument("--size", choices=list(experiments.SIZES), default="default",
                    help="default: minutes on a 2-core CPU; tiny: seconds (a smoke test)")
    ex.add_argument("--out", help="result folder (default: <runs root>/_experiments/"
                    "<name>-<time>)")
    add_runs_dir(ex)
    add_quiet(ex)
    ex.set_defaults(func=cmd_experiment)
