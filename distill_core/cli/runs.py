"""The commands that read stored runs: `distill runs`, `show`, `compare`, `export` and
`disagree`.

`distill_core.app.disagreement` is imported inside `cmd_disagree`: it loads `datasets`, which
adds about 0.5 s to every start of `distill` (measured with `python -X importtime`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from distill_core.cli.flags import add_runs_dir
from distill_core.cli.tables import table, verdict_table
from distill_core.errors import InputError
from distill_core.metrics import format_value, shown
from distill_core.store.runs import compare, list_runs, load_run


def cmd_runs(args) -> int:
    listed = shown("list")  # a column each, the unit in its heading
    rows = [[r["id"], r["state"], r.get("student") or "-", r.get("alpha", "-"),
             r.get("temperature", "-"), r.get("steps", "-"),
             *(m.cell(r.get(m.key)) for m in listed)] for r in list_runs(args.runs_dir)]
    if not rows:
        print("no runs yet; start one with `distill run`")
        return 0
    print(table(rows, ["run", "state", "student", "alpha", "T", "steps",
                       *(m.heading for m in listed)]))
    return 0


def cmd_show(args) -> int:
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
    rows = compare(args.runs, args.runs_dir)
    header = ["metric"] + [r["id"] for r in rows]
    body = [[k] + [format_value(r.get(k)) for r in rows] for k in ("alpha", "temperature", "loss")]
    body += [[m.key] + [m.text(r.get(m.key)) for r in rows] for m in shown("compare")]
    print(table(body, header))
    return 0


def cmd_export(args) -> int:
    run = load_run(args.run, args.runs_dir)
    if getattr(args, "target", None):  # --as trl|axolotl|distillkit|accelerate
        from distill_core.app.export_files import write_export

        paths = write_export(run, args.dir, args.target)
        print(f"exported run {run.id} for {args.target}: "
              + ", ".join(p.name for p in paths) + f" in {args.dir} (read its README.md)")
        return 0
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


def cmd_disagree(args) -> int:
    from distill_core.app.disagreement import MEASURE_NAMES, disagree, validation_passages

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


def add_parsers(sub) -> None:
    """`distill runs`, `show`, `compare`, `export` and `disagree`."""
    runs = sub.add_parser("runs", help="list runs")
    runs.set_defaults(func=cmd_runs)
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
    exp.add_argument("--as", dest="target", choices=("trl", "axolotl", "distillkit",
                                                     "accelerate"),
                     help="instead, write what that trainer needs to run the same distillation "
                          "at scale: a config, a launch command and a README of how each "
                          "setting maps")
    exp.set_defaults(func=cmd_export)
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
    dis.set_defaults(func=cmd_disagree)
    for p in (runs, show, comp, exp, dis):
        add_runs_dir(p)
