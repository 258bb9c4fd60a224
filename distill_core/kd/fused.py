"""The loss fused with the output projection: each chunk's logits made, used and dropped.

    total, parts = fused_kd_loss(Head(hidden, weight, bias), teacher, labels, alpha=α,
                                 temperature=T)

`kd_loss` takes logits (B, T, V), which the model's head must make first: at V = 49,152 a
16 x 128 batch's are 400 MB per model in float32, and their gradient as much again. Here the
student comes as its last hidden states (..., H) and its output projection (weight (V, H), bias
(V,) or None; logits = hidden @ weight.T + bias), and the positions are walked in chunks. Per
chunk: its logits, the loss's chunk maths from `chunked` (forward_kl's closed form or autograd
over `terms.loss_sums`: the numbers kd_loss gives), and for the chunk's logit gradient g (N, V)
the chain rule through the projection,

    ∂/∂hidden = g @ weight,   ∂/∂weight += gᵀ @ hidden,   ∂/∂bias += Σ_rows g

so only one chunk's (N, V) buffers live at a time. What the walk keeps is the gradient of the
hidden states (P, H) and of the projection (V, H), which the step needs anyway.

The teacher: a `Head` as well (a live teacher: each chunk's logits are made from its hidden
states without grad, so a Head teacher never gets a gradient here), its logits (..., V), a
`TopK` (the teacher cache) or None at α = 0. A student given as logits (a model whose head is
more than a linear map) goes to kd_loss as it is; a Head teacher's logits are then made in full.

`kd_everywhere` is GKD's counting (`on_policy.gkd_loss`): the KD term over every position, the
CE only where labels != ignore_index, each the mean over its own positions.

Backward scales the gradients taken in the forward pass; a gradient through kd or ce themselves
recomputes them by a second walk (as `chunked` does). Numbers as kd_loss: softmaxes and sums in
at least float32. Under autocast the projection's matmuls run in autocast's dtype, as the model's
own head would, each weight cast once per walk; the projection's gradient is summed in float32.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import check_logits, check_loss_settings, check_pair, compute_dtype
from distill_core.kd.chunked import (autograd_chunk, chunk_maths, count_kept, loss_weights,
                                     row_reader, rows_per_chunk, teacher_has_grad,
                                     teacher_reader, weighted_total)
from distill_core.kd.losses import kd_loss, kept_positions
from distill_core.kd.topk import TopK, check_top_k_teacher

__all__ = ["FUSED_CHUNK_BYTES", "Head", "fused_kd_loss", "head_logits"]

# The default chunk here: this many bytes of float32 logits (at V = 49,152, 85 positions). A
# chunk holds about six (N, V) buffers at once (its logits, the teacher's, the chunk maths'):
# 16 MiB keeps the loss at 84 MB beyond the gradients it returns (target 100; 41 MB at 8 MiB),
# and its larger matmuls ran the real pair's step 8 % faster than 8 MiB chunks did
# (bench/loss_memory.py, bench/real_pair_speed.py; Intel Xeon, 2026-12-06).
FUSED_CHUNK_BYTES = 16 * 2**20


class Head(NamedTuple):
    """A model's output head applied at some positions: logits = hidden @ weight.T + bias."""

    hidden: torch.Tensor  # (..., H) the last hidden states (after the final norm)
    weight: torch.Tensor  # (V, H) the output projection (the embedding table when tied)
    bias: torch.Tensor | None = None  # (V,)


def head_logits(head: Head) -> torch.Tensor:
    """All the logits (..., V) of a Head at once (where they are needed in full)."""
    return F.linear(head.hidden, head.weight, head.bias)


def _check_head(name: str, head: Head) -> torch.Tensor:
    """A well-formed Head; returns a stand-in for its logits (..., V) with their shape and device
    (a zero-stride view: no memory) for the checks written for logits."""
    parts = [("hidden states", head.hidden), ("projection weight", head.weight)]
    parts += [] if head.bias is None else [("projection bias", head.bias)]
    for part, x in parts:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise InputError(f"the {name}'s {part} must be a floating-point torch.Tensor, got "
                             f"{getattr(x, 'dtype', type(x).__name__)}")
    hidden, weight, bias = head
    if hidden.dim() < 1 or weight.dim() != 2 or weight.shape[0] < 1 \
            or weight.shape[1] != hidden.shape[-1]:
        raise InputError(f"the {name}'s hidden states {tuple(hidden.shape)} (..., H) and "
                         f"projection weight {tuple(weight.shape)} (V, H) do not fit together")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise InputError(f"the {name}'s projection bias {tuple(bias.shape)} must be (V,) = "
                         f"({weight.shape[0]},)")
    if len({x.device for _, x in parts}) > 1:
        raise InputError(f"the {name}'s hidden states and projection are on different devices")
    return hidden.new_empty(()).expand(*hidden.shape[:-1], weight.shape[0])


def _check_teacher(shape: torch.Tensor, teacher) -> None:
    if isinstance(teacher, Head):
        check_pair(shape, _check_head("teacher", teacher))
    elif isinstance(teacher, TopK):
        check_top_k_teacher(shape, teacher)
    else:
        check_logits("teacher_logits", teacher)
        check_pair(shape, teacher)
    if not isinstance(teacher, Head) and teacher_has_grad(teacher):
        raise InputError("the fused loss takes a teacher without grad; for a teacher that is "
                         "trained too, pass kd_loss the logits")


def _mm_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype the projection's matmuls run in: autocast's where it is on, as in the head."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return torch.promote_types(hidden.dtype, weight.dtype)


class _Plan(NamedTuple):
    """Numbers and functions only, so nothing the autograd context holds outlives backward."""

    chunk: object  # (logits rows, teacher rows, labels, keep, weights, n) → (Σ kd, Σ ce, grad)
    ce_chunk: object | None  # kd_everywhere: the CE apart, over its own positions
    rows: int  # positions per chunk
    dtype: torch.dtype  # compute dtype of the chunk maths
    mm: tuple[torch.dtype, torch.dtype | None]  # matmul dtypes: student's, Head teacher's
    weights: tuple[float, float]  # total = w_kd kd + w_ce ce
    want_grad: bool
    teacher: tuple[str, int | None]  # ("head" | "logits" | "top_k" | "none", V of a TopK)


def _teacher_rows(teacher, mm: torch.dtype | None):
    """(start, stop) → the teacher's rows: a Head's logits made in `mm` without grad (its
    weight cast once, here), else `chunked.teacher_reader`'s."""
    if not isinstance(teacher, Head):
        return teacher_reader(teacher)
    read = row_reader(teacher.hidden)
    weight = teacher.weight.detach().to(mm)
    bias = None if teacher.bias is None else teacher.bias.detach().to(mm)

    def rows(a, b):
        with torch.no_grad():
            return F.linear(read(a, b).to(mm), weight, bias)  # (N, V)
    return rows


def _chunk_terms(z, t, y, keep, ns, plan: _Plan, weights):
    """(Σ kd, Σ ce, logit gradient or None) of one chunk; kd_everywhere: kd over every row and
    the CE over the kept ones, each over its own count, their gradients summed."""
    if plan.ce_chunk is None:
        return plan.chunk(z, t, y, keep, weights, ns[0])
    kd_w = None if weights is None else (weights[0], 0.0)
    ce_w = None if weights is None or _is_zero(weights[1]) else (0.0, weights[1])
    kd, _, grad = plan.chunk(z, t, None, None, kd_w, ns[0])
    _, ce, g_ce = plan.ce_chunk(z, None, y, keep, ce_w, ns[1])
    if grad is not None and g_ce is not None:
        grad.add_(g_ce)
    return kd, ce, grad


def _is_zero(w) -> bool:
    return isinstance(w, float) and w == 0.0


def _walk(student: Head, teacher, labels, keep, ns, plan: _Plan, weights, needs):
    """(Σ kd, Σ ce, [∂ hidden (P, H), ∂ weight (V, H), ∂ bias (V,)] or None) over the chunks,
    the gradients of (w_kd Σ kd / n_kd + w_ce Σ ce / n_ce) where `needs` asks for them."""
    hidden, weight, bias = student
    positions = hidden.shape[:-1].numel()
    read, read_teacher = row_reader(hidden), _teacher_rows(teacher, plan.mm[1])
    mm = plan.mm[0]
    w_mm = weight.detach().to(mm)  # (V, H), cast once
    b_mm = None if bias is None else bias.detach().to(mm)
    grads = None if weights is None else _new_grads(student, needs, plan.dtype)
    kd = ce = hidden.new_zeros((), dtype=plan.dtype)
    off = torch.autocast(hidden.device.type, enabled=False) \
        if torch.is_autocast_enabled(hidden.device.type) else contextlib.nullcontext()
    with off:
        for a in range(0, positions, plan.rows):
            b = min(a + plan.rows, positions)
            x = read(a, b).detach().to(mm)  # (N, H)
            z = F.linear(x, w_mm, b_mm).to(plan.dtype)  # (N, V)
            part = (None if v is None else v[a:b] for v in (labels, keep))
            k, c, g = _chunk_terms(z, read_teacher(a, b), *part, ns, plan, weights)
            del z
            kd, ce = kd + k, ce + c
            if g is not None:
                _add_chunk_grads(grads, a, b, g, x, w_mm)
            del g
    return kd, ce, grads


def _new_grads(student: Head, needs, dtype: torch.dtype) -> list:
    """Zeroed gradient buffers for hidden (P, H), weight and bias, each where `needs` says."""
    hidden, weight, bias = student
    wide = torch.promote_types(weight.dtype, dtype)  # the projection's, summed in ≥ float32
    shapes = [(hidden.shape[:-1].numel(), hidden.shape[-1]), weight.shape,
              None if bias is None else bias.shape]
    dtypes = [hidden.dtype, wide, wide]
    return [torch.zeros(s, dtype=d, device=hidden.device) if need and s is not None else None
            for need, s, d in zip(needs, shapes, dtypes)]


def _add_chunk_grads(grads: list, a: int, b: int, g, x, w_mm) -> None:
    """The chain rule through logits = x @ wᵀ + bias for chunk rows a:b with logit gradient g."""
    g_hidden, g_weight, g_bias = grads
    g_mm = g.to(w_mm.dtype)  # (N, V)
    if g_hidden is not None:
        g_hidden[a:b] = g_mm @ w_mm  # (N, H)
    if g_weight is not None:
        if g_mm.dtype == g_weight.dtype:
            g_weight.addmm_(g_mm.T, x)  # in place: no (V, H) temporary
        else:
            g_weight.add_(g_mm.T @ x)  # (V, H) in the matmul dtype, summed wider
    if g_bias is not None:
        g_bias.add_(g.sum(0))


class _FusedLoss(torch.autograd.Function):
    """(total, kd, ce) from a student Head, each chunk's gradient taken with its loss."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, plan: _Plan, labels, keep, ns, *teacher_fields):
        ctx.set_materialize_grads(False)
        needs = tuple(ctx.needs_input_grad[:3]) if plan.want_grad else (False,) * 3
        ctx.plan, ctx.needs, ctx.ns = plan, needs, ns
        ctx.save_for_backward(hidden, weight, bias, labels, keep, *teacher_fields)
        teacher = _teacher_of(plan, teacher_fields)
        weights = plan.weights if any(needs) else None
        kd, ce, ctx.grads = _walk(Head(hidden, weight, bias), teacher, labels, keep, ns, plan,
                                  weights, needs)
        kd, ce = kd / ns[0], ce / ns[1]
        return weighted_total(ctx, kd, ce, plan.weights)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_total, g_kd, g_ce):
        hidden, weight, bias, labels, keep, *fields = ctx.saved_tensors
        plan = ctx.plan
        grads, ctx.grads = ctx.grads, None
        if not any(ctx.needs):
            return (None,) * (7 + len(fields))
        if grads is not None and g_kd is None and g_ce is None:
            if g_total.device.type != "cpu" or g_total.item() != 1.0:  # (no sync on a GPU)
                for g in grads:
                    if g is not None:
                        g.mul_(g_total)
        else:  # the weights of kd and ce in what is differentiated, as (0-dim) tensors
            weights = tuple((0.0 if g_total is None else w * g_total) + (0.0 if g is None else g)
                            for w, g in zip(plan.weights, (g_kd, g_ce)))
            grads = _walk(Head(hidden, weight, bias), _teacher_of(plan, fields), labels, keep,
                          ctx.ns, plan, weights, ctx.needs)[2]
        g_hidden, g_weight, g_bias = grads
        out = (None if g_hidden is None else g_hidden.view(hidden.shape),
               None if g_weight is None else g_weight.to(weight.dtype),
               None if g_bias is None else g_bias.to(bias.dtype))
        return (*out, None, None, None, None, *(None for _ in fields))


def _teacher_fields(teacher) -> tuple:
    """The teacher's tensors, detached, in a form autograd may save (an inference-mode tensor,
    e.g. a live teacher's hidden states, is copied out of inference mode)."""
    if teacher is None:
        return ()
    fields = (teacher,) if isinstance(teacher, torch.Tensor) else tuple(teacher[:3])
    return tuple(None if x is None else x.clone() if x.is_inference() else x.detach()
                 for x in fields)


def _teacher_of(plan: _Plan, fields):
    kind, vocab = plan.teacher
    if kind == "head":
        return Head(*fields)
    if kind == "top_k":
        return TopK(*fields, vocab)
    return fields[0] if kind == "logits" else None


def fused_kd_loss(student: Head | torch.Tensor, teacher, labels: torch.Tensor | None, *, alpha,
                  temperature, kind: str = "forward_kl", beta=0.5, ignore_index: int = -100,
                  chunk_size="auto", kd_everywhere: bool = False):
    """`kd_loss` for a student `Head`, over chunks of positions: (total, {"kd", "ce"}).

    teacher: a Head (made into logits chunk by chunk, without grad), logits (..., V), a TopK,
    or None at α = 0. Labels, α, T, kind, β and ignore_index as in kd_loss. chunk_size:
    positions per chunk; "auto" is FUSED_CHUNK_BYTES of float32 logits, None all positions.
    kd_everywhere: the KD term over every position, the CE over the labelled ones (GKD).
    A student given as logits (..., V) goes to kd_loss (not with kd_everywhere).
    """
    if not isinstance(student, Head):
        if kd_everywhere:
            raise InputError("kd_everywhere needs the student as a Head (on_policy.gkd_loss "
                             "takes logits)")
        if isinstance(teacher, Head):
            with torch.no_grad():
                teacher = head_logits(teacher)
        return kd_loss(student, teacher, labels, alpha=alpha, temperature=temperature,
                       kind=kind, beta=beta, ignore_index=ignore_index, chunk_size=chunk_size)
    alpha, temperature, beta, ignore_index = check_loss_settings(alpha, temperature, kind, beta,
                                                                 ignore_index)
    shape = _check_head("student", student)
    lead, vocab = shape.shape[:-1], shape.shape[-1]
    keep = kept_positions(labels, lead, vocab, ignore_index, alpha, shape.device)
    if alpha > 0.0:
        if teacher is None:
            raise InputError("a teacher is required when alpha > 0; pass one or set alpha=0 "
                             "for plain training")
        _check_teacher(shape, teacher)
    plan = _plan(student, teacher if alpha > 0.0 else None, labels is not None and kd_everywhere,
                 _rows(chunk_size, lead.numel(), vocab), alpha=alpha, temperature=temperature,
                 kind=kind, beta=beta)
    dtype, positions = plan.dtype, lead.numel()
    y = None if labels is None else labels.reshape(-1).to(shape.device).long()  # (P,)
    if keep is not None:
        keep = keep.reshape(-1)
        y = y.masked_fill(~keep, 0)  # a valid id where it is ignored
    n = count_kept(keep, positions, dtype)
    ns = (max(positions, 1), n) if plan.ce_chunk is not None else (n, n)
    total, kd, ce = _FusedLoss.apply(*student, plan, y, keep, ns,
                                     *_teacher_fields(teacher if alpha > 0.0 else None))
    return total, {"kd": kd, "ce": ce}


def _rows(chunk_size, positions: int, vocab: int) -> int:
    if isinstance(chunk_size, str) and chunk_size == "auto":
        chunk_size = max(1, FUSED_CHUNK_BYTES // (4 * vocab))
    return rows_per_chunk(chunk_size, positions, vocab)


def _plan(student: Head, teacher, split: bool, rows: int, *, alpha, temperature, kind,
          beta) -> _Plan:
    dtype = compute_dtype(student.hidden, student.weight)
    mm_teacher = _mm_dtype(teacher.hidden, teacher.weight) if isinstance(teacher, Head) else None
    if teacher is None:
        teacher_kind, teacher_dtype = "none", None
    elif isinstance(teacher, TopK):
        teacher_kind, teacher_dtype = "top_k", dtype
    else:
        teacher_kind = "head" if isinstance(teacher, Head) else "logits"
        teacher_dtype = mm_teacher or teacher.dtype
    spec = dict(temperature=temperature, kind=kind, beta=beta)
    split = split and alpha > 0.0  # at α = 0 the KD term is not computed at all
    chunk = chunk_maths(dtype, teacher_dtype, alpha=1.0 if split else alpha, **spec)
    ce_chunk = functools.partial(autograd_chunk, alpha=0.0, **spec) if split else None
    want_grad = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in student)
    return _Plan(chunk, ce_chunk, rows, dtype, (_mm_dtype(student.hidden, student.weight),
                                                mm_teacher),
                 loss_weights(alpha, temperature), want_grad,
                 (teacher_kind, teacher.vocab if isinstance(teacher, TopK) else None))
