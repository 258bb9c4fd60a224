"""What a run loads and decides before it trains: the teacher, tokenizer and token blocks
(`Prepared`, which a sweep's runs share), the order it reads the blocks in, split over processes
and accumulation steps, and the precision it trains at."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from distill_core import models
from distill_core.config import TINYTALES_STORIES, DistillConfig
from distill_core.errors import InputError
from distill_core.store.limits import data_cap_bytes, load_limits
from distill_core.training import evaluate
from distill_core.training.cross_tokenizer import (CrossData, cross_kind, ids_both_read,
                                                   load_cross, teacher_text_size)
from distill_core.training.precision import choose_precision

__all__ = ["Prepared", "batch_order", "check_context", "decide_precision", "load_blocks",
           "load_splits", "micro_batches", "mixed_precision", "prepare"]


def mixed_precision(precision: str) -> str:
    """Accelerate's mixed_precision for a precision setting that is decided ("fp32", "bf16");
    "auto" is decided by measurement in `decide_precision` first."""
    return {"fp32": "no", "bf16": "bf16"}[precision]


def decide_precision(config: DistillConfig, prepared: "Prepared", device) -> dict:
    """{"precision": "fp32" | "bf16", ...}: the config's own, or for "auto" the faster of the
    two as timed here on this run's student (and live teacher) and batch shape (precision.py;
    the decision is cached per machine, torch version and shapes)."""
    if config.precision != "auto":
        return {"precision": config.precision, "measured": False}
    student = models.load_student(config.student, prepared.teacher, seed=config.seed,
                                  limits=load_limits(config.runs_dir))
    live = config.alpha > 0 and not config.teacher_cache
    rows = min(prepared.teacher.get_output_embeddings().weight.shape[0],
               student.get_output_embeddings().weight.shape[0])
    batch = prepared.train_blocks[:config.micro_batch]  # (b, T) one micro-batch
    if prepared.cross is not None:  # the student's ids, which the teacher may not have
        batch = ids_both_read(batch, prepared.teacher, student)
    choice = choose_precision(student.to(device), prepared.teacher.to(device) if live else None,
                              batch, device=device, vocab=rows)
    return {**choice, "measured": True}


def load_blocks(config: DistillConfig, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) token blocks (N, seq_len) for the config's dataset."""
    from distill_core.data.corpora import blocks_as_tensor, pack_blocks

    corpus = load_splits(config)
    train = blocks_as_tensor(pack_blocks(corpus["train"], tokenizer, config.seq_len))
    val = blocks_as_tensor(pack_blocks(corpus["validation"], tokenizer, config.seq_len))
    return train, val


def load_splits(config: DistillConfig):
    """The config's dataset as "train" and "validation" splits of text."""
    import datasets

    from distill_core.data.corpora import load_corpus

    datasets.disable_progress_bars()
    extra = ({"train_stories": config.train_docs or TINYTALES_STORIES, "validation_stories": 500}
             if config.dataset == "tinytales" else {"train_docs": config.train_docs})
    corpus = load_corpus(config.dataset, text_column=config.text_column,
                         config=config.dataset_config, split=config.dataset_split,
                         seed=config.seed, max_bytes=data_cap_bytes(config.runs_dir), **extra)
    return corpus


@dataclass
class Prepared:
    """What a run loads before training, reusable by runs that share teacher and data (a sweep).

    The teacher cache, when used, is opened on first use and kept here too.
    """

    teacher: torch.nn.Module
    tokenizer: object
    train_blocks: torch.Tensor
    val_blocks: torch.Tensor
    key: tuple
    caches: dict = field(default_factory=dict)
    speeds: dict = field(default_factory=dict)  # student shape -> speed figures, measured once
    val_text: dict = field(default_factory=dict)  # evaluate.text_size of val_blocks, once
    cross: CrossData | None = None  # tokenizers differ: the teacher's tokens and the groups

    @property
    def student_tokenizer(self):
        """The tokenizer of the blocks (the teacher's, unless the tokenizers differ)."""
        return self.tokenizer if self.cross is None else self.cross.student_tokenizer

    def val_text_size(self, teacher: bool = False) -> dict:
        """Bytes, characters and tokens the validation blocks' predicted tokens cover: the
        student's blocks, or with `teacher` the teacher's (other blocks only across tokenizers)."""
        if teacher and self.cross is not None:
            return self.val_text.setdefault("teacher", teacher_text_size(
                self.cross, self.tokenizer, len(self.val_blocks)))
        if "student" not in self.val_text:
            self.val_text["student"] = evaluate.text_size(self.student_tokenizer,
                                                          self.val_blocks)
        return self.val_text["student"]


def prepare(config: DistillConfig, reuse: Prepared | None = None) -> Prepared:
    """Load the teacher, tokenizer and token blocks for `config` (or reuse those of `reuse`)."""
    key = (config.teacher, config.dataset, config.text_column, config.dataset_config,
           config.dataset_split, config.train_docs, config.seq_len, config.seed)
    student_tok = models.load_tokenizer(config.student, config.teacher)
    key += (config.cross_tokenizer, len(student_tok), student_tok.name_or_path)
    if reuse is not None and reuse.key == key:
        return reuse
    teacher, tokenizer = models.load_teacher(config.teacher, limits=load_limits(config.runs_dir))
    check_context(teacher, config.seq_len, "teacher")
    kind = cross_kind(config, tokenizer, student_tok)
    if kind is None:
        return Prepared(teacher, tokenizer, *load_blocks(config, tokenizer), key)
    *blocks, cross = load_cross(config, load_splits(config), tokenizer, student_tok, kind,
                                models.context_length(teacher.config))
    return Prepared(teacher, tokenizer, *blocks, key, cross=cross)


def batch_order(n_blocks: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """(steps, batch_size) block indices: seeded epochs of random permutations."""
    g = torch.Generator().manual_seed(seed)
    need = steps * batch_size
    epochs = [torch.randperm(n_blocks, generator=g) for _ in range(-(-need // n_blocks))]
    return torch.cat(epochs)[:need].view(steps, batch_size)


def micro_batches(indices: torch.Tensor, world: int, rank: int, accum: int) -> list[torch.Tensor]:
    """This process's `accum` micro-batches of one global batch of block indices."""
    per_micro = len(indices) // (world * accum)
    mine = indices.view(accum, world, per_micro)[:, rank]  # (accum, per_micro)
    return list(mine)


def check_context(model, seq_len: int, role: str) -> None:
    limit = models.context_length(model.config)
    if limit and seq_len > limit:
        raise InputError(f"seq_len {seq_len} is longer than the {role}'s context of {limit} "
                         "tokens; choose a smaller seq_len")
