"""Sparse teacher targets: the teacher's k most likely next tokens and one bucket for the rest.

This is what the teacher cache stores. A divergence against it is taken over k + 1 buckets,
exact on the top-k tokens; the rest bucket holds the mass of the other V − k tokens, computed
exactly on both sides (a log-sum-exp over the tokens outside the top k, so a student that puts
e^-200 there is not read as e^-80). At k = V there is no rest and no rest bucket.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import check_logits, compute_dtype, values_checkable

__all__ = ["TopK", "bucket_log_probs", "check_top_k_teacher", "top_k", "top_k_of_log_probs"]


class TopK(NamedTuple):
    """A teacher's next-token distribution at T = 1, kept sparse (what the teacher cache stores).

    logp (..., k) the k largest log-probabilities; ids (..., k) their token ids; log_rest (...)
    the log of the mass left over for the other V − k tokens (−inf at k = V); vocab = V.
    """

    logp: torch.Tensor
    ids: torch.Tensor
    log_rest: torch.Tensor
    vocab: int


def top_k(teacher_logits: torch.Tensor, k: int) -> TopK:
    """The k most likely tokens of softmax(teacher_logits) and the rest mass, in float32."""
    check_logits("teacher_logits", teacher_logits)
    vocab = teacher_logits.shape[-1]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= vocab:
        raise InputError(f"k must be an integer from 1 to the vocabulary size {vocab}, got {k!r}")
    log_p = F.log_softmax(teacher_logits.to(compute_dtype(teacher_logits)), dim=-1)
    return top_k_of_log_probs(log_p, int(k))


def top_k_of_log_probs(log_p: torch.Tensor, k: int) -> TopK:
    """`top_k` from normalised log-probabilities (..., V) the caller already has."""
    logp, ids = log_p.topk(k, dim=-1)
    log_rest = log_p.scatter(-1, ids, float("-inf")).logsumexp(-1)  # (...)
    return TopK(logp, ids, log_rest, log_p.shape[-1])


def check_top_k_teacher(student: torch.Tensor, t: TopK) -> None:
    """A TopK teacher whose fields fit student logits (..., V)."""
    if not all(isinstance(x, torch.Tensor) for x in (t.logp, t.ids, t.log_rest)):
        raise InputError("a TopK teacher needs tensors logp, ids and log_rest")
    out_of_range = t.ids.numel() and values_checkable(t.ids) \
        and bool(((t.ids < 0) | (t.ids >= t.vocab)).any())
    if t.ids.is_floating_point() or out_of_range:
        raise InputError(f"TopK ids must be integer token ids in [0, {t.vocab})")
    if t.logp.shape != t.ids.shape or t.logp.shape[:-1] != student.shape[:-1] \
            or t.log_rest.shape != student.shape[:-1]:
        raise InputError(f"top-k teacher shapes {tuple(t.logp.shape)}, {tuple(t.ids.shape)}, "
                         f"{tuple(t.log_rest.shape)} do not match student logits "
                         f"{tuple(student.shape)}")
    if t.vocab != student.shape[-1]:
        raise InputError(f"vocab sizes differ: student {student.shape[-1]} vs teacher {t.vocab}")


def bucket_log_probs(log_q: torch.Tensor, t: TopK, temperature: float):
    """(teacher, student) log-distributions (N, k + 1) over the buckets: the teacher's top-k
    tokens and the rest, given the student's softened log-probs log_q (N, V) and the teacher's
    rows t (N, k), (N, k), (N,). At k = V: (N, k) each, no rest bucket.

    The student's side is exact. At T = 1 the teacher's side is exact too; at other T its rest
    mass must be softened without knowing how it is spread over the V − k rest tokens, so it is
    taken as spread in the student's own proportions there (the student's T = 1 probabilities,
    without gradient). A rest of exactly 0 (log −inf) is floored at the most negative finite
    float, whose exp is 0 as well: the same result, with 0 · (−inf) = nan kept out of the sums.
    """
    ids = t.ids.long()  # (N, k)
    log_p = t.logp.to(log_q.dtype) / temperature  # (N, k)
    student_top = log_q.gather(-1, ids)  # (N, k)
    if ids.shape[-1] == t.vocab:
        return log_p - log_p.logsumexp(-1, keepdim=True), student_top
    rest = t.log_rest.to(log_q.dtype)  # (N,)
    if temperature != 1.0:
        rest = _softened_rest(log_q, ids, rest, temperature)
    floor = torch.finfo(log_q.dtype).min
    log_p = torch.cat([log_p, rest.clamp_min(floor)[:, None]], -1)
    log_p = log_p - log_p.logsumexp(-1, keepdim=True)  # (N, k + 1)
    student_rest = _logsumexp_(log_q.scatter(-1, ids, float("-inf")))  # (N,), finite
    return log_p, torch.cat([student_top, student_rest[:, None]], -1)


@torch.no_grad()
def _softened_rest(log_q: torch.Tensor, ids: torch.Tensor, rest: torch.Tensor,
                   temperature: float) -> torch.Tensor:
    """The log of the teacher's rest mass softened by T (N,), spread over the rest tokens like
    the student's T = 1 probabilities: Σ_rest (r · q_i / q_rest)^(1/T), in logs."""
    tail = F.log_softmax(log_q * temperature, dim=-1)  # (N, V) the student at T = 1
    tail.scatter_(-1, ids, float("-inf"))  # top-k left out
    share = tail.logsumexp(-1)  # the student's rest mass at T = 1, finite for k < V
    return (rest - share) / temperature + _logsumexp_(tail.div_(temperature))


def _logsumexp_(x: torch.Tensor) -> torch.Tensor:
    """logsumexp over the last dim of x (N, V), computed in x's own buffer, which it spends:
    the same max-shifted formula as torch.logsumexp without its (N, V) temporary. (Under
    autograd, x is in the graph: then torch.logsumexp.)"""
    if x.requires_grad and torch.is_grad_enabled():
        return x.logsumexp(-1)
    top = x.amax(-1, keepdim=True).clamp_min(torch.finfo(x.dtype).min)  # (N, 1)
    return x.sub_(top).exp_().sum(-1).log_().add_(top[:, 0])
