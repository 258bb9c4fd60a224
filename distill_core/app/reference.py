"""Reference results: what a fresh install shows until the user's own runs exist, and whether
the user's rerun reproduced them. No Streamlit here; nothing here writes a file.

The reference folder (assets/reference/, or $DISTILL_REFERENCE_DIR; rebuilt by
`python bench/reference.py`) is laid out as a runs root, so the store's readers read it:

    manifest.json                 what is there and how it was made (see `manifest`)
    <run id>/                     the default run (`distill run --baseline`) at seeds 0, 1, 2:
                                  config, status, metrics, summary, reference.json; seed 0 also
                                  probes.jsonl and its students (student/, baseline/) in bf16
    _experiments/<name>-<time>/   each experiment's result.json, table.csv, finding.txt,
                                  figure.png, reference.json
    _sweeps/<sweep id>.json       one sweep's plan; its cells are runs beside the default run's

Every item's reference.json (and its manifest entry) holds {"command", "created", "machine",
"package_version"}.

    root = reference_root()
    run = default_run(root)                       # a store Run, seed 0, read only
    note(default_entry(root), "reference run")    # "Reference run, measured on …; train your own…"
    run_reproduction(my_summary, reference_summaries(root))["text"]

Reproduced or not is decided in one place, `reproduces` (see there).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from distill_core import metrics
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store.runs import Run
from distill_core.training.experiments import RECORD_METRICS, load_result
from distill_core.training.experiments.labels import labels_text
from distill_core.training.stats import mean_spread, overlap, plus_minus

__all__ = [
    "ABOUT",
    "MANIFEST",
    "REFERENCE_ENV",
    "RUN_CHECKS",
    "Check",
    "about",
    "default_entry",
    "default_run",
    "default_runs",
    "experiment_entry",
    "experiment_reproduction",
    "is_default_run",
    "manifest",
    "note",
    "reference_result",
    "reference_root",
    "reference_students",
    "reference_summaries",
    "reproduces",
    "run_reproduction",
    "same_settings",
    "sweep_entry",
]

REFERENCE_ENV = "DISTILL_REFERENCE_DIR"
MANIFEST = "manifest.json"
ABOUT = "reference.json"  # in each reference item's folder: command, created, machine, version
RUN_CHECKS = ("student_ppl", "baseline_ppl")  # what a rerun of the default run must reproduce
IGNORED = ("name", "runs_dir", "seed", "report_to", "checkpoint_every")  # not the run's numbers


def reference_root() -> Path:
    """The reference folder: $DISTILL_REFERENCE_DIR, else assets/reference/."""
    from distill_core.models import ASSETS

    return Path(os.environ.get(REFERENCE_ENV) or Path(ASSETS) / "reference")


def manifest(root=None) -> dict:
    """manifest.json: {"format", "created", "machine", "package_version", "size", "rebuild",
    "default_run": {"runs": [ids, seed 0 first], "seeds", "command", …}, "experiments": {name:
    {"folder", "command", …}}, "sweep": {"id", "command", …}}; {} when there is none (or it
    is unreadable: a page then shows its empty state, never a traceback)."""
    path = Path(root or reference_root()) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def about(folder) -> dict:
    """An item's reference.json ({} when missing or unreadable)."""
    try:
        data = json.loads((Path(folder) / ABOUT).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def note(entry: dict, what: str = "reference run") -> str:
    """'Reference run, measured on <machine>, <date>; train your own to compare.'"""
    date = str(entry.get("created", "an unknown date"))[:10]
    machine = entry.get("machine", "an unknown machine")
    return (f"{what[:1].upper()}{what[1:]}, measured on {machine}, {date} "
            f"(`{entry.get('command', '?')}`); train your own to compare.")


# ---------------------------------------------------------------- what the folder holds


def default_entry(root=None) -> dict:
    """The manifest's entry for the default run ({} without one)."""
    return manifest(root).get("default_run") or {}


def default_runs(root=None) -> list[Run]:
    """The default run's reference runs, seed 0 first; [] when there are none."""
    root = Path(root or reference_root())
    runs = []
    for run_id in default_entry(root).get("runs", []):
        try:
            run = Run(root, run_id)
        except InputError:
            continue
        if run.exists():
            runs.append(run)
    return runs


def default_run(root=None) -> Run | None:
    """The default run's seed-0 reference run (the one with probes and students), or None."""
    runs = default_runs(root)
    return runs[0] if runs else None


def reference_summaries(root=None) -> list[dict]:
    """The summaries of the default run's reference seeds."""
    return [s for s in (run.summary() for run in default_runs(root)) if s]


def experiment_entry(name: str, root=None) -> dict:
    """{"folder" (absolute), "command", "created", "machine", …} of experiment `name`'s
    reference result, or {} without one."""
    root = Path(root or reference_root())
    entry = (manifest(root).get("experiments") or {}).get(name) or {}
    if not entry.get("folder") or not (root / entry["folder"] / "result.json").is_file():
        return {}
    return {**entry, "folder": str(root / entry["folder"])}


def sweep_entry(root=None) -> dict:
    """{"id", "command", "created", "machine", …} of the reference sweep, or {} without one."""
    root = Path(root or reference_root())
    entry = manifest(root).get("sweep") or {}
    plan = root / "_sweeps" / f"{entry.get('id', '')}.json"
    return entry if entry.get("id") and plan.is_file() else {}


def reference_students(teacher: str, root=None) -> dict[str, str]:
    """{label: student folder} of the reference default run's student, when it was distilled
    from `teacher` (the Soft labels page offers it beside the user's own)."""
    run = default_run(root)
    if run is None or run.config().get("teacher") != teacher or \
            not (run.student_dir / "config.json").is_file():
        return {}
    return {f"reference run {run.id} (seed {run.config().get('seed', 0)})": str(run.student_dir)}


# ---------------------------------------------------------------- same settings?


def _settings(config: dict) -> dict | None:
    try:
        full = DistillConfig.from_dict(dict(config)).to_dict()
    except (InputError, TypeError, ValueError):
        return None
    return {k: v for k, v in full.items() if k not in IGNORED}


def same_settings(a: dict, b: dict) -> bool:
    """Whether two run configs train the same numbers but for the seed (its name, runs folder
    and logging aside); a config this code no longer reads is never the same."""
    sa, sb = _settings(a), _settings(b)
    return sa is not None and sa == sb


def is_default_run(config: dict, root=None) -> bool:
    """Whether a run's config is the reference default run's settings (any seed)."""
    run = default_run(root)
    return run is not None and same_settings(config, run.config())


# ---------------------------------------------------------------- reproduced or not


def reproduces(mine, reference) -> bool | None:
    """Whether `mine` (one or more values of a number) reproduced `reference` (its values over
    the reference's seeds); None when the reference was measured once (its spread unknown).

    One value reproduces it when it lies within the reference's mean ± 2 spreads (the spread is
    the sample standard deviation over seeds; a new seed lands there about 19 times in 20).
    Several values (the user's own seeds) reproduce it when their mean ± spread and the
    reference's overlap: the project's test of "no clear difference" (training/stats.py)."""
    mine, reference = [float(v) for v in mine], [float(v) for v in reference]
    if len(reference) < 2 or not mine:
        return None
    ref = mean_spread(reference)
    if len(mine) == 1:
        return abs(mine[0] - ref[0]) <= 2 * ref[1]
    return overlap(mean_spread(mine), ref)


@dataclass(frozen=True)
class Check:
    """One number compared: what it is, the user's values, the reference's, the verdict."""

    what: str
    mine: tuple
    reference: tuple
    reproduced: bool | None

    def text(self) -> str:
        verdict = {True: "within", False: "outside", None: "beside (spread unknown)"}
        return (f"{self.what}: yours {plus_minus(self.mine)}, {verdict[self.reproduced]} the "
                f"reference's {plus_minus(self.reference)} over {len(self.reference)} "
                f"seed{'s' * (len(self.reference) != 1)}")


def _outcome(checks: list[Check]) -> dict:
    """{"checks", "reproduced": False if any check failed, True if all that could be judged
    passed, None if none could; "text": the verdict in a sentence}."""
    judged = [c.reproduced for c in checks if c.reproduced is not None]
    reproduced = None if not judged else all(judged)
    head = {True: "Reproduced the reference", False: "Did not reproduce the reference",
            None: "Cannot tell whether this reproduced the reference"}[reproduced]
    failed = [c for c in checks if c.reproduced is False]
    shown = failed or checks
    return {"checks": checks, "reproduced": reproduced,
            "text": f"{head}: " + "; ".join(c.text() for c in shown[:3])
            + (f" (and {len(shown) - 3} more)" if len(shown) > 3 else "") + "."}


def run_reproduction(summary: dict, reference: list[dict]) -> dict:
    """A rerun of the default run (its summary.json) against the reference seeds' summaries:
    student and baseline perplexity (`RUN_CHECKS`), each by `reproduces`."""
    checks = []
    for key in RUN_CHECKS:
        ref = [s[key] for s in reference if s.get(key) is not None]
        if summary.get(key) is None or not ref:
            continue
        checks.append(Check(metrics.METRICS[key].label, (summary[key],), tuple(ref),
                            reproduces([summary[key]], ref)))
    return _outcome(checks)


def _groups(records: list[dict]) -> dict[tuple, list[float]]:
    """{labels but the seed: [student_ppl over seeds]} of an experiment's records."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        labels = tuple((k, v) for k, v in r.items() if k not in RECORD_METRICS and k != "seed")
        if r.get("student_ppl") is not None:
            groups.setdefault(labels, []).append(r["student_ppl"])
    return groups


def experiment_reproduction(result: dict, reference: dict) -> dict:
    """A rerun of an experiment (result.json) against its reference: the student perplexity of
    every group of runs (same labels, over seeds) that both have, each by `reproduces`. Results
    of different sizes are not compared (reproduced None, and the text says why)."""
    if result.get("size") != reference.get("size"):
        return {"checks": [], "reproduced": None,
                "text": f"Not compared: yours is size {result.get('size')}, the reference "
                        f"size {reference.get('size')}; run the same size to compare."}
    mine, ref = _groups(result["data"]["records"]), _groups(reference["data"]["records"])
    checks = [Check(labels_text(dict(labels)) + ": student perplexity", tuple(values),
                    tuple(ref[labels]), reproduces(values, ref[labels]))
              for labels, values in mine.items() if labels in ref]
    return _outcome(checks)


def reference_result(name: str, root=None) -> dict | None:
    """The reference result.json of experiment `name` (None without one)."""
    entry = experiment_entry(name, root)
    return load_result(entry["folder"])["result"] if entry else None
