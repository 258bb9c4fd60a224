"""How the experiments name models and runs in tables and findings: 'half', 'teacher-early',
'owner/model (teacher)', where a student's weights start, a run's labels as words."""

from __future__ import annotations

from distill_core import models

__all__ = ["EARLY_TEACHER", "labels_text", "spec_name", "student_start", "teacher_label"]

EARLY_TEACHER = "builtin:teacher-early"  # the built-in teacher's early snapshot


def spec_name(spec: str) -> str:
    """'builtin:half' -> 'half'; any other spec as it is."""
    return spec.split(":", 1)[1] if spec.startswith("builtin:") else spec


def teacher_label(spec: str) -> str:
    """'teacher', 'teacher-early' for the built-in ones; 'owner/model (teacher)' otherwise."""
    name = spec_name(spec)
    return name if name.startswith("teacher") else f"{name} (teacher)"


def student_start(student: str) -> str:
    """Where a student's weights start: 'random', 'teacher layers' (presets), 'pretrained'."""
    preset = models.PRESETS.get(spec_name(student)) if student.startswith("builtin:") else None
    return ("pretrained" if preset is None else
            "random" if preset["init"] == "random" else "teacher layers")


def labels_text(labels: dict) -> str:
    """{"train_docs": 100, "temperature": 2.0} -> 'train_docs 100, temperature 2'."""
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in labels.items())
