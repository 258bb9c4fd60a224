"""Hidden-state distillation: how far the student's inner states are from the teacher's.

    part = hidden_loss(student_states, teacher_states, kind="mse")  # lists, one per pair
    pairs = layer_pairs("0:1,1:3")                                  # [(0, 1), (1, 3)]

Each state is (..., H), e.g. (B, T, H): one layer's output at every position, the student's
already projected to the teacher's width. The part (a plain number, not nats) is the mean
over the mapped layer pairs of

    mse     normalised mean squared error, per position: ‖s − t‖² / ‖t‖² (the squared
            error over the teacher vector's own square), then the mean over positions.
            Dividing by the teacher's own size makes layers and positions of any scale weigh
            the same (a residual stream grows with depth) and reads plainly: 0 = the same
            states, 1 = as far off as predicting zeros. Normalised per position, not by the
            whole batch's mean square, the part is a plain mean over positions, so gradient
            accumulation and processes splitting a batch give the same update as one pass.
    cosine  mean over positions of 1 − cos(s, t): only the direction of each vector counts,
            0 = parallel, 1 = orthogonal, 2 = opposite.

Computed in float32 (float64 when an input is float64) whatever the states' dtype. The teacher
states are constants here: pass them without grad.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from distill_core.errors import InputError

HIDDEN_LOSSES = ("mse", "cosine")
PAIR = re.compile(r"([0-9]{1,6})\s*:\s*([0-9]{1,6})")  # one student:teacher pair
TINY = 1e-12  # a floor under ‖t‖², for a teacher vector of all zeros

__all__ = ["HIDDEN_LOSSES", "hidden_loss", "layer_pairs", "pair_loss", "pairs_text"]


def pair_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """The `kind` distance between one layer's states, student (..., H) and teacher (..., H)."""
    dtype = torch.float64 if torch.float64 in (student.dtype, teacher.dtype) else torch.float32
    s, t = student.to(dtype), teacher.to(dtype)
    if kind == "mse":
        return ((s - t).pow(2).sum(-1) / t.pow(2).sum(-1).clamp_min(TINY)).mean()
    return (1.0 - F.cosine_similarity(s, t, dim=-1, eps=1e-8)).mean()


def hidden_loss(student_states, teacher_states, kind: str = "mse") -> torch.Tensor:
    """Mean over layer pairs of `pair_loss`: lists of (..., H) tensors, pair by pair."""
    if kind not in HIDDEN_LOSSES:
        raise InputError(f"hidden_loss must be one of {', '.join(HIDDEN_LOSSES)} (got {kind!r})")
    student_states, teacher_states = list(student_states), list(teacher_states)
    if not student_states or len(student_states) != len(teacher_states):
        raise InputError(f"hidden states come in pairs: got {len(student_states)} student and "
                         f"{len(teacher_states)} teacher layers")
    for i, (s, t) in enumerate(zip(student_states, teacher_states)):
        if s.shape != t.shape:
            raise InputError(f"hidden states of pair {i} differ in shape: student "
                             f"{tuple(s.shape)}, teacher {tuple(t.shape)} (project the student "
                             "to the teacher's width first)")
    parts = [pair_loss(s, t, kind) for s, t in zip(student_states, teacher_states)]
    return torch.stack(parts).mean()


def layer_pairs(text: str) -> list[tuple[int, int]]:
    """'0:1, 1:3' -> [(0, 1), (1, 3)]: student layer : teacher layer, numbered from 0.
    InputError naming the bad piece; a pair may not be given twice."""
    pairs = []
    for piece in str(text).split(","):
        match = PAIR.fullmatch(piece.strip())
        if match is None:
            raise InputError(f"hidden_layers must be student:teacher layer pairs numbered from "
                             f"0, comma-separated, like 0:1,1:3 (got {piece.strip()!r} in "
                             f"{text!r})")
        pair = (int(match[1]), int(match[2]))
        if pair in pairs:
            raise InputError(f"hidden_layers names the pair {pair[0]}:{pair[1]} twice "
                             f"(got {text!r})")
        pairs.append(pair)
    return pairs


def pairs_text(pairs) -> str:
    """[(0, 1), (1, 3)] -> '0:1,1:3', the form `layer_pairs` reads."""
    return ",".join(f"{s}:{t}" for s, t in pairs)
