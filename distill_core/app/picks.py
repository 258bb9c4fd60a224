"""The runs a page offers to pick, read from the run store: the students finished runs trained
from a teacher (the Soft labels page), and the runs that recorded probes (the Scrubber).

    picks.trained_students("builtin:teacher")   {"trained in run 20260101-…": "<run>/student"}
    picks.probed_runs()                          [list_runs rows], newest first
    picks.students_to_pick("builtin:teacher")    the user's, then the reference run's student
    picks.finished_runs()                        {run id: its runs root}, the reference's last

No Streamlit here.
"""

from __future__ import annotations

from pathlib import Path

from distill_core.app import reference
from distill_core.store.runs import list_runs, load_run, runs_root
from distill_core.training import probes

__all__ = ["finished_runs", "is_reference", "probed_runs", "run_label", "run_note", "student_note",
           "students_to_pick", "trained_students"]


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


def students_to_pick(teacher: str, root=None) -> dict[str, str]:
    """`trained_students`, then the reference default run's student (when it learnt from
    `teacher`): a fresh install has a trained student to look at too."""
    return {**trained_students(teacher, root), **reference.reference_students(teacher)}


def student_note(spec: str) -> str | None:
    """A line under a student's bars: what an untrained built-in or a reference student is."""
    if spec.startswith("builtin:"):
        return (f"The student is {spec} as made before any training, so its guesses are rough: "
                "distil one on the Distill page, then pick its run above.")
    run = reference.default_run()
    if run is not None and spec == str(run.student_dir):
        return reference.note(reference.default_entry(), "the reference run's student")
    return None


def finished_runs(root=None) -> dict:
    """{run id: runs root} of the finished runs, newest first, then the reference default run
    (seed 0, the one that kept its students) when it has a student."""
    runs = {r["id"]: runs_root(root) for r in list_runs(root) if r["state"] == "done"}
    ref = reference.default_run()
    if ref is not None and ref.id not in runs and (ref.student_dir / "config.json").is_file():
        runs[ref.id] = ref.root
    return runs


def is_reference(root) -> bool:
    return root is not None and Path(root).resolve() == reference.reference_root().resolve()


def run_label(run_id: str, root=None) -> str:
    """A run as a menu shows it: its id, or 'reference run <id>' for one of the reference's."""
    return f"reference run {run_id}" if is_reference(root) else run_id


def run_note(root) -> str | None:
    """The reference's label ('Reference run, measured on …') for a run of the reference."""
    return reference.note(reference.default_entry(), "reference run") if is_reference(root) \
        else None
