"""Where along a text teacher and student disagree: one number per position, from logits alone.

    d = token_disagreement(teacher_logits, student_logits, next_ids, temperature=T)

teacher_logits, student_logits (n, V): each model's next-token logits at positions 0 … n-1 of a
text; next_ids (n,): the token that actually comes next at each (the text shifted by one). Per
position, in nats:

    kl          KL(teacher‖student) at T = Σ p_T (log p_T − log q_T): how far the student's
                softened guess is from the teacher's (what forward-KL distillation minimises)
    teacher_ce  −log p(next token) at T = 1: the teacher's loss on the real text
    student_ce  −log q(next token) at T = 1: the student's
    ce_diff     student_ce − teacher_ce: where the student pays more than the teacher for the
                text as written (negative where it does better)

The losses are taken at T = 1 because they are the models' real losses; only the KL follows T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.divergences import kl_between

__all__ = ["MEASURES", "most_disagreeing", "token_disagreement"]

MEASURES = ("kl", "ce_diff")


def token_disagreement(teacher_logits: torch.Tensor, student_logits: torch.Tensor,
                       next_ids: torch.Tensor, temperature: float = 1.0) -> dict:
    """{"kl", "teacher_ce", "student_ce", "ce_diff"}: float32 tensors (n,), one per position."""
    if teacher_logits.shape != student_logits.shape or teacher_logits.dim() != 2:
        raise InputError(f"teacher and student logits must both be (positions, vocab), got "
                         f"{tuple(teacher_logits.shape)} and {tuple(student_logits.shape)}")
    if next_ids.shape != teacher_logits.shape[:1]:
        raise InputError(f"next_ids must give one token per position ({teacher_logits.shape[0]}),"
                         f" got shape {tuple(next_ids.shape)}")
    kl = kl_between(teacher_logits, student_logits, temperature).clamp_min(0.0)  # (n,)
    t, s = teacher_logits.float(), student_logits.float()  # (n, V)
    y = next_ids.long()[:, None]  # (n, 1)
    teacher_ce = -F.log_softmax(t, dim=-1).gather(-1, y)[:, 0]
    student_ce = -F.log_softmax(s, dim=-1).gather(-1, y)[:, 0]
    return {"kl": kl, "teacher_ce": teacher_ce, "student_ce": student_ce,
            "ce_diff": student_ce - teacher_ce}


def most_disagreeing(values: torch.Tensor, k: int) -> list[int]:
    """The positions of the k largest values, largest first (ties: the earlier position)."""
    order = sorted(range(len(values)), key=lambda i: (-float(values[i]), i))
    return order[:max(0, k)]
