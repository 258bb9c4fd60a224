"""A run, taken away: its config, metrics, figures, a script that reproduces it, its student.

    config_text(run, "yaml")     the DistillConfig as JSON or YAML (DistillConfig.load reads it)
    metrics_csv(run)             metrics.jsonl as a CSV table, one row per logged step
    figure_image(fig, "svg")     a plotly figure as PNG or SVG bytes (kaleido + a Chromium)
    reproduce_script(run)        a standalone Python script: DistillConfig(...) + train.distill
    student_zip(run)             the student's Hugging Face folder, zipped
    run_downloads(run)           all of the above but figures, as the Compare page offers them

Each returns str or bytes, so the app can hand it to a download button and tests can check it.
Every failure the user can cause or fix is an InputError with one line.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from typing import NamedTuple

from distill_core.config import DistillConfig
from distill_core.errors import InputError

__all__ = ["FIGURE_FORMATS", "Download", "config_text", "figure_image", "metrics_csv",
           "reproduce_script", "run_downloads", "student_zip"]

FIGURE_FORMATS = ("png", "svg")
FIRST_COLUMNS = ("step", "tokens", "elapsed_s", "loss", "kd", "ce", "hidden", "lr")


def run_config(run) -> DistillConfig:
    """The run's config.json as a validated DistillConfig."""
    raw = run.config()
    if not raw:
        raise InputError(f"run {run.id} has no config.json")
    return DistillConfig.from_dict(raw)


def config_text(run, fmt: str = "json") -> str:
    """The run's config as JSON or YAML text."""
    if fmt not in ("json", "yaml"):
        raise InputError(f"config format must be json or yaml (got {fmt!r})")
    config = run_config(run)
    return config.to_json() if fmt == "json" else config.to_yaml()


def metrics_csv(run) -> str:
    """Every logged step as a CSV row; columns: the usual ones first, then any others in the
    order they first appear (evaluation columns are empty on steps without an evaluation)."""
    records = run.metrics()
    if not records:
        raise InputError(f"run {run.id} has logged no metrics yet")
    columns = [c for c in FIRST_COLUMNS if any(c in r for r in records)]
    for record in records:
        columns += [k for k in record if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def figure_image(fig, fmt: str = "png", width: int = 1000, height: int = 550,
                 scale: float = 2.0) -> bytes:
    """A plotly figure as PNG or SVG, rendered by kaleido in a headless Chromium."""
    if fmt not in FIGURE_FORMATS:
        raise InputError(f"figure format must be png or svg (got {fmt!r})")
    try:
        return fig.to_image(format=fmt, width=width, height=height, scale=scale)
    except Exception as err:  # noqa: BLE001 - kaleido and its browser driver raise their own
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"could not draw the figure as {fmt.upper()} ({first}); it needs the "
                         "kaleido package and a Chrome or Chromium browser (set BROWSER_PATH "
                         "to it)") from None


SCRIPT = '''"""Reproduce run {run_id} with distill_core (Distillation Playground).

    python {file_name}

The run is stored under ./runs, or $DISTILL_RUNS_DIR if set. Same seed and settings give the
same batches and the same start; numbers can still differ a little on other hardware.
"""

import os

from distill_core.app import report
from distill_core.config import DistillConfig
from distill_core.training.loop import distill

config = DistillConfig(
{fields}
    runs_dir=os.environ.get("DISTILL_RUNS_DIR", "runs"),
)

if __name__ == "__main__":
    result = distill(config)
    print(f"run {{result.run.id}} in {{result.run.path}}")
    for label, value in report.verdict_rows(result.summary):
        print(f"{{label:<42}} {{value}}")
'''


def reproduce_script(run) -> str:
    """A Python script that trains the same run again: every config field, written out."""
    config = run_config(run).to_dict()
    config.pop("runs_dir")
    fields = "\n".join(f"    {name}={value!r}," for name, value in config.items())
    return SCRIPT.format(run_id=run.id, file_name=f"reproduce_{run.id}.py", fields=fields)


def student_zip(run) -> bytes:
    """The run's student folder (a normal Hugging Face model folder) as zip bytes; the files
    sit in a folder named <run id>-student inside the zip."""
    folder = run.student_dir
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise InputError(f"run {run.id} has no saved student yet (it is saved when the run ends "
                         "or is cancelled)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            z.write(path, f"{run.id}-student/{path.relative_to(folder)}")
    return out.getvalue()


class Download(NamedTuple):
    """One download button: its label, its data (the zip as a function, made when clicked), the
    file name, and why it is disabled (None when it is not)."""
    label: str
    data: str | bytes | Callable[[], bytes]
    file_name: str
    why_not: str | None = None


def run_downloads(run) -> list[Download]:
    """Config (JSON, YAML), metrics CSV, the reproducing script and the student zip of `run`.
    The text files are made now (they are small); one that cannot be made yet (no metrics, no
    student) has no data and says why."""
    texts = (("config (JSON)", lambda: config_text(run, "json"), "config.json"),
             ("config (YAML)", lambda: config_text(run, "yaml"), "config.yaml"),
             ("metrics (CSV)", lambda: metrics_csv(run), "metrics.csv"),
             ("script to reproduce (.py)", lambda: reproduce_script(run),
              f"reproduce_{run.id}.py"))
    out = []
    for label, make, name in texts:
        try:
            out.append(Download(label, make(), name))
        except InputError as err:
            out.append(Download(label, b"", name, str(err)))
    label, name = "student (zip of its Hugging Face folder)", f"{run.id}-student.zip"
    if run.student_dir.is_dir():
        return [*out, Download(label, lambda: student_zip(run), name)]
    return [*out, Download(label, b"", name, f"run {run.id} has no saved student yet")]
