"""Distillation losses between teacher and student next-token distributions, in nats.

    total, parts = kd_loss(student_logits, teacher_logits, labels, alpha=α, temperature=T)
    d = divergence(student_logits, teacher_logits, kind="jsd", beta=0.5)
    p = soften(logits, T);  h = entropy(logits, T)

The kinds (forward_kl, reverse_kl, jsd, tvd, skew_kl) are defined in `divergences`; a teacher
may also be a `TopK` (the teacher cache's sparse targets, `topk`). Every argument is checked
here, once (`checks`); below this line nothing checks again and nothing reads a tensor's value
on the host. kd_loss and divergence take their one path (`chunked`): a batch that fits is one
chunk of it.

Numerics: everything runs in log space in at least float32, so bf16/fp16 inputs, logits up to
±1e4 and T in [0.05, 100] stay finite. kd_loss accepts T only in that range
(TEMPERATURE_RANGE); the readouts (soften, entropy, divergence) take any finite T > 0.
Logits must be finite. Rounding can leave a divergence a hair below 0; it is clamped at 0 per
position. Results come back in float32 (float64 if an input is float64). Teacher logits are
not detached: pass them without grad (e.g. from
`torch.no_grad()`) unless you want grads there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import (KINDS, TEMPERATURE_RANGE, as_bool_mask, check_beta,
                                    check_kind, check_labels, check_logits, check_loss_settings,
                                    check_pair, check_temperature, compute_dtype)
from distill_core.kd.chunked import (CHUNK_BYTES, chunked_loss, graph_loss, loss_weights,
                                     rows_per_chunk, teacher_has_grad)
from distill_core.kd.divergences import kl_between
from distill_core.kd.topk import TopK, check_top_k_teacher, top_k, top_k_of_log_probs

__all__ = ["CHUNK_BYTES", "KINDS", "TEMPERATURE_RANGE", "TopK", "divergence", "entropy", "kd_loss",
           "kept_positions", "kl_between", "soften", "top_k", "top_k_of_log_probs"]


def soften(logits: torch.Tensor, temperature) -> torch.Tensor:
    """softmax(z / T) over the last dim, in float32 (float64 for float64 input)."""
    check_logits("logits", logits)
    temperature = check_temperature(temperature)
    return F.softmax(logits.to(compute_dtype(logits)) / temperature, dim=-1)


def entropy(logits: torch.Tensor, temperature=1.0) -> torch.Tensor:
    """H(softmax(z / T)) = −Σ p log p in nats, per position: (..., V) → (...)."""
    check_logits("logits", logits)
    temperature = check_temperature(temperature)
    log_p = F.log_softmax(logits.to(compute_dtype(logits)) / temperature, dim=-1)
    return (-(log_p.exp() * log_p).sum(-1)).clamp_min(0.0)


def _check_teacher(student_logits, teacher) -> None:
    check_logits("student_logits", student_logits)
    if isinstance(teacher, TopK):
        check_top_k_teacher(student_logits, teacher)
    else:
        check_logits("teacher_logits", teacher)
        check_pair(student_logits, teacher)


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
    beta = check_beta(check_kind(kind), beta)
    temperature = check_temperature(temperature)
    _check_teacher(student_logits, teacher_logits)
    lead, vocab = student_logits.shape[:-1], student_logits.shape[-1]
    keep = as_bool_mask(mask, lead, student_logits.device)
    rows = rows_per_chunk(chunk_size, lead.numel(), vocab)
    spec = dict(alpha=1.0, temperature=temperature, kind=kind, beta=beta, weights=(1.0, 0.0))
    if teacher_has_grad(teacher_logits):
        return graph_loss(student_logits, teacher_logits, None, keep, **spec)[0]
    return chunked_loss(student_logits, teacher_logits, None, keep, rows=rows, **spec)[0]


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

    chunk_size: positions per chunk. The loss and its gradient are computed chunk by chunk, so
    beyond the logits and their gradient only one chunk's softmaxes are held (at V = 49,152 a
    16 x 128 batch's logits are 400 MB per model in float32). "auto" (default): CHUNK_BYTES of
    float32 logits per chunk; None: all positions in one chunk. Results agree up to rounding in
    the sums. A teacher with grad is differentiated by autograd over all positions at once.
    """
    alpha, temperature, beta, ignore_index = check_loss_settings(alpha, temperature, kind, beta,
                                                                 ignore_index)
    check_logits("student_logits", student_logits)
    lead, vocab = student_logits.shape[:-1], student_logits.shape[-1]
    keep = kept_positions(labels, lead, vocab, ignore_index, alpha, student_logits.device)
    if alpha > 0.0:
        if teacher_logits is None:
            raise InputError("teacher_logits are required when alpha > 0; pass them or set "
                             "alpha=0 for plain training")
        _check_teacher(student_logits, teacher_logits)
    teacher = teacher_logits if alpha > 0.0 else None
    rows = rows_per_chunk(chunk_size, lead.numel(), vocab)
    spec = dict(alpha=alpha, temperature=temperature, kind=kind, beta=beta,
                weights=loss_weights(alpha, temperature))
    if teacher_has_grad(teacher):
        total, kd, ce = graph_loss(student_logits, teacher, labels, keep, **spec)
    else:
        total, kd, ce = chunked_loss(student_logits, teacher, labels, keep, rows=rows, **spec)
    return total, {"kd": kd, "ce": ce}


def kept_positions(labels, lead, vocab, ignore_index, alpha, device):
    """The positions both terms count (labels != ignore_index), or None when all count."""
    if labels is None:
        if alpha < 1.0:
            raise InputError(
                f"labels are required when alpha < 1 (cross-entropy has weight 1 − alpha = "
                f"{1 - alpha:g}); pass labels or set alpha=1")
        return None
    check_labels(labels, lead, vocab, ignore_index)
    return (labels != ignore_index).to(device)  # (...)
