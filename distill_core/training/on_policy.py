"""On-policy distillation (GKD: Agarwal et al., 2024): the student also learns on text it wrote.

Trained on real text only, the student is graded on sequences it would never have written; when
it generates, its own early mistakes lead it into contexts it never trained on (exposure bias).
GKD lets the student write part of its training data, and the teacher grades every token of it:

    n = round(λ · B) of the whole batch's B blocks (λ = config.on_policy), spread evenly over
    its micro-batches (all processes, all accumulation steps); in each micro-batch, its share:
        keep the first `prefix` tokens, let the student sample the other T - prefix
        (eval mode, no grad, KV cache, at on_policy_temperature)
    the teacher scores the whole micro-batch, real and written rows alike (a live teacher)

    total = α T² · mean over all positions of D_T(teacher, student)
          + (1 − α) · mean over the real next tokens of CE(student)

The cross-entropy leaves out the tokens the student sampled: there the "hard label" is the
student's own sample, and training on it would only reinforce whatever it happened to draw
(GKD's on-policy loss is the divergence alone). The prefix of a written row is real text and
keeps its CE. With λ = 0 nothing here runs and the loop is the plain off-policy one.
Counting over the whole batch keeps a small λ honest: λ = 0.1 of 16 blocks in 4 micro-batches of
4 is 2 written rows, where rounding per micro-batch gave none. A λ that rounds to no row at all
is refused by the config; the summary records the fraction realised (`realized_fraction`).

Sampling draws from the student's full distribution at that temperature (no top-k or top-p; the
end-of-text token may be drawn and the text then runs on, as packed training blocks do), only
over the tokenizer's real tokens. It is seeded from (config.seed, step, micro-batch, process)
inside `torch.random.fork_rng`: a run is reproducible, a resumed run draws the same samples, and
the random state the rest of training uses is left as it was.
"""

from __future__ import annotations

import contextlib

import torch

from distill_core import models
from distill_core.config import on_policy_rows  # λ·B rounded half up: one rule, the config's
from distill_core.kd.fused import Head, fused_kd_loss, head_logits
from distill_core.kd.losses import kd_loss, kl_between
from distill_core.model_mode import eval_mode

__all__ = ["continue_blocks", "generated_positions", "gkd_loss", "on_policy_rows",
           "realized_fraction", "rows_per_micro_batch", "sample_kl", "sampling_seed"]


def rows_per_micro_batch(batch: int, fraction: float, pieces: int) -> list[int]:
    """The rows the student writes in each of the `pieces` equal micro-batches of a `batch`:
    round(λ·batch) in all, as evenly as they go, the earlier micro-batches taking one more."""
    total, size = on_policy_rows(batch, fraction), batch // pieces
    share, extra = divmod(total, pieces)
    return [min(size, share + (i < extra)) for i in range(pieces)]


def realized_fraction(generated_tokens: int, steps: int, config) -> float:
    """The share of training sequences the student wrote: rows written / rows trained on."""
    new = config.seq_len - config.on_policy_prefix_tokens
    rows = steps * config.batch_size
    return generated_tokens / (new * rows) if rows and new else 0.0


def sampling_seed(seed: int, step: int, micro: int = 0, rank: int = 0) -> int:
    """One seed per (run seed, step, micro-batch, process), the same on every machine."""
    return (((seed * 1_000_003 + step) * 1_009 + micro) * 101 + rank) % 2**63


def continue_blocks(model, x: torch.Tensor, rows: int, prefix: int, temperature: float,
                    seed: int, vocab: int | None = None, autocast=None) -> torch.Tensor:
    """`x` (b, T) with its first `rows` rows rewritten: each keeps its first `prefix` tokens and
    `model` samples the remaining T - prefix at `temperature`. `vocab`: only ids below it are
    drawn (the tokenizer's real tokens, when the embedding has padding rows)."""
    if rows == 0:
        return x
    new = x.shape[1] - prefix
    n_rows = model.get_output_embeddings().weight.shape[0]
    suppress = list(range(vocab, n_rows)) if vocab and vocab < n_rows else None
    start = x[:rows, :prefix]  # (rows, prefix)
    devices = [x.device] if x.device.type == "cuda" else []
    with eval_mode(model), torch.random.fork_rng(devices=devices), torch.no_grad(), \
            (autocast or contextlib.nullcontext)():
        torch.manual_seed(seed)
        out = model.generate(input_ids=start, attention_mask=torch.ones_like(start),
                             do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                             max_new_tokens=new, min_new_tokens=new, use_cache=True,
                             eos_token_id=None, pad_token_id=0, suppress_tokens=suppress)
    return torch.cat([out.to(x.dtype), x[rows:]])  # (b, T)


def generated_positions(x: torch.Tensor, rows: int, prefix: int) -> torch.Tensor:
    """(b, T-1) bool: True where the next token (the label x[:, t+1]) was sampled by the student,
    i.e. in the first `rows` rows from label position prefix - 1 on."""
    mask = torch.zeros(x.shape[0], x.shape[1] - 1, dtype=torch.bool, device=x.device)
    mask[:rows, prefix - 1:] = True
    return mask


def gkd_loss(student_logits, teacher_logits, labels, generated, *, alpha: float,
             temperature: float, kind: str = "forward_kl", beta: float = 0.5):
    """(total, {"kd", "ce"}) as `kd_loss`, but the CE counts only where `generated` (b, T-1) is
    False: total = α T² D_T over every position + (1 − α) CE over the real next tokens.
    The student and teacher may come as `Head`s (kd.fused): then in one fused walk."""
    real = labels.masked_fill(generated, -100)  # (b, T-1): the sampled tokens left out
    if isinstance(student_logits, Head):
        return fused_kd_loss(student_logits, teacher_logits, real, alpha=alpha,
                             temperature=temperature, kind=kind, beta=beta, kd_everywhere=True)
    if isinstance(teacher_logits, Head):
        with torch.no_grad():
            teacher_logits = head_logits(teacher_logits)
    kd_total, parts = kd_loss(student_logits, teacher_logits, None, alpha=1.0,
                              temperature=temperature, kind=kind, beta=beta)  # T² · D
    with torch.set_grad_enabled(torch.is_grad_enabled() and alpha < 1.0):
        if bool((real != -100).any()):
            ce, _ = kd_loss(student_logits, None, real, alpha=0.0, temperature=1.0)
        else:  # every label was sampled: nothing for the CE to learn from
            ce = kd_total.new_zeros(())
    total = alpha * kd_total + (1.0 - alpha) * ce if alpha < 1.0 else kd_total
    return total, {"kd": parts["kd"], "ce": ce}


@torch.no_grad()
def sample_kl(student, teacher, blocks: torch.Tensor, prefix: int, temperature: float = 1.0,
              seed: int = 0, vocab: int | None = None, batch_size: int = 16) -> dict:
    """How the student does on its own text: it continues each block's first `prefix` tokens,
    then, on the tokens it sampled, KL(teacher‖student) at T = 1 and the teacher's
    cross-entropy of them (how unlikely the teacher finds what the student wrote); nats/token."""
    kl = nll = 0.0
    count = 0
    with eval_mode(student), eval_mode(teacher):
        for i in range(0, len(blocks), batch_size):
            x = blocks[i:i + batch_size]
            x = continue_blocks(student, x, len(x), prefix, temperature,
                                sampling_seed(seed, i), vocab)
            t = models.next_token_logits(teacher, x, vocab)[:, prefix - 1:].float()
            s = models.next_token_logits(student, x, vocab)[:, prefix - 1:].float()
            kl += kl_between(t, s).sum().item()  # (b, T-prefix) positions
            nll -= t.log_softmax(-1).gather(-1, x[:, prefix:, None]).sum().item()
            count += x[:, prefix:].numel()
    return {"sample_kl": kl / count, "teacher_nll_of_samples": nll / count}
