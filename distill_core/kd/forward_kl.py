"""The default loss's sums with their gradient in closed form: forward KL at T and CE at T = 1.

Over rows s (N, V) of student logits, with p_T, q_T the softened teacher and student and q_1 the
student at T = 1,

    ∂kd/∂s = (q_T − p_T) / (T n),   ∂ce/∂s = (q_1 − onehot(y)) / n,

so the gradient comes with the loss: no replay of the softmaxes, products and sums through
autograd. (On a top-k teacher a rest token j's share is q_j − p_rest q_j / q_rest, the
derivative of the bucketed KL.) This is the loss's one custom gradient, kept because it
measured faster than autograd on the same chunks; every other kind is differentiated by
autograd (`terms.loss_sums`).

Buffers are written in place once done with, so at most three (N, V) live at once (the same
operations, so the same numbers, as the plain out-of-place formulas).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distill_core.kd.terms import kept_sum
from distill_core.kd.topk import TopK, bucket_log_probs

__all__ = ["forward_kl_chunk"]


def _dense(log_q: torch.Tensor, teacher: torch.Tensor, temperature: float, grads: bool):
    """Per-row KL(p_T‖q_T) (N,) and, with `grads`, q_T − p_T (N, V), written over log_q."""
    log_p = F.log_softmax(teacher.to(log_q.dtype) / temperature, dim=-1)  # (N, V)
    p = log_p.exp()
    kd = log_p.sub_(log_q).mul_(p).sum(-1).clamp_min(0.0)  # Σ p (log p − log q)
    del log_p
    if not grads:
        return kd, None, None
    q = log_q.exp_()
    return kd, torch.sub(q, p, out=p), q  # q − p, over p


def _top_k(log_q: torch.Tensor, teacher: TopK, temperature: float, grads: bool):
    """`_dense` for a top-k teacher, over its k + 1 buckets (k at k = V)."""
    log_pb, log_qb = bucket_log_probs(log_q, teacher, temperature)  # (N, k + 1)
    kd = (log_pb.exp() * (log_pb - log_qb)).sum(-1).clamp_min(0.0)
    if not grads:
        return kd, None, None
    k = teacher.ids.shape[-1]
    if log_pb.shape[-1] > k:  # a rest token j: q_j − p_rest · q_j / q_rest, the share in logs
        g_kd = (log_q - log_qb[:, k:]).exp_().mul_(-log_pb[:, k:].exp())  # (N, V)
        q = log_q.exp_()
        g_kd.add_(q)  # (the top-k entries, overwritten below, may hold inf or nan here)
    else:
        q = log_q.exp_()
        g_kd = torch.zeros_like(q)
    ids = teacher.ids.long()  # a top-k token j: q_j − p_j
    g_kd.scatter_(-1, ids, q.gather(-1, ids) - log_pb[:, :k].exp())
    return kd, g_kd, q


def _nll_t1(rows: torch.Tensor, log_q: torch.Tensor, y: torch.Tensor, keep, temperature: float):
    """Σ −log q_1(y) over the kept rows and log q_1 (N, V), or None where log_q is q_1."""
    log_q1 = log_q if temperature == 1.0 else F.log_softmax(rows, dim=-1)
    ce = kept_sum(-log_q1.gather(-1, y[:, None])[:, 0], keep)
    return ce, (None if temperature == 1.0 else log_q1)


def forward_kl_chunk(rows, teacher, y, keep, weights, n, *, alpha: float, temperature: float):
    """(Σ kd, Σ ce, gradient of (w_kd Σ kd + w_ce Σ ce) / n, or None without `weights`) over
    rows (N, V) in the compute dtype, with the teacher's rows (dense or top-k), labels y (N,)
    or None and keep (N,) or None: the rows that count; the others get no gradient."""
    grads = weights is not None
    log_q = F.log_softmax(rows / temperature, dim=-1)  # (N, V)
    ce, log_q1 = rows.new_zeros(()), None
    if y is not None and temperature == 1.0:  # reuses the KD term's softmax, before exp_
        ce, _ = _nll_t1(rows, log_q, y, keep, temperature)
    kd_rows, g_kd, q = (_top_k if isinstance(teacher, TopK) else _dense)(
        log_q, teacher, temperature, grads)
    kd = kept_sum(kd_rows, keep)
    del log_q  # (it is q now, if grads)
    if y is not None and temperature != 1.0:
        ce, log_q1 = _nll_t1(rows, None, y, keep, temperature)
    if not grads:
        return kd, ce, None
    grad = g_kd.div_(n * temperature).mul_(weights[0])  # (q_T − p_T) / (T n), weighted
    if y is not None and alpha < 1.0:  # (q_1 − onehot(y)) / n, weighted
        g_ce = q if log_q1 is None else log_q1.exp_()
        g_ce[torch.arange(len(y), device=y.device), y] -= 1.0
        grad.add_(g_ce.div_(n).mul_(weights[1]))
    if keep is not None:
        grad.masked_fill_(~keep[:, None], 0.0)
    return kd, ce, grad
