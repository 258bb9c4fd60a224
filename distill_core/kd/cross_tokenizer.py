"""Distillation between two models whose tokenizers differ, in nats: the maths, torch only.

The two models read the same text cut into different tokens. Where both tokenizations put a
token boundary at the same character, both models have read exactly the same prefix, so their
next-token distributions there answer the same question ("what comes after this text?"). The
text between two such shared boundaries is a *group*: one or more tokens on each side.
`Groups` holds, per group, where each model's prediction of it sits (flat indices into the
batch's B × T positions); `models.alignment` builds them from character offsets.

    total, parts = cross_tokenizer_kd_loss(student_logits, teacher_logits, groups,
                                           student_labels=..., teacher_labels=...,
                                           alpha=α, temperature=T, kind="uld")

Two kinds of KD term, averaged over groups, with p = softmax(z / T) on each side:

    uld      Σ_i |p_s↓[i] − p_t↓[i]| with both distributions at the group's predicting position
             sorted descending and the shorter padded with zeros: the closed-form Wasserstein-1
             distance of Universal Logit Distillation (Boizard et al. 2024), no vocabulary map.
    aligned  where one token on each side covers the group: KL over the tokens both vocabularies
             spell the same way, each side's other tokens lumped into one "rest" bucket (so
             the student is also taught how much mass belongs outside the shared tokens);
             elsewhere ULD between chain-rule span vectors: the distribution at the group's start
             with the entry of the group's first token multiplied by the probability of the
             rest of the group's tokens (P(x1 … xn) = P(x1) Π P(xk | x<k)), so the whole span's
             probability is compared.

total = α T² KD + (1 − α) CE(student, its own labels), as `kd_loss` (kd.chunked's
weighted_total: the one place that formula is written).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import (TEMPERATURE_RANGE, check_alpha, check_logits,
                                    check_temperature, compute_dtype)
from distill_core.kd.chunked import loss_weights, weighted_total

_NEVER = -1e4  # a log-probability standing for 0 (an empty rest bucket): exp() is exactly 0

__all__ = ["CROSS_HELP", "CROSS_KINDS", "CROSS_SETTINGS", "Groups", "cross_tokenizer_kd_loss", "cross_tokenizer_loss",
           "span_log_probs", "uld_distance"]

CROSS_KINDS = ("uld", "aligned")
CROSS_SETTINGS = ("auto", *CROSS_KINDS)  # the run setting `cross_tokenizer` (config.py)
CROSS_HELP = ("The loss between a teacher and a student whose tokenizers differ: uld compares "
              "both distributions sorted by probability (no vocabulary map); aligned uses a KL "
              "over the tokens both vocabularies spell alike (the rest as one bucket) where one "
              "token on each side covers the same text, and uld elsewhere. auto = aligned when "
              "they share at least half of the smaller vocabulary, else uld; unused (and refused "
              "if named) when the tokenizers are the same.")


@dataclass(frozen=True)
class Groups:
    """Per aligned group (G,), flat indices into B × T (teacher: B × T_teacher) positions.

    `*_pos`: the position whose logits predict the group's first token (the last token of the
    group before); `*_end`: the position of the group's last token; `*_first`: the id of the
    group's first token; `one_to_one`: one token on each side covers the group."""

    student_pos: torch.Tensor
    student_end: torch.Tensor
    student_first: torch.Tensor
    teacher_pos: torch.Tensor
    teacher_end: torch.Tensor
    teacher_first: torch.Tensor
    one_to_one: torch.Tensor

    @classmethod
    def from_lists(cls, rows: dict, device=None) -> "Groups":
        """From plain lists of ints (bools for one_to_one), keyed by the field names."""
        return cls(**{f.name: torch.tensor(rows[f.name], device=device, dtype=torch.bool
                                           if f.name == "one_to_one" else torch.long)
                       for f in fields(cls)})

    @property
    def size(self) -> int:
        return int(self.student_pos.numel())


def uld_distance(log_p_student: torch.Tensor, log_p_teacher: torch.Tensor) -> torch.Tensor:
    """Σ |sorted p_s − sorted p_t| per row: (G, Vs), (G, Vt) log-probabilities → (G,).

    Each row sorted descending, the shorter padded with zeros to the longer's length. Past the
    narrower width k the padded side is 0, so those ranks add up to the wider side's mass
    outside its k largest: only the k largest of each side are sorted (topk), exactly."""
    p_s, p_t = log_p_student.exp(), log_p_teacher.exp()
    k = min(p_s.shape[-1], p_t.shape[-1])
    top_s, top_t = (p.topk(k, dim=-1).values if p.shape[-1] > k
                    else p.sort(dim=-1, descending=True).values for p in (p_s, p_t))
    distance = (top_s - top_t).abs().sum(-1)
    for p, top in ((p_s, top_s), (p_t, top_t)):
        if p.shape[-1] > k:  # the wider side's mass past its k largest, against zeros
            distance = distance + (p.sum(-1) - top.sum(-1)).clamp_min(0.0)
    return distance


def _actual_log_probs(log_p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p_j(label_j) per flat position (N,); 0 where the label is ignored (negative)."""
    ok = labels >= 0
    picked = log_p.gather(1, labels.clamp_min(0).unsqueeze(1)).squeeze(1)
    return torch.where(ok, picked, torch.zeros_like(picked))


def span_log_probs(log_p: torch.Tensor, labels: torch.Tensor, pos: torch.Tensor,
                   end: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """Chain-rule span vectors (G, V) in log space: the distribution at `pos` with the entry of
    `first` raised by log P(rest of the group | its first token) = Σ log p_j(label_j) over the
    positions pos+1 … end−1 (empty for a one-token group). log_p (N, V), labels (N,)."""
    cum = _actual_log_probs(log_p, labels).cumsum(0)  # (N,)
    rest = cum[(end - 1).clamp_min(0)] - cum[pos]  # (G,): positions pos+1 … end−1
    rows = log_p[pos]  # (G, V)
    return rows.scatter_add(1, first.unsqueeze(1), rest.unsqueeze(1).to(rows.dtype))


def _shared_kl(rows_s, rows_t, shared_student, shared_teacher) -> torch.Tensor:
    """KL(teacher ‖ student) over the tokens both vocabularies spell alike, each side's other
    tokens lumped into one "rest" bucket; (G, Vs), (G, Vt) log-probabilities → (G,). With one
    vocabulary the rest is empty on both sides and this is the plain forward KL. When every
    student token is shared, the teacher's rest has no counterpart: both are compared over the
    shared tokens (the teacher's renormalised to them), weighted by the teacher's mass there."""
    def buckets(rows, shared):  # (G, M + 1): the shared tokens' log-probs, then the rest's
        rest = rows.index_fill(1, shared, float("-inf")).logsumexp(-1, keepdim=True)
        return torch.cat([rows[:, shared], rest], dim=-1).clamp_min(_NEVER)

    log_p, log_q = buckets(rows_t, shared_teacher), buckets(rows_s, shared_student)
    weight = 1.0
    if shared_student.numel() >= rows_s.shape[-1]:  # the student has no rest to match
        log_p, log_q = log_p[:, :-1], log_q[:, :-1]
        mass = log_p.logsumexp(-1, keepdim=True)
        log_p, weight = log_p - mass, mass.squeeze(-1).exp()
    return weight * (log_p.exp() * (log_p - log_q)).sum(-1)


def cross_tokenizer_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                         groups: Groups, *, student_labels: torch.Tensor,
                         teacher_labels: torch.Tensor, temperature=1.0, kind: str = "uld",
                         shared: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Mean KD term over the groups (nats for the KL part; ULD is a probability distance).

    Logits (B, Ts, Vs) and (B, Tt, Vt); labels (B, Ts) and (B, Tt), labels[b, t] the token that
    logits[b, t] predicts (negative: none). `shared` = (student ids, teacher ids) of the tokens
    both vocabularies spell the same way, required by "aligned". No group gives 0 (still
    connected to student_logits)."""
    if kind not in CROSS_KINDS:
        raise InputError(f"cross-tokenizer loss must be one of {', '.join(CROSS_KINDS)}, "
                         f"not {kind!r}")
    if kind == "aligned" and (shared is None or shared[0].numel() == 0):
        raise InputError("the aligned loss needs tokens both vocabularies share; none given "
                         "(use the uld loss)")
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    t = check_temperature(temperature)
    dtype = compute_dtype(student_logits, teacher_logits)
    log_s = F.log_softmax(student_logits.to(dtype).flatten(0, -2) / t, dim=-1)  # (B·Ts, Vs)
    log_t = F.log_softmax(teacher_logits.to(dtype).flatten(0, -2) / t, dim=-1)  # (B·Tt, Vt)
    if groups.size == 0:
        return student_logits.sum() * 0.0
    if kind == "uld":
        return uld_distance(log_s[groups.student_pos], log_t[groups.teacher_pos]).mean()
    rows_s = span_log_probs(log_s, student_labels.flatten(), groups.student_pos,
                            groups.student_end, groups.student_first)
    rows_t = span_log_probs(log_t, teacher_labels.flatten(), groups.teacher_pos,
                            groups.teacher_end, groups.teacher_first)
    single = groups.one_to_one
    per_group = rows_s.new_zeros(groups.size)  # (G,)
    if bool(single.any()):
        per_group = per_group.masked_scatter(single, _shared_kl(
            rows_s[single], rows_t[single], shared[0].to(log_s.device),
            shared[1].to(log_t.device)))
    if not bool(single.all()):
        per_group = per_group.masked_scatter(~single, uld_distance(rows_s[~single],
                                                                   rows_t[~single]))
    return per_group.mean()


def cross_tokenizer_kd_loss(student_logits, teacher_logits, groups: Groups, *, student_labels,
                            teacher_labels, alpha, temperature, kind: str = "uld",
                            shared=None, ignore_index: int = -100):
    """total = α T² KD + (1 − α) CE(student_logits, student_labels); parts {"kd", "ce"}."""
    alpha = check_alpha(alpha)
    t = check_temperature(temperature, TEMPERATURE_RANGE)
    ce = F.cross_entropy(student_logits.flatten(0, -2).float(), student_labels.flatten(),
                         ignore_index=ignore_index)
    kd = student_logits.sum() * 0.0
    if alpha > 0.0:
        kd = cross_tokenizer_loss(student_logits, teacher_logits, groups,
                                  student_labels=student_labels, teacher_labels=teacher_labels,
                                  temperature=t, kind=kind, shared=shared)
    total, kd, ce = weighted_total(None, kd, ce, loss_weights(alpha, t))
    return total, {"kd": kd, "ce": ce}
