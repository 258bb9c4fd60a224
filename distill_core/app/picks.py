"""The runs a page offers to pick, read from the run store: the students finished runs trained
from a teacher (the Soft labels page), and the runs that recorded probes (the Scrubber).

    picks.trained_students("builtin:teacher")   {"trained in run 20260101-…": "<run>/student"}
    picks.probed_runs()                          [list_runs rows], newest first

No Streamlit here.
"""

from __future__ import annotations

from distill_core.store.runs import list_runs, load_run
from distill_core.training import probes

__all__ = ["probed_runs", "trained_students"]


def trained_students(teacher: str, root=None) -> dict[str, str]:
    """{label: student folder} of the finished runs distilled from `teacher` that saved their
    student, newest first."""
    runs = [load_run(r["id"], root) for r in list_runs(root)
            if r["state"] == "done" and r["teacher"] == teacher]
    return {f"trained in run {run.id}": str(run.student_dir) for run in runs
            if run.student_dir.is_dir()}


def probed_runs(root=None) -> list[dict]:
    """The list_runs rows of the runs that have recorded probes, newest first."""
    return [r for r in list_runs(root) if (load_run(r["id"], root).path / probes.FILE).exists()]
