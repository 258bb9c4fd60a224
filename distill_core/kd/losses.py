"""Distillation losses between teacher and student next-token distributions, in nats.

With p = softmax(z_t / T) (teacher) and q = softmax(z_s / T) (student), per position:

    forward_kl   KL(p‖q) = Σ p (log p − log q)                     mode-covering
    reverse_kl   KL(q‖p) = Σ q (log q − log p)                     mode-seeking
    jsd          β KL(p‖m) + (1−β) KL(q‖m),  m = β p + (1−β) q,   0 < β < 1
    tvd          ½ Σ |p − q|
    skew_kl      KL(p‖m),  m = β p + (1−β) q,                     0 ≤ β < 1  (β = 0: forward_kl)

`divergence` averages the per-position value over the unmasked positions.

Numerics: everything runs in log space (log_softmax; log m = logaddexp(log β + log p,
log(1−β) + log q), the two-term logsumexp) in at least float32, so bf16/fp16 inputs,
logits up to ±1e4 and T in [0.05, 100] stay finite. For finite logits log_softmax is
finite, so p · (log p − log q) is 0 · finite where p underflows, never 0 · ∞. Logits must
be finite. Rounding can leave a KL a hair below 0; it is clamped at 0 per position.
Results come back in float32 (float64 if an input is float64). Teacher logits are not
detached: pass them without grad (e.g. from `torch.no_grad()`) unless you want grads there.

Memory: at a real vocabulary (49,152 tokens) a 16 x 128 batch's logits are 400 MB per model in
float32, and a one-pass loss holds several such buffers. `kd_loss` and `divergence` therefore
work over chunks of positions (`chunk_size`), each chunk's gradient taken with its loss, so
beyond the logits and their gradient about one chunk's worth of buffers lives at a time.
Batches that fit in one chunk (the built-in pair's) take the one-pass path unchanged.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F

from distill_core.errors import InputError

KINDS = ("forward_kl", "reverse_kl", "jsd", "tvd", "skew_kl")

__all__ = ["KINDS", "TopK", "divergence", "entropy", "kd_loss", "soften", "top_k"]


# ---------------------------------------------------------------- argument checks


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _check_temperature(temperature) -> float:
    t = _real("temperature", temperature)
    if not (math.isfinite(t) and t > 0):  # NaN fails both
        raise InputError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def _check_alpha(alpha) -> float:
    a = _real("alpha", alpha)
    if not 0.0 <= a <= 1.0:  # NaN fails too
        raise InputError(f"alpha must be in [0, 1], got {alpha!r}")
    return a


def _check_kind_beta(kind, beta) -> float | None:
    """β as a float for the kinds that use it (jsd, skew_kl), else None (β is ignored)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "jsd":
        b = _real("beta", beta)
        if b in (0.0, 1.0):
            raise InputError(
                f"beta={b:g} makes jsd identically 0 (m equals one side); near beta=0 jsd ≈ "
                "beta·forward_kl and near beta=1 ≈ (1−beta)·reverse_kl, so use kind='forward_kl' "
                "or kind='reverse_kl', or pick beta strictly between 0 and 1"
            )
        if not 0.0 < b < 1.0:
            raise InputError(f"beta must be strictly between 0 and 1 for kind='jsd', got {beta!r}")
        return b
    if kind == "skew_kl":
        b = _real("beta", beta)
        if not 0.0 <= b < 1.0:
            raise InputError(
                f"beta must be in [0, 1) for kind='skew_kl' (beta=0 is forward_kl, beta=1 "
                f"makes it identically 0), got {beta!r}"
            )
        return b
    return None


def _check_logits(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[-1] < 1:
        raise InputError(f"{name} needs a non-empty vocab (last) dimension, got shape {tuple(x.shape)}")


def _check_pair(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape[:-1] != teacher.shape[:-1]:
        raise InputError(
            f"student_logits and teacher_logits must have the same shape up to the vocab dim, "
            f"got {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    if student.shape[-1] != teacher.shape[-1]:
        raise InputError(f"vocab sizes differ: student {student.shape[-1]} vs teacher {teacher.shape[-1]}")
    if student.device != teacher.device:
        raise InputError(
            f"student_logits and teacher_logits are on different devices: {student.device} vs {teacher.device}"
        )


def _check_positions(name: str, x, lead: torch.Size) -> None:
    """`x` (mask or labels) must be a tensor shaped like logits[..., 0]."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.shape != lead:
        raise InputError(
            f"{name} shape {tuple(x.shape)} must equal the logits shape without the vocab dim {tuple(lead)}"
        )


def _check_labels(labels, lead: torch.Size, vocab: int, ignore_index: int) -> None:
    _check_positions("labels", labels, lead)
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise InputError(f"labels must be an integer tensor of token ids, got dtype {labels.dtype}")
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= vocab))
    if bool(bad.any()):
        raise InputError(f"labels must be token ids in [0, {vocab}) or ignore_index={ignore_index}")


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = torch.float32
    for x in tensors:
        dtype = torch.promote_types(dtype, x.dtype)
    return dtype


# ---------------------------------------------------------------- sparse teacher targets

# log of the smallest mass a bucket may have: exp(-80) ≈ 2e-35, far below anything that matters,
# and keeps 0 · log 0 out of the sums when k covers the whole vocabulary.
LOG_FLOOR = -80.0


class TopK(NamedTuple):
    """A teacher's next-token distribution at T = 1, kept sparse (what the teacher cache stores).

    logp (..., k) the k largest log-probabilities; ids (..., k) their token ids; log_rest (...)
    the log of the mass left over for the other V − k tokens; vocab = V.
    """

    logp: torch.Tensor
    ids: torch.Tensor
    log_rest: torch.Tensor
    vocab: int


def top_k(teacher_logits: torch.Tensor, k: int) -> TopK:
    """The k most likely tokens of softmax(teacher_logits) and the rest mass, in float32."""
    _check_logits("teacher_logits", teacher_logits)
    vocab = teacher_logits.shape[-1]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= vocab:
        raise InputError(f"k must be an integer from 1 to the vocabulary size {vocab}, got {k!r}")
    log_p = F.log_softmax(teacher_logits.to(_compute_dtype(teacher_logits)), dim=-1)
    return top_k_of_log_probs(log_p, int(k))


def top_k_of_log_probs(log_p: torch.Tensor, k: int) -> TopK:
    """`top_k` from normalised log-probabilities (..., V) the caller already has."""
    logp, ids = log_p.topk(k, dim=-1)
    log_rest = log_p.scatter(-1, ids, float("-inf")).logsumexp(-1)  # (...)
    return TopK(logp, ids, log_rest, log_p.shape[-1])


def _check_topk(student: torch.Tensor, t: TopK) -> None:
    if not all(isinstance(x, torch.Tensor) for x in (t.logp, t.ids, t.log_rest)):
        raise InputError("a TopK teacher needs tensors logp, ids and log_rest")
    if t.ids.is_floating_point() or t.ids.numel() and bool(((t.ids < 0) | (t.ids >= t.vocab)).any()):
        raise InputError(f"TopK ids must be integer token ids in [0, {t.vocab})")
    if t.logp.shape != t.ids.shape or t.logp.shape[:-1] != student.shape[:-1] \
            or t.log_rest.shape != student.shape[:-1]:
        raise InputError(f"top-k teacher shapes {tuple(t.logp.shape)}, {tuple(t.ids.shape)}, "
                         f"{tuple(t.log_rest.shape)} do not match student logits "
                         f"{tuple(student.shape)}")
    if t.vocab != student.shape[-1]:
        raise InputError(f"vocab sizes differ: student {student.shape[-1]} vs teacher {t.vocab}")


def _buckets(log_q: torch.Tensor, t: TopK, keep, temperature: float):
    """(teacher, student) log-distributions over k + 1 buckets: the teacher's top-k tokens and
    one "rest" bucket. The student's side is exact. At T = 1 the teacher's side is exact too; at
    other T its rest mass must be softened without knowing how it is spread over the V − k rest
    tokens, so it is taken as spread in the student's own proportions there (the student's
    T = 1 probabilities, without gradient). At k = V there is no rest and all is exact."""
    logp = _rows(t.logp, keep).to(log_q.dtype)  # (N, k)
    ids = _rows(t.ids, keep).long()  # (N, k)
    rest = (t.log_rest.reshape(-1) if keep is None else t.log_rest[keep]).to(log_q.dtype)  # (N,)
    rest = rest.clamp_min(LOG_FLOOR)
    if t.vocab == ids.shape[-1]:
        rest = torch.full_like(rest, LOG_FLOOR)
    elif temperature != 1.0:
        with torch.no_grad():
            log_q1 = F.log_softmax(log_q * temperature, dim=-1)  # the student at T = 1
            tail = log_q1.scatter_(-1, ids, float("-inf"))  # (N, V), top-k left out (in place)
            share = tail.logsumexp(-1).clamp_min(LOG_FLOOR)  # student's rest mass at T = 1
            # Σ_rest (r · q_i / q_rest)^(1/T), in logs
            rest = (rest - share) / temperature + tail.div_(temperature).logsumexp(-1)
    log_p = torch.cat([logp / temperature, rest.clamp_min(LOG_FLOOR)[:, None]], -1)
    log_p = log_p - log_p.logsumexp(-1, keepdim=True)  # (N, k + 1)
    q_rest = log_q.scatter(-1, ids, float("-inf")).logsumexp(-1).clamp_min(LOG_FLOOR)  # (N,)
    log_qb = torch.cat([log_q.gather(-1, ids), q_rest[:, None]], -1)  # (N, k + 1)
    return log_p, log_qb


# ---------------------------------------------------------------- math


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a‖b) = Σ a (log a − log b) over the last dim."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def _log_mix(log_p: torch.Tensor, log_q: torch.Tensor, beta: float) -> torch.Tensor:
    """log(β p + (1−β) q), for 0 ≤ β < 1."""
    if beta == 0.0:
        return log_q
    return torch.logaddexp(log_p + math.log(beta), log_q + math.log1p(-beta))


def _between(log_p: torch.Tensor, log_q: torch.Tensor, kind: str, beta: float | None) -> torch.Tensor:
    """Divergence per row between two normalised log-distributions (N, K) → (N,)."""
    if kind == "forward_kl":
        d = _kl(log_p, log_q)
    elif kind == "reverse_kl":
        d = _kl(log_q, log_p)
    elif kind == "tvd":
        d = 0.5 * (log_p.exp() - log_q.exp()).abs().sum(-1)
    elif kind == "jsd":
        log_m = _log_mix(log_p, log_q, beta)
        d = beta * _kl(log_p, log_m) + (1.0 - beta) * _kl(log_q, log_m)
    else:  # skew_kl
        d = _kl(log_p, _log_mix(log_p, log_q, beta))
    return d.clamp_min(0.0)  # (N,)


def _rows(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(..., V) → (N, V): all positions, or the unmasked ones."""
    return x.reshape(-1, x.shape[-1]) if mask is None else x[mask]


def _as_bool_mask(mask, lead: torch.Size, device: torch.device) -> torch.Tensor | None:
    if mask is None:
        return None
    _check_positions("mask", mask, lead)
    if mask.is_complex():
        raise InputError(f"mask must be a bool or 0/1 tensor, got dtype {mask.dtype}")
    return (mask != 0).to(device)


def _fusable(teacher, dtype) -> bool:
    """The fused forward-KL path applies: a teacher without grad that needs no wider dtype."""
    if isinstance(teacher, TopK):
        return isinstance(teacher.logp, torch.Tensor) and not teacher.logp.requires_grad
    return isinstance(teacher, torch.Tensor) and not teacher.requires_grad \
        and torch.promote_types(dtype, teacher.dtype) == dtype


def _forward_kl_ce_sums(s, t, y, alpha: float, temperature: float, n: int, grads: bool = True):
    """Σ KL(p_T‖q_T) and Σ CE over the rows s (N, V), and the gradients of kd = Σ KL / n and
    ce = Σ CE / n with respect to s (None without `grads`; g_ce also None when α = 1 or no y).

    The gradients have closed forms,
        ∂kd/∂s = (q_T − p_T) / (T n),   ∂ce/∂s = (q_1 − onehot(y)) / n,
    so they come with the loss: backward is a multiply-add instead of replaying the softmaxes,
    products and sums through autograd. (On a top-k teacher, a rest token's share is
    q_j − p_rest q_j / q_rest, the derivative of the bucketed KL.)
    """
    # Written in place where a buffer is done with, so at most three (N, V) buffers live at once
    # (the same operations, so the same numbers, as the plain out-of-place formulas).
    log_q = F.log_softmax(s / temperature, dim=-1)  # (N, V)
    ce = s.new_zeros(())
    if y is not None and temperature == 1.0:
        ce = -log_q.gather(-1, y[:, None]).sum()
    g_kd = None
    if isinstance(t, TopK):  # buckets: the teacher's top k, and the rest
        log_pb, log_qb = _buckets(log_q, t, None, temperature)  # (N, k + 1)
        kd = (log_pb.exp() * (log_pb - log_qb)).sum(-1).clamp_min(0.0).sum()
        if grads:  # a rest token j: q_j − p_rest q_j / q_rest; a top-k token j: q_j − p_j
            q = log_q.exp_()  # (N, V), over log_q
            ratio = (log_pb[:, -1] - log_qb[:, -1]).exp()  # (N,)
            g_kd = q * (1.0 - ratio)[:, None]
            ids = t.ids.long()
            g_kd.scatter_(-1, ids, q.gather(-1, ids) - log_pb[:, :-1].exp())
    else:
        log_p = F.log_softmax(t.to(s.dtype) / temperature, dim=-1)  # (N, V)
        p = log_p.exp()
        kd = log_p.sub_(log_q).mul_(p).sum(-1).clamp_min(0.0).sum()  # Σ p (log p − log q)
        del log_p
        if grads:
            q = log_q.exp_()
            g_kd = torch.sub(q, p, out=p)  # q − p, over p
    if grads:
        g_kd.div_(temperature * n)  # ∂kd/∂s = (q_T − p_T) / (T n)
    del log_q  # (it is q now, if grads)
    g_ce = None
    if y is not None:
        if temperature != 1.0:
            log_q1 = F.log_softmax(s, dim=-1)  # the student at T = 1
            ce = -log_q1.gather(-1, y[:, None]).sum()
        if grads and alpha < 1.0:  # ∂ce/∂s = (q_1 − onehot(y)) / n
            g_ce = q if temperature == 1.0 else log_q1.exp_()
            g_ce[torch.arange(len(y), device=y.device), y] -= 1.0
            g_ce.div_(n)
    return kd, ce, g_kd, g_ce


class _ForwardKLWithCE(torch.autograd.Function):
    """α T² KL(p_T‖q_T) + (1 − α) CE in one pass over all rows, for the default loss (dense or
    top-k teacher), with the closed-form gradients of `_forward_kl_ce_sums`."""

    @staticmethod
    def forward(ctx, s, t, y, alpha: float, temperature: float):
        n = max(s.shape[0], 1)
        kd, ce, g_kd, g_ce = _forward_kl_ce_sums(s, t, y, alpha, temperature, n)
        kd, ce = kd / n, ce / n
        if alpha == 1.0:
            total = temperature**2 * kd
            ctx.mark_non_differentiable(ce)  # reported, weighs nothing
        else:
            total = alpha * temperature**2 * kd + (1.0 - alpha) * ce
        ctx.save_for_backward(g_kd, g_ce)
        ctx.weights = (alpha * temperature**2, 1.0 - alpha)
        return total, kd, ce

    @staticmethod
    def backward(ctx, g_total, g_kd_out, g_ce_out):
        g_kd, g_ce = ctx.saved_tensors
        w_kd, w_ce = ctx.weights
        grad = g_kd * (w_kd * g_total + g_kd_out)
        if g_ce is not None:
            grad = grad + g_ce * (w_ce * g_total + g_ce_out)
        return grad, None, None, None, None


# ---------------------------------------------------------------- chunks of positions

# The default chunk: this many bytes of float32 logits (at V = 49,152, 170 positions). A batch
# whose logits fit in one chunk (the built-in pair's 16 x 127 x 3,392 is 27.6 MB) takes the
# plain one-pass path, bit for bit as before. Measured (bench/loss_memory.py): 32 MiB chunks
# are faster than one pass at V = 49,152; 4-8 MiB chunks were slower, and so were 64 MiB ones
# (likely because a buffer above glibc's largest mmap threshold, 32 MiB, is a fresh mapping
# the kernel must zero-fill each time).
CHUNK_BYTES = 32 * 2**20


def _rows_per_chunk(chunk_size, positions: int, vocab: int) -> int | None:
    """Positions per chunk, or None when all fit in one chunk (the plain path)."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, str) and chunk_size == "auto":
        rows = max(1, CHUNK_BYTES // (4 * vocab))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) \
            or chunk_size < 1:
        raise InputError(f"chunk_size must be a number of positions ≥ 1, 'auto' or None, "
                         f"got {chunk_size!r}")
    else:
        rows = int(chunk_size)
    return rows if positions > rows else None


def _chunkable(teacher) -> bool:
    """Chunks give the student its gradient only: a teacher with grad takes the plain path."""
    parts = teacher[:3] if isinstance(teacher, TopK) else (teacher,)
    return not any(isinstance(x, torch.Tensor) and x.requires_grad for x in parts)


def _row_reader(x: torch.Tensor):
    """x (..., C) as rows (N, C): a function (start, stop) → rows start:stop, a view where x's
    layout allows one, else a copy of just those rows (e.g. of logits[:, :-1])."""
    try:
        flat = x.view(-1, x.shape[-1])
    except RuntimeError:
        lead = tuple(x.shape[:-1])
        return lambda a, b: x[torch.unravel_index(torch.arange(a, b, device=x.device), lead)]
    return lambda a, b: flat[a:b]


def _teacher_reader(teacher):
    """`_row_reader` for a dense or top-k teacher or None: (start, stop, keep) → its rows."""
    if teacher is None:
        return lambda a, b, keep: None
    if not isinstance(teacher, TopK):
        dense = _row_reader(teacher)
        return lambda a, b, keep: dense(a, b) if keep is None else dense(a, b)[keep]
    fields = [_row_reader(x) for x in (teacher.logp, teacher.ids, teacher.log_rest[..., None])]

    def read(a, b, keep):
        logp, ids, rest = (f(a, b) if keep is None else f(a, b)[keep] for f in fields)
        return TopK(logp, ids, rest[:, 0], teacher.vocab)
    return read


def _fused_chunk(rows, teacher, y, weights, *, alpha, temperature, n):
    """(Σ kd, Σ ce, gradient of (w_kd Σ kd + w_ce Σ ce) / n or None) for one chunk, forward KL,
    the gradient in closed form."""
    kd, ce, g_kd, g_ce = _forward_kl_ce_sums(rows, teacher, y, alpha, temperature, n,
                                             grads=weights is not None)
    if weights is None:
        return kd, ce, None
    grad = g_kd.mul_(weights[0])
    if g_ce is not None:
        grad.add_(g_ce, alpha=weights[1])
    return kd, ce, grad


def _autograd_chunk(rows, teacher, y, weights, *, alpha, temperature, kind, beta, n):
    """`_fused_chunk` for any kind, as the plain path computes it, the gradient by autograd."""
    with torch.set_grad_enabled(weights is not None):
        x = rows.detach().requires_grad_(weights is not None)
        log_q, kd, ce = None, x.new_zeros(()), x.new_zeros(())
        if alpha > 0.0:
            log_q = F.log_softmax(x / temperature, dim=-1)  # (n, V)
            kd = _rows_divergence(log_q, teacher, None, kind, temperature, beta).sum()
        if y is not None:
            with torch.set_grad_enabled(weights is not None and alpha < 1.0):
                if log_q is not None and temperature == 1.0:  # reuse the KD term's softmax
                    ce = -log_q.gather(-1, y[:, None]).sum()
                else:
                    ce = F.cross_entropy(x, y, reduction="sum")
        if weights is None:
            return kd, ce, None
        (grad,) = torch.autograd.grad((weights[0] * kd + weights[1] * ce) / n, x)
    return kd.detach(), ce.detach(), grad


class _Plan(NamedTuple):
    """What `_ChunkedLoss` needs besides its tensors: numbers only, so that nothing it holds
    outlives the backward pass (the tensors go through save_for_backward)."""

    chunk: object  # (rows, teacher rows, labels, weights) → (Σ kd, Σ ce, gradient or None)
    rows: int  # positions per chunk
    n: int  # positions counted
    dtype: torch.dtype  # compute dtype
    weights: tuple[float, float]  # total = w_kd kd + w_ce ce
    want_grad: bool
    top_k_vocab: int | None  # V for a top-k teacher, else None


def _plan(student_logits, teacher, keep, rows, *, alpha, temperature, kind, beta,
          weights) -> _Plan:
    dtype = _compute_dtype(student_logits)
    n = max(student_logits.shape[:-1].numel() if keep is None else int(keep.sum()), 1)
    if kind == "forward_kl" and alpha > 0.0 and _fusable(teacher, dtype):
        chunk = functools.partial(_fused_chunk, alpha=alpha, temperature=temperature, n=n)
    else:
        chunk = functools.partial(_autograd_chunk, alpha=alpha, temperature=temperature,
                                  kind=kind, beta=beta, n=n)
    want_grad = torch.is_grad_enabled() and student_logits.requires_grad
    return _Plan(chunk, rows, n, dtype, weights, want_grad,
                 teacher.vocab if isinstance(teacher, TopK) else None)


def _chunk_pass(s, teacher, labels, keep, plan: _Plan, weights=None, grad=None):
    """Σ kd and Σ ce over the chunks of positions of s (..., V), with the teacher (dense, top-k
    or None), labels and keep (...) or None; with weights (w_kd, w_ce), each chunk's gradient
    of (w_kd Σ kd + w_ce Σ ce) / n goes into its rows of grad (P, V)."""
    read, read_teacher = _row_reader(s), _teacher_reader(teacher)
    labels = None if labels is None else labels.reshape(-1).to(s.device).long()  # (P,)
    keep = None if keep is None else keep.reshape(-1)  # (P,)
    positions = s.shape[:-1].numel()
    kd = ce = s.new_zeros((), dtype=plan.dtype)
    for a in range(0, positions, plan.rows):
        b = min(a + plan.rows, positions)
        kept = None if keep is None else keep[a:b]
        rows = read(a, b) if kept is None else read(a, b)[kept]  # (n_chunk, V)
        if rows.shape[0] == 0:
            continue
        y = None if labels is None else labels[a:b]
        y = y if kept is None or y is None else y[kept]
        k, c, g = plan.chunk(rows.to(plan.dtype), read_teacher(a, b, kept), y, weights)
        kd, ce = kd + k, ce + c
        if g is not None:
            if kept is None:
                grad[a:b] = g
            else:
                grad[a:b][kept] = g
        del g  # before the next chunk's buffers are made
    return kd, ce


class _ChunkedLoss(torch.autograd.Function):
    """(total, kd, ce) as the plain path gives them, computed over chunks of positions so that
    only one chunk's softmaxes live at a time. Each chunk's gradient is taken with its loss and
    written into one buffer shaped like the logits (the gradient the student needs anyway);
    backward scales it in place. A gradient through kd or ce themselves, or a second backward,
    recomputes it chunk by chunk instead."""

    @staticmethod
    def forward(ctx, s, plan: _Plan, teacher, labels, keep):
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.in_dtype = plan, s.dtype
        fields = () if teacher is None else tuple(teacher[:3]) if plan.top_k_vocab else (teacher,)
        ctx.save_for_backward(s, labels, keep, *fields)
        ctx.grad = _grad_buffer(s, keep, plan) if plan.want_grad else None
        weights = plan.weights if plan.want_grad else None
        kd, ce = _chunk_pass(s, teacher, labels, keep, plan, weights, ctx.grad)
        kd, ce = kd / plan.n, ce / plan.n
        w_kd, w_ce = plan.weights
        if w_ce == 0.0:
            total = w_kd * kd
            ctx.mark_non_differentiable(ce)  # reported, weighs nothing
        elif w_kd == 0.0:
            total = w_ce * ce
            ctx.mark_non_differentiable(kd)
        else:
            total = w_kd * kd + w_ce * ce
        return total, kd, ce

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_total, g_kd, g_ce):
        s, labels, keep, *fields = ctx.saved_tensors
        plan = ctx.plan
        grad, ctx.grad = ctx.grad, None
        if grad is not None and g_kd is None and g_ce is None:
            if g_total.device.type != "cpu" or g_total.item() != 1.0:  # (no sync on a GPU)
                grad.mul_(g_total)
        else:  # the weights of kd and ce in what is differentiated
            w = [float((0.0 if g_total is None else w * g_total) + (0.0 if g is None else g))
                 for w, g in zip(plan.weights, (g_kd, g_ce))]
            teacher = TopK(*fields, plan.top_k_vocab) if plan.top_k_vocab else \
                (fields[0] if fields else None)
            grad = _grad_buffer(s, keep, plan)
            _chunk_pass(s, teacher, labels, keep, plan, w, grad)
        return grad.view(s.shape).to(ctx.in_dtype), None, None, None, None


def _grad_buffer(s: torch.Tensor, keep, plan: _Plan) -> torch.Tensor:
    """(P, V) for the gradient of s, zero where no position counts."""
    new = torch.empty if keep is None else torch.zeros
    return new((s.shape[:-1].numel(), s.shape[-1]), dtype=plan.dtype, device=s.device)


# ---------------------------------------------------------------- public


def soften(logits: torch.Tensor, temperature) -> torch.Tensor:
    """softmax(z / T) over the last dim, in float32 (float64 for float64 input)."""
    _check_logits("logits", logits)
    temperature = _check_temperature(temperature)
    return F.softmax(logits.to(_compute_dtype(logits)) / temperature, dim=-1)


def entropy(logits: torch.Tensor, temperature=1.0) -> torch.Tensor:
    """H(softmax(z / T)) = −Σ p log p in nats, per position: (..., V) → (...)."""
    _check_logits("logits", logits)
    temperature = _check_temperature(temperature)
    log_p = F.log_softmax(logits.to(_compute_dtype(logits)) / temperature, dim=-1)
    return (-(log_p.exp() * log_p).sum(-1)).clamp_min(0.0)


def divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    kind: str,
    temperature=1.0,
    beta=0.5,
    mask: torch.Tensor | None = None,
    chunk_size="auto",
) -> torch.Tensor:
    """Mean over unmasked positions of the `kind` divergence between softened teacher and student.

    Logits (..., V), e.g. (B, T, V); `mask` (...) bool or 0/1, False = excluded. `beta` is used
    by jsd (0 < β < 1) and skew_kl (0 ≤ β < 1) and ignored otherwise. No unmasked position
    gives 0 (still connected to student_logits for autograd). `chunk_size`: as in `kd_loss`.
    """
    beta = _check_kind_beta(kind, beta)
    temperature = _check_temperature(temperature)
    _check_teacher(student_logits, teacher_logits)
    keep = _as_bool_mask(mask, student_logits.shape[:-1], student_logits.device)
    rows = _rows_per_chunk(chunk_size, student_logits.shape[:-1].numel(), student_logits.shape[-1])
    if rows is not None and _chunkable(teacher_logits):
        plan = _plan(student_logits, teacher_logits, keep, rows, alpha=1.0,
                     temperature=temperature, kind=kind, beta=beta, weights=(1.0, 0.0))
        return _ChunkedLoss.apply(student_logits, plan, teacher_logits, None, keep)[0]
    log_q = F.log_softmax(_rows(student_logits, keep).to(_compute_dtype(student_logits))
                          / temperature, dim=-1)  # (N, V)
    d = _rows_divergence(log_q, teacher_logits, keep, kind, temperature, beta)  # (N,)
    return d.sum() / max(d.numel(), 1)


def _check_teacher(student_logits, teacher) -> None:
    _check_logits("student_logits", student_logits)
    if isinstance(teacher, TopK):
        _check_topk(student_logits, teacher)
    else:
        _check_logits("teacher_logits", teacher)
        _check_pair(student_logits, teacher)


def _rows_divergence(log_q, teacher, keep, kind, temperature, beta) -> torch.Tensor:
    """Per-row divergence given the student's softened log-probs (N, V) and a dense or top-k
    teacher. One softmax per side: the caller's log_q also serves the CE term at T = 1."""
    if isinstance(teacher, TopK):
        log_p, log_q = _buckets(log_q, teacher, keep, temperature)
    else:
        t = _rows(teacher, keep)
        log_p = F.log_softmax(t.to(torch.promote_types(log_q.dtype, t.dtype)) / temperature, -1)
    return _between(log_p, log_q, kind, beta)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | TopK | None,
    labels: torch.Tensor | None,
    *,
    alpha,
    temperature,
    kind: str = "forward_kl",
    beta=0.5,
    ignore_index: int = -100,
    chunk_size="auto",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """total = α T² D_T(teacher, student) + (1 − α) CE(student, labels), with parts {"kd", "ce"}.

    Labels are aligned with logits (labels[b, t] is the target of logits[b, t]); positions with
    labels == ignore_index count in neither term. T² keeps the KD gradient size roughly
    independent of T. α = 0: plain training, teacher_logits may be None (kd part = 0).
    teacher_logits may be a `TopK` (the teacher cache's sparse targets): the divergence is then
    taken over k + 1 buckets, exact on the top-k tokens, with the rest as one bucket.
    α = 1: pure distillation, labels may be None (ce part = 0, every position counts);
    given labels, ce is still reported (without grad) but weighs nothing.

    chunk_size: positions per chunk. The loss and its gradient are then computed chunk by chunk,
    so beyond the logits and their gradient only one chunk's softmaxes are held (at V = 49,152 a
    16 x 128 batch's logits are 400 MB per model in float32, and one pass holds several such).
    "auto" (default): CHUNK_BYTES of float32 logits per chunk. None, or a batch that fits in one
    chunk: the plain one-pass path. Results equal the plain path's up to rounding in the sums.
    A teacher with grad always takes the plain path.
    """
    alpha = _check_alpha(alpha)
    temperature = _check_temperature(temperature)
    beta = _check_kind_beta(kind, beta)
    _check_logits("student_logits", student_logits)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise InputError(f"ignore_index must be an int, got {ignore_index!r}")
    lead, vocab = student_logits.shape[:-1], student_logits.shape[-1]
    keep = _kept_positions(labels, lead, vocab, ignore_index, alpha, student_logits.device)
    if alpha > 0.0:
        if teacher_logits is None:
            raise InputError("teacher_logits are required when alpha > 0; pass them or set "
                             "alpha=0 for plain training")
        _check_teacher(student_logits, teacher_logits)
    teacher = teacher_logits if alpha > 0.0 else None
    per_chunk = _rows_per_chunk(chunk_size, lead.numel(), vocab)
    if per_chunk is not None and _chunkable(teacher):
        plan = _plan(student_logits, teacher, keep, per_chunk, alpha=alpha,
                     temperature=temperature, kind=kind, beta=beta,
                     weights=(alpha * temperature**2, 1.0 - alpha))
        total, kd, ce = _ChunkedLoss.apply(student_logits, plan, teacher, labels, keep)
    else:
        total, kd, ce = _one_pass(student_logits, teacher, labels, keep, alpha=alpha,
                                  temperature=temperature, kind=kind, beta=beta)
    return total, {"kd": kd, "ce": ce}


def _kept_positions(labels, lead, vocab, ignore_index, alpha, device):
    """The positions both terms count (labels != ignore_index), or None when all count."""
    if labels is None:
        if alpha < 1.0:
            raise InputError(
                f"labels are required when alpha < 1 (cross-entropy has weight 1 − alpha = "
                f"{1 - alpha:g}); pass labels or set alpha=1")
        return None
    _check_labels(labels, lead, vocab, ignore_index)
    keep = (labels != ignore_index).to(device)  # (...)
    return None if bool(keep.all()) else keep  # nothing left out: plain reshapes, no copies


def _one_pass(student_logits, teacher_logits, labels, keep, *, alpha, temperature, kind, beta):
    """kd_loss's (total, kd, ce) in one pass over all kept positions: the plain path."""
    dtype = _compute_dtype(student_logits)
    rows = _rows(student_logits, keep).to(dtype)  # (N, V)
    if kind == "forward_kl" and alpha > 0.0 and _fusable(teacher_logits, dtype):
        y = None if labels is None else (labels.reshape(-1) if keep is None
                                         else labels.to(keep.device)[keep]).long()
        if isinstance(teacher_logits, TopK):
            t = teacher_logits
            teacher_rows = TopK(_rows(t.logp, keep), _rows(t.ids, keep),
                                t.log_rest.reshape(-1) if keep is None else t.log_rest[keep],
                                t.vocab)
        else:
            teacher_rows = _rows(teacher_logits, keep)
        return _ForwardKLWithCE.apply(rows, teacher_rows, y, alpha, temperature)
    log_q = None
    if alpha > 0.0:
        log_q = F.log_softmax(rows / temperature, dim=-1)  # (N, V)
        d = _rows_divergence(log_q, teacher_logits, keep, kind, temperature, beta)  # (N,)
        kd = d.sum() / max(d.numel(), 1)
    else:
        kd = student_logits.new_zeros((), dtype=dtype)

    if labels is None:
        ce = student_logits.new_zeros((), dtype=dtype)
    else:
        with torch.set_grad_enabled(torch.is_grad_enabled() and alpha < 1.0):
            y = (labels.reshape(-1) if keep is None else labels.to(keep.device)[keep]).long()  # (N,)
            if log_q is not None and temperature == 1.0:  # reuse the KD term's softmax
                ce = -log_q.gather(-1, y[:, None]).sum() / max(y.numel(), 1)
            else:
                ce = F.cross_entropy(rows, y, reduction="sum") / max(y.numel(), 1)

    if alpha == 0.0:
        total = ce
    elif alpha == 1.0:
        total = temperature**2 * kd
    else:
        total = alpha * temperature**2 * kd + (1.0 - alpha) * ce
    return total, kd, ce
