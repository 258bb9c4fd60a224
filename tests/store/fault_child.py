"""The training process of the fault-injection test (test_fault_injection.py): it trains one
run and SIGKILLs itself at the k-th event of one phase, or resumes a run with no kill.

Imported once by the test's forkserver (with torch and the training loop), so each of the
many short processes starts in milliseconds instead of re-importing torch.

Events, counted in this process only:
  train       each optimiser step (torch's global optimizer-step hook), killed before it runs;
  eval        each module forward called from training/evaluate.py;
  checkpoint  each torch.save or os.replace of a path under the run's checkpoint folders;
  finish      after the last optimiser step: each file opened for writing, os.replace,
              shutil.rmtree (the students, summary, status, the checkpoint's removal).
"""

from __future__ import annotations

import builtins
import functools
import os
import shutil
import signal
import sys

import datasets  # noqa: F401  (imported here, once, by the forkserver: not by each run)
import torch
import transformers.models.gpt2.modeling_gpt2  # noqa: F401  (the same)
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from distill_core.config import DistillConfig
from distill_core.store.runs import Run
from distill_core.training import loop, speed

PHASES = ("train", "eval", "checkpoint", "finish")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _in_evaluation() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(os.path.join("training", "evaluate.py")):
            return True
        frame = frame.f_back
    return False


def install(phase: str, k: int, steps: int) -> None:
    """SIGKILL this process at the k-th event of `phase` (see the module's docstring)."""
    seen = {"events": 0, "steps": 0}

    def event() -> None:
        seen["events"] += 1
        if seen["events"] == k:
            _die()

    def on_step(optimizer, args, kwargs):
        seen["steps"] += 1
        if phase == "train":
            event()

    register_optimizer_step_pre_hook(on_step)
    finishing = lambda: seen["steps"] >= steps  # noqa: E731 (both students stepped)
    if phase == "eval":
        register_module_forward_pre_hook(
            lambda module, args: event() if _in_evaluation() else None)
    wrap = {"checkpoint": lambda path: "checkpoint" in str(path),
            "finish": lambda path: finishing()}.get(phase)
    if wrap is None:
        return
    real_replace, real_save, real_rmtree, real_open = os.replace, torch.save, shutil.rmtree, \
        builtins.open

    def replace(src, dst, *a, **kw):
        if wrap(dst) or wrap(src):
            event()
        return real_replace(src, dst, *a, **kw)

    def save(obj, f, *a, **kw):
        if wrap(f):
            event()
        return real_save(obj, f, *a, **kw)

    def rmtree(path, *a, **kw):
        if phase == "finish" and wrap(path):
            event()
        return real_rmtree(path, *a, **kw)

    def open_(file, mode="r", *a, **kw):
        if phase == "finish" and any(c in mode for c in "wax") and wrap(file):
            event()
        return real_open(file, mode, *a, **kw)

    os.replace, torch.save, shutil.rmtree, builtins.open = replace, save, rmtree, open_


def train(root: str, run_id: str, phase: str | None = None, k: int = 0) -> None:
    """Train run `run_id` (or resume it when `phase` is None and it has a status to resume)."""
    run = Run(root, run_id)
    config = DistillConfig.from_dict(run.config())
    if phase is None:
        loop.resume_run(run)
        return
    install(phase, k, config.steps)
    loop.distill(config, run=run)


# The speed figures (not among the numbers compared) timed once or twice rather than until they
# settle: they are most of a tiny run's time.
speed.generation_latencies = functools.partial(speed.generation_latencies, repeats=1)
speed.forward_speedup = functools.partial(speed.forward_speedup, min_repeats=2, max_repeats=2,
                                          warmup=1)
