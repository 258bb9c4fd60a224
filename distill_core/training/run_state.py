"""What one training run holds while it trains: set up once, then advanced step by step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from distill_core.config import DistillConfig
from distill_core.store.runs import Run


@dataclass
class RunState:
    config: DistillConfig
    acc: object  # the accelerate.Accelerator
    run: Run | None  # the run directory, or None (store=False, or not the main process)
    emit: Callable[[dict], None]
    stop: dict  # {"asked": bool}, set by the SIGTERM handler
    prepared: object  # loop.Prepared: the teacher, tokenizer and blocks, shared by a sweep
    source: object  # teacher_source.LiveTeacher | CachedTeacher
    vocab: int | None  # the real tokens, when teacher and student pad their rows differently
    students: dict  # "student" (and "baseline") -> model, wrapped by Accelerate
    optimizers: dict  # same keys -> AdamW
    val_blocks: torch.Tensor  # (N, T) the evaluation blocks
    order: torch.Tensor  # (steps, batch_size) training block indices
    started: float  # time.time() when the run began, setup included
    step: int = 0  # optimiser steps done
    tokens: int = 0  # training tokens seen, all processes together
    train_s: float = 0.0  # seconds spent in training steps (evaluation left out)
    t0: float = 0.0  # time.time() of step 0, so that elapsed = time.time() - t0
    history: list = field(default_factory=list)  # the logged records
    evals: dict = field(default_factory=dict)  # the last evaluation's record
    teacher_eval: dict = field(default_factory=dict)  # the teacher's loss, computed once
    precision_choice: dict | None = None  # loop.decide_precision's answer, with its timings
    generated_tokens: int = 0  # on_policy: tokens the student wrote itself, all processes
    generation_s: float = 0.0  # on_policy: seconds spent writing them (part of train_s)
    compiler: object = None  # compiling.Compiler: which students train compiled, at what cost

    @property
    def teacher(self):
        return self.prepared.teacher

    @property
    def tokenizer(self):
        return self.prepared.tokenizer

    @property
    def train_blocks(self) -> torch.Tensor:
        return self.prepared.train_blocks  # (N, T)

    @property
    def main(self) -> bool:
        return self.acc.is_main_process

    def student(self, key: str = "student"):
        """The plain model (Accelerate's wrapper removed)."""
        return self.acc.unwrap_model(self.students[key])
