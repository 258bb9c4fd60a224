"""A run's validation record at an evaluation step: the student's and the teacher's losses on
the validation blocks (the teacher's computed once per run), top-1 agreement and KL where the
two share a tokenizer, the baseline's loss, and every loss again in bits per byte and per
character of the text, the units that mean the same whatever the tokenizer (across tokenizers,
each model's over the text its own tokens spell)."""

from __future__ import annotations

import math

from distill_core.training import evaluate
from distill_core.training.run_state import RunState

__all__ = ["validation_record"]


def validation_record(s: RunState) -> dict:
    """{"val_loss", "val_ppl", "teacher_val_loss", ..., "val_bpb", ...} for the run now."""
    out = s.source.compare(s.student(), s.val_blocks, vocab=s.vocab)
    s.teacher_eval.setdefault("loss", out["teacher_loss"])
    record = {"val_loss": out["student_loss"], "val_ppl": out["student_ppl"],
              "teacher_val_loss": s.teacher_eval["loss"],
              "teacher_val_ppl": math.exp(s.teacher_eval["loss"]),
              "agreement": out["agreement"], "kl": out["kl"]}
    size = s.prepared.val_text_size()  # the student's blocks
    record.update(evaluate.per_byte({"val": record["val_loss"]}, size))
    record.update(evaluate.per_byte({"teacher_val": record["teacher_val_loss"]},
                                    s.prepared.val_text_size(teacher=True)))
    if "baseline" in s.students:
        base = evaluate.compare(s.student("baseline"), None, s.val_blocks, vocab=s.vocab)
        record.update(baseline_val_loss=base["student_loss"], baseline_val_ppl=base["student_ppl"])
        record.update(evaluate.per_byte({"baseline_val": base["student_loss"]}, size))
    return record
