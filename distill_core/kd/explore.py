"""The temperature explorer's numbers: one next-token distribution per model, viewed at T.

Everything here is a pure function of logits (no Streamlit), so the app computes the logits
once per (model, prompt) and each slider move only redoes this cheap math:

    logits = models.prompt_logits(model, tokenizer, prompt)       # (V,), once
    view = soft_label_view(teacher_logits, student_logits, tokenizer, T)   # top-k bars
    ranks = mass_by_rank(teacher_logits, student_logits, T)   # whole-vocabulary curves
    numbers = readouts(teacher_logits, student_logits, temperature=T, alpha=α)

The bars show a handful of tokens, which is all of a tiny model's distribution but not of a real
one's: over a 49,152-token vocabulary most of the mass at T = 2 is in the "everything else" bar.
`mass_by_rank` sorts every token by probability and reads the curves at log-spaced ranks, so
what T does to the whole distribution stays visible at any vocabulary size.

All quantities are in nats. The math itself lives in `losses` (soften, entropy, divergence,
kd_loss); this module only arranges it for one position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.divergences import kl_terms
from distill_core.kd.losses import divergence, entropy, kd_loss, soften

__all__ = ["MASS_LEVEL", "TEMPERATURES", "mass_by_rank", "rank_points", "readouts",
           "soft_label_view", "visible"]

# 0.1 to 20, ten steps per factor of 10 (evenly spaced on a log scale), 2 significant figures:
# 0.1, 0.13, 0.16, 0.2, 0.25, … 1, 1.3, 1.6, 2, 2.5, 3.2, 4, 5, 6.3, 7.9, 10, 13, 16, 20.
TEMPERATURES = tuple(float(f"{10 ** ((i - 10) / 10):.2g}") for i in range(24))

_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥"})


def visible(token_text: str) -> str:
    """Token text with its whitespace made visible: space ␣, newline ↵, tab ⇥; empty ∅."""
    return token_text.translate(_VISIBLE) if token_text else "∅"


def soft_label_view(teacher_logits: torch.Tensor, student_logits: torch.Tensor, tokenizer,
                    temperature: float, k: int = 10) -> dict:
    """The teacher's top-k next tokens at T, with both models' probabilities for them.

    Keys: tokens (visible text; " #id" added where two read the same), ids, teacher, student
    (probabilities at T for those tokens), teacher_rest, student_rest (the "everything else"
    bucket: 1 − the shown sum), forward_kl, reverse_kl (each shown token's term of
    KL(teacher‖student) and KL(student‖teacher) at T) with forward_kl_rest, reverse_kl_rest
    (all other tokens' terms summed), temperature, vocab.
    """
    if teacher_logits.shape != student_logits.shape:
        raise InputError(f"teacher and student give different vocabularies "
                         f"({teacher_logits.shape[-1]:,} vs {student_logits.shape[-1]:,} tokens)")
    p = soften(teacher_logits, temperature)  # (V,)
    q = soften(student_logits, temperature)  # (V,)
    k = max(1, min(int(k), p.shape[-1]))
    top = torch.topk(p, k).indices  # (k,) most likely first
    ids = top.tolist()
    forward = kl_terms(teacher_logits, student_logits, temperature)  # (V,) p (log p − log q)
    reverse = kl_terms(student_logits, teacher_logits, temperature)  # (V,)
    shown_p, shown_q = p[top].tolist(), q[top].tolist()
    shown_f, shown_r = forward[top].tolist(), reverse[top].tolist()
    tokens = [visible(tokenizer.decode([i])) for i in ids]
    tokens = [t if tokens.count(t) == 1 else f"{t} #{i}" for t, i in zip(tokens, ids)]  # unique
    return {
        "temperature": float(temperature),
        "vocab": p.shape[-1],
        "ids": ids,
        "tokens": tokens,
        "teacher": shown_p,
        "student": shown_q,
        "teacher_rest": max(0.0, 1.0 - math.fsum(shown_p)),
        "student_rest": max(0.0, 1.0 - math.fsum(shown_q)),
        "forward_kl": shown_f,
        "reverse_kl": shown_r,
        "forward_kl_rest": float(forward.sum()) - math.fsum(shown_f),
        "reverse_kl_rest": float(reverse.sum()) - math.fsum(shown_r),
    }


def readouts(teacher_logits: torch.Tensor, student_logits: torch.Tensor, *, temperature: float,
             alpha: float, kind: str = "forward_kl", tokenizer=None) -> dict:
    """The numbers behind one position at temperature T and mixing weight α, in nats.

    The hard label is the teacher's most likely token: what one-hot training would use. It is
    the same at every T (dividing logits by T > 0 keeps their order); only its probability
    (the soft label's peak) changes. kd_term = α·T²·D_T(teacher, student) and
    ce_term = (1 − α)·CE(student, hard label), as `kd_loss` weighs them; total is their sum.
    """
    t, s = teacher_logits.float(), student_logits.float()
    hard = int(torch.argmax(t))
    h_teacher = float(entropy(t, temperature))
    h_student = float(entropy(s, temperature))
    total, parts = kd_loss(s.view(1, 1, -1), t.view(1, 1, -1), torch.tensor([[hard]]),
                           alpha=alpha, temperature=temperature, kind=kind)  # (B=1, T=1, V)
    out = {
        "teacher_entropy": h_teacher,
        "student_entropy": h_student,
        "teacher_choices": math.exp(h_teacher),
        "student_choices": math.exp(h_student),
        "hard_label_id": hard,
        "hard_label_teacher_prob": float(soften(t, temperature)[hard]),
        "hard_label_student_prob": float(soften(s, temperature)[hard]),
        "kl_teacher_student": float(divergence(s, t, kind="forward_kl", temperature=temperature)),
        "kl_student_teacher": float(divergence(s, t, kind="reverse_kl", temperature=temperature)),
        "divergence": float(parts["kd"]),
        "kd_term": alpha * temperature**2 * float(parts["kd"]),
        "ce_term": (1.0 - alpha) * float(parts["ce"]),
        "total": float(total),
    }
    if tokenizer is not None:
        out["hard_label"] = visible(tokenizer.decode([hard]))
    return out


MASS_LEVEL = 0.9  # mass_by_rank reports how many tokens hold this much of the probability


def rank_points(vocab: int, points: int = 60) -> list[int]:
    """About `points` ranks from 1 to `vocab`, evenly spaced on a log scale, each once."""
    if vocab < 1:
        raise InputError("an empty vocabulary has no ranks")
    raw = torch.logspace(0, math.log10(vocab), max(2, points), dtype=torch.float64)
    return sorted({1, vocab, *raw.round().long().clamp(1, vocab).tolist()})


def _by_rank(logits: torch.Tensor, temperature: float, ranks: list[int]) -> dict:
    """One distribution at T, its tokens sorted most likely first, read at `ranks` (1-based)."""
    log_p = F.log_softmax(logits.double() / temperature, dim=-1)  # (V,) float64: sums stay exact
    log_p = torch.sort(log_p, descending=True).values
    mass = log_p.exp().cumsum(-1)  # (V,) mass of the top k at index k - 1
    at = torch.tensor(ranks) - 1
    level = int(torch.searchsorted(mass, torch.tensor([MASS_LEVEL], dtype=mass.dtype))) + 1
    return {"mass": mass[at].clamp(max=1.0).tolist(), "log_prob": log_p[at].tolist(),
            "k_level": min(level, log_p.shape[-1])}


def mass_by_rank(teacher_logits: torch.Tensor, student_logits: torch.Tensor,
                 temperature: float, points: int = 60) -> dict:
    """The whole next-token distribution by rank, for the teacher at T = 1, the teacher at T and
    the student at T (each ranked by its own probabilities).

    Keys: temperature, vocab, level (MASS_LEVEL), k (log-spaced ranks 1 … V), and for each of
    "teacher_t1", "teacher", "student" a dict of mass (the probability the k most likely
    tokens hold, rising to 1 at k = V), log_prob (the k-th most likely token's log-probability,
    nats) and k_level (how many tokens it takes to hold `level` of the mass).
    """
    if teacher_logits.shape != student_logits.shape:
        raise InputError(f"teacher and student give different vocabularies "
                         f"({teacher_logits.shape[-1]:,} vs {student_logits.shape[-1]:,} tokens)")
    vocab = teacher_logits.shape[-1]
    k = rank_points(vocab, points)
    return {"temperature": float(temperature), "vocab": vocab, "level": MASS_LEVEL, "k": k,
            "teacher_t1": _by_rank(teacher_logits, 1.0, k),
            "teacher": _by_rank(teacher_logits, temperature, k),
            "student": _by_rank(student_logits, temperature, k)}
