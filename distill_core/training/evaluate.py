"""Evaluation of causal language models on token blocks. All losses in nats per token.

- `mean_loss` / `perplexity`: next-token cross-entropy of one model.
- `compare`: student against teacher on the same blocks in one pass: both losses, top-1
  agreement and KL(teacher || student) at T = 1; `compare_cached` the same from a teacher cache.
- `text_size` / `per_byte`: the same losses in bits per UTF-8 byte and per character of the
  text the predicted tokens spell, which mean the same whatever the tokenizer: sum of nats over
  the tokens / (ln 2 · bytes). Per-token perplexity is only comparable between models that
  share a tokenizer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distill_core import models
from distill_core.kd.losses import kl_between


def _logits(model, x: torch.Tensor, vocab: int | None = None) -> torch.Tensor:
    return models.next_token_logits(model, x, vocab).float()  # (B, T-1, V)


@torch.inference_mode()
def mean_loss(model, blocks: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy (nats/token) of `model` over `blocks` (N, T)."""
    return compare(model, None, blocks, batch_size)["student_loss"]


def perplexity(model, blocks: torch.Tensor, batch_size: int = 16) -> float:
    """exp(mean next-token loss) over `blocks`."""
    return math.exp(mean_loss(model, blocks, batch_size))


def text_size(tokenizer, blocks: torch.Tensor) -> dict:
    """UTF-8 bytes and characters of the text that the predicted tokens of `blocks` (N, T)
    spell: every block's tokens after its first, decoded without special tokens (an
    end-of-text token spells nothing). A character split across a block's first token counts
    as the replacement character (3 bytes): at most one per block."""
    texts = tokenizer.batch_decode(blocks[:, 1:].tolist(), skip_special_tokens=True)
    return {"bytes": sum(len(t.encode("utf-8")) for t in texts),
            "chars": sum(len(t) for t in texts), "tokens": blocks[:, 1:].numel()}


def per_byte(losses: dict[str, float], size: dict) -> dict:
    """{name}_bpb and {name}_bpc for each {name: mean loss in nats per token} over the tokens
    `size` measured (`text_size`): total nats / (ln 2 · bytes), and per character."""
    out = {}
    for name, loss in losses.items():
        bits = loss * size["tokens"] / math.log(2)
        out[f"{name}_bpb"] = bits / size["bytes"] if size["bytes"] else None
        out[f"{name}_bpc"] = bits / size["chars"] if size["chars"] else None
    return out


@torch.inference_mode()
def compare(student, teacher, blocks: torch.Tensor, batch_size: int = 16,
            vocab: int | None = None) -> dict:
    """Student (and teacher, if given) on the same blocks: losses, agreement, KL at T = 1.

    `vocab` limits both models' logits to the first `vocab` entries (the real tokens, when the
    two pad their embedding rows differently).
    """
    loaded = [m for m in (student, teacher) if m is not None]
    modes = [m.training for m in loaded]
    for m in loaded:
        m.eval()
    device = next(student.parameters()).device
    sums = {"student_loss": 0.0, "teacher_loss": 0.0, "agreement": 0.0, "kl": 0.0}
    count = 0
    for i in range(0, len(blocks), batch_size):
        x = blocks[i:i + batch_size].to(device)  # (B, T)
        targets = x[:, 1:].reshape(-1)
        s = _logits(student, x, vocab)
        s = s.reshape(-1, s.size(-1))  # (N, V)
        sums["student_loss"] += F.cross_entropy(s, targets, reduction="sum").item()
        if teacher is not None:
            t = _logits(teacher, x.to(next(teacher.parameters()).device), vocab)
            t = t.reshape(-1, t.size(-1)).to(device)  # (N, V)
            sums["teacher_loss"] += F.cross_entropy(t, targets, reduction="sum").item()
            sums["agreement"] += (s.argmax(-1) == t.argmax(-1)).sum().item()
            sums["kl"] += kl_between(t, s).sum().item()
        count += targets.numel()
    for m, mode in zip(loaded, modes):
        m.train(mode)
    out = {"student_loss": sums["student_loss"] / count,
           "student_ppl": math.exp(sums["student_loss"] / count), "tokens": count}
    if teacher is not None:
        out.update(teacher_loss=sums["teacher_loss"] / count,
                   teacher_ppl=math.exp(sums["teacher_loss"] / count),
                   agreement=sums["agreement"] / count, kl=sums["kl"] / count)
    return out


@torch.inference_mode()
def compare_cached(student, cache, blocks: torch.Tensor, batch_size: int = 16,
                   vocab: int | None = None) -> dict:
    """`compare` against a teacher cache of `blocks` instead of the teacher itself.

    The student's loss and the teacher's loss and top-1 are exact (the cache keeps the teacher's
    loss on every real next token and its top tokens in order); the KL is taken over the
    cache's k + 1 buckets, so it is a lower bound of the full KL.
    """
    from distill_core.kd.losses import divergence

    mode = student.training
    student.eval()
    device = next(student.parameters()).device
    sums = {"student_loss": 0.0, "teacher_loss": 0.0, "agreement": 0.0, "kl": 0.0}
    count = 0
    for i in range(0, len(blocks), batch_size):
        idx = torch.arange(i, min(i + batch_size, len(blocks)))
        x = blocks[idx].to(device)  # (B, T)
        s = _logits(student, x, vocab)  # (B, T-1, V)
        t = cache.targets(idx, device)
        n = x[:, 1:].numel()
        sums["student_loss"] += F.cross_entropy(s.reshape(-1, s.size(-1)), x[:, 1:].reshape(-1),
                                                reduction="sum").item()
        sums["teacher_loss"] += cache.teacher_nll(idx).sum().item()
        sums["agreement"] += (s.argmax(-1) == t.ids[..., 0].long()).sum().item()
        sums["kl"] += divergence(s, t, kind="forward_kl").item() * n
        count += n
    student.train(mode)
    out = {k: v / count for k, v in sums.items()}
    out.update(student_ppl=math.exp(out["student_loss"]),
               teacher_ppl=math.exp(out["teacher_loss"]), tokens=count)
    return out
