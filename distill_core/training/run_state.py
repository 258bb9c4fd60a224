"""What one training run holds while it trains: set up once, then advanced step by step; its
checkpoint is this state as one dictionary (`checkpoint()`, and `restore()` to go on from one)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from distill_core.config import DistillConfig
from distill_core.store.runs import Run
from distill_core.training.checkpoints import restore_rng, rng_states
from distill_core.training.compiling import Compiler
from distill_core.training.hidden_states import HiddenStates
from distill_core.training.prepared import Prepared
from distill_core.training.teacher_source import CachedTeacher, LiveTeacher

if TYPE_CHECKING:  # accelerate is imported when a run starts, not with this module
    from accelerate import Accelerator


def failure_line(err: BaseException) -> str:
    """A failed run's one-line error, with what to change when it ran out of memory."""
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, MemoryError) or "allocate memory" in message:
        message = f"out of memory ({message}): lower batch_size or seq_len, or raise grad_accum"
    return f"{type(err).__name__}: {message}"


@dataclass
class StopRequest:
    """Set by the run's SIGTERM handler; the loop stops (keeping a checkpoint) before its next
    step."""

    asked: bool = False


@dataclass
class RunState:
    config: DistillConfig
    acc: Accelerator
    run: Run | None  # the run directory, or None (store=False, or not the main process)
    emit: Callable[[dict], None]
    stop: StopRequest
    prepared: Prepared  # the teacher, tokenizer and blocks, shared by a sweep
    source: LiveTeacher | CachedTeacher
    vocab: int | None  # the real tokens, when teacher and student pad their rows differently
    students: dict[str, torch.nn.Module]  # "student" (and "baseline"), wrapped by Accelerate
    optimizers: dict[str, torch.optim.Optimizer]  # same keys -> AdamW
    val_blocks: torch.Tensor  # (N, T) the evaluation blocks
    order: torch.Tensor  # (steps, batch_size) training block indices
    started: float  # time.time() when the run began, setup included
    compiler: Compiler  # which students train compiled, at what cost
    step: int = 0  # optimiser steps done
    tokens: int = 0  # training tokens seen, all processes together
    train_s: float = 0.0  # seconds spent in training steps (evaluation left out)
    t0: float = 0.0  # time.time() of step 0, so that elapsed = time.time() - t0
    history: list[dict] = field(default_factory=list)  # the logged records
    evals: dict = field(default_factory=dict)  # the last evaluation's record
    teacher_eval: dict = field(default_factory=dict)  # the teacher's loss, computed once
    precision_choice: dict | None = None  # loop.decide_precision's answer, with its timings
    generated_tokens: int = 0  # on_policy: tokens the student wrote itself, all processes
    generation_s: float = 0.0  # on_policy: seconds spent writing them (part of train_s)
    hidden: HiddenStates | None = None  # hidden_weight > 0: the pairs, projection and hooks
    shared: dict[str, dict] = field(default_factory=dict)  # key -> steps done, shared by runs
    key_seconds: dict[str, float] = field(default_factory=dict)  # key -> its steps' seconds
    equal_compute: dict = field(default_factory=dict)  # the baseline at the student's compute

    @property
    def teacher(self) -> torch.nn.Module:
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

    @property
    def precision(self) -> str:
        """The number format it trains in: "fp32" or "bf16"."""
        return "fp32" if self.acc.mixed_precision == "no" else str(self.acc.mixed_precision)

    def student(self, key: str = "student") -> torch.nn.Module:
        """The plain model (Accelerate's wrapper removed)."""
        return self.acc.unwrap_model(self.students[key])

    def trained_parameters(self, key: str = "student") -> list[torch.nn.Parameter]:
        """What student `key`'s optimiser trains: its parameters, and the hidden-state
        projection's with the distilled student's."""
        extra = self.hidden.parameters() if self.hidden is not None and key == "student" else []
        return [*self.students[key].parameters(), *extra]

    def shared_step(self, key: str, step: int, compute: Callable[[], tuple]) -> tuple:
        """Student `key`'s step `step` as `compute()` gives it, or, for a student several runs
        share (a baseline trained once for runs side by side, side_by_side.py), as the first of
        them to ask computed it; a failure is each one's."""
        if key not in self.shared:
            return compute()
        done = self.shared[key]  # step -> its (loss, kd, ce) or the exception it raised
        if step not in done:
            try:
                done[step] = compute()
            except Exception as err:
                done[step] = err
        if isinstance(done[step], Exception):
            raise done[step]
        return done[step]

    def not_finite(self, key: str, loss: float, step: int, lr: float, alpha: float) -> str:
        """The one line that stops a run whose loss is nan or inf, naming the settings."""
        config = self.config
        settings = [f"temperature={config.temperature:g}", f"alpha={alpha:g}"] if alpha > 0 \
            else []
        settings += [f"lr={lr:.3g} (peak {config.lr:g})", f"precision={self.precision}"]
        advice = ["a lower lr"] + (["a temperature nearer 1"] if alpha > 0 else []) \
            + (["precision fp32"] if self.precision != "fp32" else [])
        return (f"{key} loss became {loss} at step {step + 1} with {', '.join(settings)}; "
                f"try {' or '.join(advice)}")

    def checkpoint(self) -> dict:
        """Everything needed to go on from `step`, as one dict (checkpoints.save_checkpoint)."""
        return {"students": {k: self.student(k).state_dict() for k in self.students},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "rng": rng_states(), "step": self.step, "tokens": self.tokens,
                "train_s": self.train_s, "elapsed_s": time.time() - self.t0,
                "key_seconds": dict(self.key_seconds),
                "evals": self.evals, "teacher_eval": self.teacher_eval,
                **({"projection": self.hidden.module.state_dict()}
                   if self.hidden is not None and self.hidden.module is not None else {})}

    def restore(self, checkpoint: dict) -> None:
        """Put the students, optimisers, random states and counters back as they were at
        `checkpoint` (checkpoints.load_checkpoint, which has checked it fits)."""
        for key in self.students:
            self.student(key).load_state_dict(checkpoint["students"][key])
            self.optimizers[key].load_state_dict(checkpoint["optimizers"][key])
        if "projection" in checkpoint:
            self.hidden.module.load_state_dict(checkpoint["projection"])
        restore_rng(checkpoint["rng"])
        self.step, self.tokens = checkpoint["step"], checkpoint["tokens"]
        self.train_s = checkpoint["train_s"]
        self.key_seconds = dict(checkpoint.get("key_seconds", {}))
        self.t0 = time.time() - checkpoint["elapsed_s"]
        self.evals, self.teacher_eval = checkpoint["evals"], checkpoint["teacher_eval"]
