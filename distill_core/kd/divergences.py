"""The divergences between two next-token distributions, per position, in nats.

With p = softmax(z_t / T) (teacher) and q = softmax(z_s / T) (student), per position:

    forward_kl   KL(p‖q) = Σ p (log p − log q)                     mode-covering
    reverse_kl   KL(q‖p) = Σ q (log q − log p)                     mode-seeking
    jsd          β KL(p‖m) + (1−β) KL(q‖m),  m = β p + (1−β) q,   0 < β < 1
    tvd          ½ Σ |p − q|
    skew_kl      KL(p‖m),  m = β p + (1−β) q,                     0 ≤ β < 1  (β = 0: forward_kl)

Everything runs in log space (log_softmax; log m = logaddexp(log β + log p, log(1−β) + log q),
the two-term logsumexp), so for finite logits p · (log p − log q) is 0 · finite where p
underflows, never 0 · ∞. `kl_between` is the one place the evaluation code, the on-policy
readout, the disagreement view and the explorer take KL(p‖q) between two logit tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import check_logits, check_temperature
from distill_core.kd.topk import TopK, bucket_log_probs

__all__ = ["kl_between", "kl_terms", "row_divergence", "rows_divergence"]


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a‖b) = Σ a (log a − log b) over the last dim."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def _log_mix(log_p: torch.Tensor, log_q: torch.Tensor, beta: float) -> torch.Tensor:
    """log(β p + (1−β) q), for 0 ≤ β < 1."""
    if beta == 0.0:
        return log_q
    return torch.logaddexp(log_p + math.log(beta), log_q + math.log1p(-beta))


def row_divergence(log_p: torch.Tensor, log_q: torch.Tensor, kind: str,
                   beta: float | None) -> torch.Tensor:
    """`kind` per row between two normalised log-distributions (N, K) → (N,); rounding that
    leaves a value a hair below 0 is clamped at 0."""
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


def rows_divergence(log_q: torch.Tensor, teacher, kind: str, temperature: float,
                    beta: float | None) -> torch.Tensor:
    """Per-row divergence (N,) given the student's softened log-probs (N, V) and the teacher's
    rows: dense logits (N, V) or a TopK of (N, k) rows. The teacher is softened here; log_q is
    the caller's, so that it can also serve the cross-entropy at T = 1."""
    if isinstance(teacher, TopK):
        log_p, log_q = bucket_log_probs(log_q, teacher, temperature)
    else:
        dtype = torch.promote_types(log_q.dtype, teacher.dtype)
        log_p = F.log_softmax(teacher.to(dtype) / temperature, -1)
    return row_divergence(log_p, log_q, kind, beta)


def _checked(p_logits, q_logits, temperature) -> float:
    check_logits("p_logits", p_logits)
    check_logits("q_logits", q_logits)
    if p_logits.shape != q_logits.shape:
        raise InputError(f"p_logits and q_logits must have the same shape, got "
                         f"{tuple(p_logits.shape)} vs {tuple(q_logits.shape)}")
    return check_temperature(temperature)


def kl_terms(p_logits: torch.Tensor, q_logits: torch.Tensor,
             temperature: float = 1.0) -> torch.Tensor:
    """Each token's term p (log p − log q) of KL(p‖q) at T, in float32: (..., V) → (..., V),
    with p = softmax(p_logits / T) and q = softmax(q_logits / T). They sum to the KL."""
    temperature = _checked(p_logits, q_logits, temperature)
    log_p = F.log_softmax(p_logits.float() / temperature, dim=-1)
    log_q = F.log_softmax(q_logits.float() / temperature, dim=-1)
    return log_p.exp() * (log_p - log_q)


def kl_between(p_logits: torch.Tensor, q_logits: torch.Tensor,
               temperature: float = 1.0) -> torch.Tensor:
    """KL(p‖q) per position in nats, float32: logits (..., V) → (...), the sum of `kl_terms`.
    Not clamped: rounding can leave a position a hair below 0, and callers that sum over many
    positions keep those sums as they are; clamp at 0 to show one position."""
    return kl_terms(p_logits, q_logits, temperature).sum(-1)
