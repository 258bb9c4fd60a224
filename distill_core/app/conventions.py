"""Loss conventions: the same names (temperature, alpha, beta, the divergence) in five tools,
computed on the same logits beside this project's loss, broken into its parts.

    rows = loss_table(student_logits, teacher_logits, labels, alpha=.5, temperature=2,
                      kind="jsd", beta=.5)      # ours first, then one row per tool

Each tool's formula is re-written here from its source (the file is in CONVENTIONS), in nats,
averaged over positions; where TRL is installed its own `generalized_jsd_loss` computes the two
TRL rows. What differs, read from those sources:

    tool                      where T goes          T^2   beta = 0 / 1          hard-label CE
    ours                      both sides, in loss   yes   jsd: refused (0)      (1 - alpha)
    TRL GKDTrainer            sampling only         no    forward / reverse KL  none
    TRL DistillationTrainer   both sides, in loss   no    forward / reverse KL  none
    Axolotl KD plugin         student; teacher top-k yes  forward / reverse KL  kd_ce_alpha
    DistillKit                both sides, in loss   yes   (kl: forward only)    its weight
    Liger fused JSD           both sides, in loss   no    forward / reverse KL  weight_hard_loss

Between the ends all three JSDs use m = beta p_teacher + (1 - beta) p_student, as ours does, so
beta -> 0 tends to 0 but beta = 0 is the forward KL: a jump at each end. (Older Liger releases
attached the mixture weights the other way round, m = beta p_student + (1 - beta) p_teacher.)
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.losses import divergence
from distill_core.model_mode import eval_mode
from distill_core.models.loading import next_token_logits

__all__ = ["CONVENTIONS", "TOOLS", "Convention", "generalized_jsd", "loss_table",
           "prompt_positions"]


class Convention(NamedTuple):
    source: str  # the file the formula was read from
    temperature: str  # where T is applied
    t_squared: bool  # is the KD term multiplied by T^2
    beta: str  # what beta means, and its ends
    hard_ce: str  # is hard-label CE mixed in, with what weight


CONVENTIONS = {
    "ours": Convention("distill_core/kd/losses.py", "both sides, in the loss", True,
                       "jsd mixture weight on the teacher; 0 and 1 refused (jsd = 0 there)",
                       "(1 - alpha) x CE at T = 1"),
    "TRL GKDTrainer": Convention(
        "trl/experimental/gkd/gkd_trainer.py", "sampling only; the loss is at T = 1", False,
        "JSD mixture weight on the teacher; 0 = forward KL, 1 = reverse KL", "none"),
    "TRL DistillationTrainer": Convention(
        "trl/trainer/distillation_trainer.py, trl/kernels/chunked_divergence.py",
        "sampling and both sides of the loss", False,
        "as GKD: 0 = forward KL, 1 = reverse KL, between: JSD", "none"),
    "Axolotl": Convention(
        "src/axolotl/integrations/kd/kernels/liger.py", "student logits / T; teacher top-k "
        "log-probs at T, renormalised over the top k", True,
        "kd_beta: 0 = forward KL, 1 = reverse KL, between: JSD over the top k",
        "kd_ce_alpha x CE at T = 1"),
    "DistillKit": Convention(
        "distillkit/lossfuncs/kl.py, distillkit/trainer.py", "both sides, in the loss", True,
        "no beta: its kl is forward KL", "cross_entropy weight, all weights divided by their sum"),
    "Liger fused JSD": Convention(
        "src/liger_kernel/chunked_loss/jsd_loss.py, fused_linear_distillation.py",
        "both sides, in the loss", False,
        "0 = forward KL, 1 = reverse KL, between: JSD", "weight_hard_loss x CE at T = 1"),
}
TOOLS = [t for t in CONVENTIONS if t != "ours"]


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    return (log_a.exp() * (log_a - log_b)).sum(-1)  # (N,)


def generalized_jsd(log_p: torch.Tensor, log_q: torch.Tensor, beta: float) -> torch.Tensor:
    """The tools' generalized JSD per row, ends included: beta 0 = KL(p||q), 1 = KL(q||p);
    between, beta KL(p||m) + (1 - beta) KL(q||m) with m = beta p + (1 - beta) q."""
    if beta == 0.0:
        return _kl(log_p, log_q)
    if beta == 1.0:
        return _kl(log_q, log_p)
    log_m = torch.logaddexp(log_p + math.log(beta), log_q + math.log1p(-beta))
    return beta * _kl(log_p, log_m) + (1 - beta) * _kl(log_q, log_m)


def _trl_jsd(s, t, beta: float, temperature: float) -> tuple[float, str]:
    """TRL's own generalized_jsd_loss where trl is installed, else the same formula here."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.gkd import GKDTrainer
    except Exception:  # noqa: BLE001 - not installed, or its imports fail: use our rewrite
        log_p, log_q = (F.log_softmax(x / temperature, -1) for x in (t, s))
        return float(generalized_jsd(log_p, log_q, beta).mean()), "formula"
    every = torch.zeros(s.shape[:1], dtype=torch.long)[None]  # (1, N): each position counts
    value = GKDTrainer.generalized_jsd_loss(s[None], t[None], labels=every, beta=beta,
                                            temperature=temperature)
    return float(value), "called trl"


def _axolotl_kd(s, t, temperature: float, beta: float, k: int) -> float:
    """Axolotl's top-k KD per position: teacher top-k at T renormalised over the k, the
    student's log-probs over the whole vocabulary (kd_normalize_topk off)."""
    log_pt, ids = F.log_softmax(t / temperature, -1).topk(k, -1)
    log_pt = log_pt - log_pt.logsumexp(-1, keepdim=True)  # (N, k)
    log_qt = F.log_softmax(s / temperature, -1).gather(-1, ids)  # (N, k), not renormalised
    pt, qt = log_pt.exp(), log_qt.exp()
    if beta == 0.0:
        d = (pt * (log_pt - log_qt)).sum(-1)
    elif beta == 1.0:
        d = (qt * (log_qt - log_pt)).sum(-1)
    else:
        log_m = ((1 - beta) * qt + beta * pt).log()
        d = beta * (pt * (log_pt - log_m)).sum(-1) + (1 - beta) * (qt * (log_qt - log_m)).sum(-1)
    return float(d.mean())


def _row(tool: str, kd: float, ce: float, w_kd: float, w_ce: float, how: str) -> dict:
    c = CONVENTIONS[tool]
    return {"tool": tool, "divergence": kd, "ce": ce, "kd weight": w_kd, "ce weight": w_ce,
            "total": w_kd * kd + w_ce * ce, "computed": how, "T applied": c.temperature,
            "T^2": "yes" if c.t_squared else "no", "beta": c.beta, "hard-label CE": c.hard_ce,
            "source": c.source}


@torch.no_grad()
def loss_table(student_logits, teacher_logits, labels, *, alpha: float, temperature: float,
               kind: str = "forward_kl", beta: float = 0.5, top_k: int = 64) -> list[dict]:
    """Ours (split into divergence and CE) and each tool's loss for the settings of the same
    names, on logits (N, V) with labels (N,): one dict per row, all in nats."""
    s, t = student_logits.float(), teacher_logits.float()
    T, a = float(temperature), float(alpha)
    ce = float(F.cross_entropy(s, labels))
    try:
        ours, how = float(divergence(s, t, kind=kind, temperature=T, beta=beta)), \
            "distill_core kd_loss"
    except InputError as err:  # jsd at beta 0 or 1, skew_kl at 1: refused, with the reason
        ours, how = float("nan"), str(err)
    rows = [_row("ours", ours, ce, a * T * T, 1 - a, how)]
    # the tools' beta for our divergence (tvd and skew_kl have none: as the exports map them)
    tool_beta = {"forward_kl": 0.0, "reverse_kl": 1.0, "tvd": 0.5, "skew_kl": 0.0}.get(kind, beta)
    gkd, how = _trl_jsd(s, t, tool_beta, 1.0)
    rows.append(_row("TRL GKDTrainer", gkd, ce, 1.0, 0.0, how))
    dist, how = _trl_jsd(s, t, tool_beta, T)
    rows.append(_row("TRL DistillationTrainer", dist, ce, 1.0, 0.0, how))
    k = min(top_k, s.shape[-1])
    rows.append(_row("Axolotl", _axolotl_kd(s, t, T, tool_beta, k), ce, a * T * T, 1 - a,
                     f"formula, top {k}"))
    fwd = float(_kl(F.log_softmax(t / T, -1), F.log_softmax(s / T, -1)).mean())
    rows.append(_row("DistillKit", fwd, ce, a * T * T, 1 - a, "formula (kl)"))
    log_p, log_q = F.log_softmax(t / T, -1), F.log_softmax(s / T, -1)
    liger = float(generalized_jsd(log_p, log_q, tool_beta).mean())
    rows.append(_row("Liger fused JSD", liger, ce, a, 1 - a, "formula"))
    for row in rows:
        row["total - ours"] = row["total"] - rows[0]["total"]
    return rows


def prompt_positions(teacher, student, tokenizer, prompt: str):
    """(student logits (N, V), teacher logits (N, V), labels (N,)) at every position of `prompt`
    that has a next token, both models in eval mode without grad."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("the prompt is empty; type a few words")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, :512]  # (1, n)
    if ids.shape[1] < 2:
        raise InputError("the prompt needs at least two tokens: type a few words")
    vocab = min(teacher.get_output_embeddings().weight.shape[0],
                student.get_output_embeddings().weight.shape[0])
    with eval_mode(teacher), eval_mode(student), torch.no_grad():
        t = next_token_logits(teacher, ids, vocab)[0].float()  # (n - 1, V)
        s = next_token_logits(student, ids, vocab)[0].float()
    return s, t, ids[0, 1:]
