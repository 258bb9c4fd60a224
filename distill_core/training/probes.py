"""Probes: the student's next-token distribution on a few fixed prompts, saved during training.

At every evaluation the training loop calls `record(run, step, student, teacher, tokenizer)`,
which appends one line to <run>/probes.jsonl:

    {"step": 50, "probes": {"They ate cake and drank": {"tokens": [...], "teacher": [...],
                                                        "student": [...], ...}, ...}}

Per prompt: the teacher's top-k next tokens with the teacher's probabilities, the student's
probabilities for those same tokens, the "everything else" mass of each, and KL(teacher‖student)
over the whole vocabulary, all at T = 1. A slider over the steps then shows the student's bars
moving towards the teacher's (`viz.probe_bars`). Lines are appended and fsynced one at a time
(like metrics.jsonl), so a run killed mid-write loses at most the line being written, which
`load` skips.
"""

from __future__ import annotations

from distill_core import models
from distill_core.kd.explore import soft_label_view
from distill_core.store.runs import append_json_line, read_json_lines

__all__ = ["PROMPTS", "load", "record", "snapshot"]

# Short openings the built-in tinytales teacher has clear opinions about: one nearly certain
# next word and three spread over a handful of choices (names, drinks, weather).
PROMPTS = ("From that day on, they were best", "They ate cake and drank",
           "Suddenly, a big", "Once there was a girl named")
FILE = "probes.jsonl"


def snapshot(student, teacher, tokenizer, prompts=PROMPTS, k: int = 8) -> dict:
    """{prompt: view} of both models' next-token probabilities at T = 1 (see module doc).

    Both models run in eval mode under inference_mode; each gets its train/eval mode back.
    Logits are compared over the tokenizer's real tokens (padded embedding rows dropped).
    """
    out = {}
    for prompt in prompts:
        t = models.prompt_logits(teacher, tokenizer, prompt)  # (V,) real tokens only
        s = models.prompt_logits(student, tokenizer, prompt)
        vocab = min(t.shape[-1], s.shape[-1])
        view = soft_label_view(t[:vocab], s[:vocab], tokenizer, 1.0, k=k)
        out[prompt] = {key: view[key] for key in ("tokens", "ids", "teacher", "student",
                                                  "teacher_rest", "student_rest", "temperature")}
        out[prompt]["kl"] = sum(view["forward_kl"]) + view["forward_kl_rest"]
    return out


def record(run, step: int, student, teacher, tokenizer) -> dict:
    """Append {"step", "probes": snapshot(...)} to the run's probes.jsonl; returns the line."""
    line = {"step": int(step), "probes": snapshot(student, teacher, tokenizer)}
    append_json_line(run.path / FILE, line, "probes")
    return line


def load(run) -> list[dict]:
    """Every recorded snapshot in step order; torn or unreadable lines are skipped."""
    lines, _ = read_json_lines(run.path / FILE)
    lines = [line for line in lines if isinstance(line.get("step"), int)
             and isinstance(line.get("probes"), dict)]
    return sorted(lines, key=lambda line: line["step"])
