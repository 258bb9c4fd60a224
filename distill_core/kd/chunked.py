"""The loss's one path: kd and ce with the student's gradient, walked over chunks of positions.

At a real vocabulary (49,152 tokens) a 16 x 128 batch's logits are 400 MB per model in float32,
and a loss taken in one pass holds several such buffers. So the positions are walked in chunks,
each chunk's gradient taken with its loss and written into one buffer shaped like the logits
(the gradient the student needs anyway); beyond that about one chunk's buffers live at a time.
A batch that fits in one chunk (the built-in pair's) is simply one chunk, and its gradient
buffer is the chunk's own. Backward scales that buffer in place; a gradient through kd or ce
themselves, or a second backward, recomputes it chunk by chunk.

Per chunk the gradient is the closed form of `forward_kl` for the default loss (forward KL, a
teacher without grad), else autograd over `terms.loss_sums`. A teacher with grad gets its
gradient from autograd over all positions at once (`graph_loss`): chunks only serve the student.
No step here reads a tensor's value on the host: the count of positions that count stays a
tensor, and ignored rows are zeroed rather than selected.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import torch

from distill_core.errors import InputError
from distill_core.kd.checks import compute_dtype
from distill_core.kd.forward_kl import forward_kl_chunk
from distill_core.kd.terms import loss_sums
from distill_core.kd.topk import TopK

__all__ = ["CHUNK_BYTES", "autograd_chunk", "chunk_maths", "chunked_loss", "count_kept",
           "graph_loss", "loss_weights", "row_reader", "rows_per_chunk", "teacher_has_grad", "teacher_reader"]

# The default chunk: this many bytes of float32 logits (at V = 49,152, 170 positions). Measured
# (bench/loss_memory.py): 32 MiB chunks are faster than one pass at V = 49,152; 4-8 MiB chunks
# were slower, and so were 64 MiB ones (likely because a buffer above glibc's largest mmap
# threshold, 32 MiB, is a fresh mapping the kernel must zero-fill each time).
CHUNK_BYTES = 32 * 2**20


def rows_per_chunk(chunk_size, positions: int, vocab: int) -> int:
    """Positions per chunk: all of them for None or a batch that fits in one chunk."""
    if chunk_size is None:
        rows = positions
    elif isinstance(chunk_size, str) and chunk_size == "auto":
        rows = CHUNK_BYTES // (4 * vocab)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) \
            or chunk_size < 1:
        raise InputError(f"chunk_size must be a number of positions ≥ 1, 'auto' or None, "
                         f"got {chunk_size!r}")
    else:
        rows = int(chunk_size)
    return max(1, min(rows, positions))


def teacher_has_grad(teacher) -> bool:
    parts = teacher[:3] if isinstance(teacher, TopK) else (teacher,)
    return any(isinstance(x, torch.Tensor) and x.requires_grad for x in parts)


def row_reader(x: torch.Tensor):
    """x (..., C) as rows (N, C): a function (start, stop) → rows start:stop, a view where x's
    layout allows one, else a copy of just those rows (e.g. of logits[:, :-1])."""
    try:
        flat = x.view(-1, x.shape[-1])
    except RuntimeError:
        lead = tuple(x.shape[:-1])
        return lambda a, b: x[torch.unravel_index(torch.arange(a, b, device=x.device), lead)]
    return lambda a, b: flat[a:b]


def teacher_reader(teacher):
    """`row_reader` for a dense or top-k teacher or None: (start, stop) → its rows."""
    if teacher is None:
        return lambda a, b: None
    if not isinstance(teacher, TopK):
        return row_reader(teacher)
    fields = [row_reader(x) for x in (teacher.logp, teacher.ids, teacher.log_rest[..., None])]

    def read(a, b):
        logp, ids, rest = (f(a, b) for f in fields)
        return TopK(logp, ids, rest[:, 0], teacher.vocab)
    return read


class _Plan(NamedTuple):
    """What `_ChunkedLoss` needs besides its tensors: numbers only, so that nothing it holds
    outlives the backward pass (the tensors go through save_for_backward)."""

    chunk: object  # (rows, teacher rows, labels, keep, weights, n) → (Σ kd, Σ ce, grad or None)
    rows: int  # positions per chunk
    dtype: torch.dtype  # compute dtype
    weights: tuple[float, float]  # total = w_kd kd + w_ce ce
    want_grad: bool
    top_k_vocab: int | None  # V for a top-k teacher, else None


def autograd_chunk(rows, teacher, y, keep, weights, n, **spec):
    """`forward_kl_chunk` for any kind: the sums of `loss_sums`, the gradient by autograd."""
    with torch.set_grad_enabled(weights is not None):
        x = rows.detach().requires_grad_(weights is not None)
        kd, ce = loss_sums(x, teacher, y, keep, **spec)
        if weights is None:
            return kd, ce, None
        (grad,) = torch.autograd.grad((weights[0] * kd + weights[1] * ce) / n, x)
    return kd.detach(), ce.detach(), grad


def chunk_maths(dtype: torch.dtype, teacher_dtype: torch.dtype | None, *, alpha, temperature,
                kind, beta):
    """The per-chunk function for logits in `dtype` and a teacher whose rows come in
    `teacher_dtype` (a TopK's: `dtype`; None: no teacher): forward_kl's closed form where it
    applies, else autograd over `terms.loss_sums`."""
    fusable = teacher_dtype is not None and torch.promote_types(dtype, teacher_dtype) == dtype
    if kind == "forward_kl" and alpha > 0.0 and fusable:
        return functools.partial(forward_kl_chunk, alpha=alpha, temperature=temperature)
    return functools.partial(autograd_chunk, alpha=alpha, temperature=temperature, kind=kind,
                             beta=beta)


def _plan(student_logits, teacher, rows, weights, *, alpha, temperature, kind, beta) -> _Plan:
    dtype = compute_dtype(student_logits)
    teacher_dtype = None if teacher is None else dtype if isinstance(teacher, TopK) \
        else teacher.dtype
    chunk = chunk_maths(dtype, teacher_dtype, alpha=alpha, temperature=temperature, kind=kind,
                        beta=beta)
    want_grad = torch.is_grad_enabled() and student_logits.requires_grad
    return _Plan(chunk, rows, dtype, weights, want_grad,
                 teacher.vocab if isinstance(teacher, TopK) else None)


def _chunk_pass(s, teacher, labels, keep, n, plan: _Plan, weights=None):
    """(Σ kd, Σ ce, gradient (P, V) of (w_kd Σ kd + w_ce Σ ce) / n or None) over the chunks of
    positions of s (..., V), with the teacher (dense, top-k or None), labels (...) holding
    valid ids wherever keep (...) is True, and keep or None (every position counts)."""
    read, read_teacher = row_reader(s), teacher_reader(teacher)
    labels = None if labels is None else labels.reshape(-1).to(s.device).long()  # (P,)
    keep = None if keep is None else keep.reshape(-1)  # (P,)
    positions, vocab = s.shape[:-1].numel(), s.shape[-1]
    kd = ce = s.new_zeros((), dtype=plan.dtype)
    grad = None
    for a in range(0, positions, plan.rows):
        b = min(a + plan.rows, positions)
        part = (None if x is None else x[a:b] for x in (labels, keep))
        k, c, g = plan.chunk(read(a, b).to(plan.dtype), read_teacher(a, b), *part, weights, n)
        kd, ce = kd + k, ce + c
        if g is not None and b - a == positions:
            grad = g  # one chunk: its gradient is the whole gradient
        elif g is not None:
            if grad is None:
                grad = torch.empty((positions, vocab), dtype=plan.dtype, device=s.device)
            grad[a:b] = g
        del g  # before the next chunk's buffers are made
    if weights is not None and grad is None:  # no positions at all
        grad = torch.zeros((positions, vocab), dtype=plan.dtype, device=s.device)
    return kd, ce, grad


def loss_weights(alpha: float, temperature: float) -> tuple[float, float]:
    """(w_kd, w_ce) = (α T², 1 − α): the weights of the KD and CE parts in every total."""
    return alpha * temperature**2, 1.0 - alpha


def weighted_total(ctx, kd: torch.Tensor, ce: torch.Tensor, weights: tuple[float, float]):
    """(total, kd, ce) with total = w_kd kd + w_ce ce; a part that weighs nothing is reported
    but left out of the total (and marked non-differentiable on the autograd context `ctx`,
    when there is one: None in a plain autograd graph)."""
    w_kd, w_ce = weights
    if w_ce == 0.0 or w_kd == 0.0:
        if ctx is not None:  # reported, weighs nothing
            ctx.mark_non_differentiable(ce if w_ce == 0.0 else kd)
        return (w_kd * kd if w_ce == 0.0 else w_ce * ce), kd, ce
    return w_kd * kd + w_ce * ce, kd, ce


class _ChunkedLoss(torch.autograd.Function):
    """(total, kd, ce) with total = w_kd kd + w_ce ce, kd and ce the means over the positions
    that count, each chunk's gradient taken with its loss."""

    @staticmethod
    def forward(ctx, s, plan: _Plan, teacher, labels, keep):
        ctx.set_materialize_grads(False)
        n = count_kept(keep, s.shape[:-1].numel(), plan.dtype)
        ctx.plan, ctx.in_dtype, ctx.n = plan, s.dtype, n
        fields = () if teacher is None else tuple(teacher[:3]) if plan.top_k_vocab else (teacher,)
        ctx.save_for_backward(s, labels, keep, *fields)
        weights = plan.weights if plan.want_grad else None
        kd, ce, ctx.grad = _chunk_pass(s, teacher, labels, keep, n, plan, weights)
        kd, ce = kd / n, ce / n
        return weighted_total(ctx, kd, ce, plan.weights)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_total, g_kd, g_ce):
        s, labels, keep, *fields = ctx.saved_tensors
        plan = ctx.plan
        grad, ctx.grad = ctx.grad, None
        if grad is not None and g_kd is None and g_ce is None:
            if g_total.device.type != "cpu" or g_total.item() != 1.0:  # (no sync on a GPU)
                grad.mul_(g_total)
        else:  # the weights of kd and ce in what is differentiated, as (0-dim) tensors
            weights = tuple((0.0 if g_total is None else w * g_total) + (0.0 if g is None else g)
                            for w, g in zip(plan.weights, (g_kd, g_ce)))
            teacher = TopK(*fields, plan.top_k_vocab) if plan.top_k_vocab else \
                (fields[0] if fields else None)
            grad = _chunk_pass(s, teacher, labels, keep, ctx.n, plan, weights)[2]
        return grad.view(s.shape).to(ctx.in_dtype), None, None, None, None


def count_kept(keep: torch.Tensor | None, positions: int, dtype: torch.dtype):
    """The number of positions that count, at least 1: an int, or a tensor (no host sync)."""
    return max(positions, 1) if keep is None else keep.sum().to(dtype).clamp_min(1.0)


def chunked_loss(student_logits, teacher, labels, keep, *, rows: int, alpha: float,
                 temperature: float, kind: str, beta: float | None, weights):
    """(total, kd, ce) for logits (..., V) and a teacher without grad (or None at α = 0), over
    chunks of `rows` positions; labels (...) or None, keep (...) bool or None."""
    plan = _plan(student_logits, teacher, rows, weights, alpha=alpha, temperature=temperature,
                 kind=kind, beta=beta)
    if labels is not None and keep is not None:
        labels = labels.to(keep.device).masked_fill(~keep, 0)  # a valid id where it is ignored
    return _ChunkedLoss.apply(student_logits, plan, teacher, labels, keep)


def graph_loss(student_logits, teacher, labels, keep, *, alpha: float, temperature: float,
               kind: str, beta: float | None, weights):
    """`chunked_loss` in one autograd graph over all positions, for a teacher with grad."""
    dtype = compute_dtype(student_logits)
    vocab = student_logits.shape[-1]
    n = count_kept(keep, student_logits.shape[:-1].numel(), dtype)
    x = student_logits.reshape(-1, vocab).to(dtype)
    t = teacher.reshape(-1, vocab) if not isinstance(teacher, TopK) else TopK(
        *(f.reshape(-1, f.shape[-1]) for f in teacher[:2]), teacher.log_rest.reshape(-1),
        teacher.vocab)
    y = None if labels is None else labels.reshape(-1).to(x.device).long()
    keep = None if keep is None else keep.reshape(-1)
    if y is not None and keep is not None:
        y = y.masked_fill(~keep, 0)
    kd, ce = loss_sums(x, t, y, keep, alpha=alpha, temperature=temperature, kind=kind, beta=beta)
    return weighted_total(None, kd / n, ce / n, weights)
