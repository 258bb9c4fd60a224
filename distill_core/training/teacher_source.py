"""Where a run's teacher signal comes from: the teacher itself (live) or the teacher cache.

Both sources answer the same three questions, so the loop never asks which one it has:

    targets(idx, x)      the teacher's targets for the training blocks idx (x = their tokens):
                         live, a `Head` (its last hidden states (b, T-1, H) and projection,
                         which the fused loss turns into logits chunk by chunk) or, for a
                         teacher whose head is more than a linear map, (b, T-1, V) logits;
                         cached, a `TopK` of the k likeliest tokens
    compare(student, blocks, vocab)   evaluate.compare's numbers, against this source
    report(batch_size)   what the source adds to the run's summary
    loss                 the loss the loop takes against its targets (kd.fused's, or for a
                         teacher whose tokenizer differs, cross_tokenizer.CrossTeacher's)

`open_source(config, ...)` picks one: the cache when `config.teacher_cache` is set, the
cross-tokenizer teacher (training/cross_tokenizer.py) when the tokenizers differ.
"""

from __future__ import annotations

import torch

from distill_core import models
from distill_core.kd.fused import Head, fused_kd_loss
from distill_core.kd.losses import TopK
from distill_core.training import evaluate, teacher_cache
from distill_core.training.cross_tokenizer import CrossTeacher


class LiveTeacher:
    """Runs the frozen teacher on every batch, under inference mode and the run's autocast.
    `unfused` says why its logits are made in full (None: it gives its head)."""

    mode = "live"
    loss = staticmethod(fused_kd_loss)  # the loss the loop takes against these targets

    def __init__(self, teacher, autocast, vocab: int | None = None):
        self.teacher, self.autocast, self.vocab = teacher, autocast, vocab
        self.unfused = models.unfused_reason(teacher)

    def targets(self, idx: torch.Tensor, x: torch.Tensor) -> Head | torch.Tensor:
        with torch.inference_mode(), self.autocast():
            if self.unfused is None:  # hidden (b, T-1, H) and the projection
                head = models.teacher_head(self.teacher, x, self.vocab)
            else:
                logits = models.next_token_logits(self.teacher, x, self.vocab)  # (b, T-1, V)
        if self.unfused is None:  # leave inference mode: autograd may save them
            return head._replace(hidden=head.hidden.clone())
        return logits.clone()

    def compare(self, student, blocks: torch.Tensor, vocab: int | None = None) -> dict:
        return evaluate.compare(student, self.teacher, blocks, vocab=vocab)

    def report(self, batch_size: int) -> dict:
        return {}


class CachedTeacher:
    """Reads the teacher's top-k targets from the teacher cache; runs the teacher only on the
    blocks no run has cached yet (the validation blocks are filled when the source is opened)."""

    mode = "cached"
    loss = staticmethod(fused_kd_loss)

    def __init__(self, train_cache, val_cache, teacher, train_blocks, autocast,
                 vocab: int | None = None):
        self.train_cache, self.val_cache = train_cache, val_cache
        self.teacher, self.train_blocks = teacher, train_blocks
        self.autocast, self.vocab = autocast, vocab

    def targets(self, idx: torch.Tensor, x: torch.Tensor) -> TopK:
        self.train_cache.fill(self.teacher, self.train_blocks, idx, self.autocast,
                              vocab=self.vocab)
        return self.train_cache.targets(idx, x.device)  # (b, T-1, k) entries

    def compare(self, student, blocks: torch.Tensor, vocab: int | None = None) -> dict:
        return evaluate.compare_cached(student, self.val_cache, blocks, vocab=vocab)

    def report(self, batch_size: int) -> dict:
        self.train_cache.flush()
        return self.train_cache.report(batch_size)


def unfused_notes(student, source) -> list[str]:
    """One line for each model whose logits are made in full (its head is more than a linear
    map, `models.unfused_reason`), and why; none when both fuse with the loss."""
    found = [("student", models.unfused_reason(student)),
             ("teacher", getattr(source, "unfused", None))]
    return [f"the {who}'s logits are made in full, not fused with the loss: {why}"
            for who, why in found if why]


def open_source(config, prepared, val_blocks: torch.Tensor, autocast, dtype: str,
                vocab: int | None = None) -> LiveTeacher | CachedTeacher:
    """The run's teacher source. `dtype` is the teacher's number format (Accelerate's
    mixed_precision), part of the cache key; a cache is opened once per `Prepared`, kept there."""
    teacher = prepared.teacher
    if prepared.cross is not None:  # the tokenizers differ: the teacher reads its own tokens
        return CrossTeacher(teacher, prepared.cross, autocast, len(prepared.tokenizer))
    if not config.teacher_cache:
        return LiveTeacher(teacher, autocast, vocab)
    rows = vocab or teacher.get_output_embeddings().weight.shape[0]
    k = min(config.top_k, rows)
    root = teacher_cache.cache_root(config.runs_dir)
    caches = []
    for part, blocks in (("train", prepared.train_blocks), ("val", val_blocks)):
        key = (part, k, dtype, len(blocks))
        if key not in prepared.caches:
            prepared.caches[key] = teacher_cache.open_cache(
                root, teacher, prepared.tokenizer, blocks, k, dtype, rows)
        prepared.caches[key].computed = 0  # counted per run
        caches.append(prepared.caches[key])
    caches[1].fill(teacher, val_blocks, torch.arange(len(val_blocks)), autocast, vocab=vocab)
    return CachedTeacher(caches[0], caches[1], teacher, prepared.train_blocks, autocast, vocab)
