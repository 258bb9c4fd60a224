"""Checkpoints a run can be resumed from: `<run>/checkpoint/`.

    student.safetensors (and baseline.safetensors)   the students' weights
    state.pt   optimiser moments, random state, step, token and time counters, last evaluation:
               tensors, numbers and dicts only, read back with torch.load(weights_only=True),
               which refuses anything that would run code

A new checkpoint is written beside the old one and then swapped in, so a crash while writing
keeps the previous checkpoint whole.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch


def save_checkpoint(folder: Path, acc, students, optimizers, step, tokens, train_s, elapsed_s,
                    evals, teacher_eval) -> None:
    """Everything needed to go on from `step`: the students' weights (safetensors), optimiser
    moments and the random state (tensors and numbers only, read back with weights_only=True).
    Written beside the old checkpoint, then swapped in, so a crash mid-write keeps the old one."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for key, model in students.items():
        weights = {k: v.detach().contiguous().clone()
                   for k, v in acc.unwrap_model(model).state_dict().items()}
        save_file(weights, str(tmp / f"{key}.safetensors"))
    torch.save({"optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "rng": torch.get_rng_state(), "step": step, "tokens": tokens, "train_s": train_s,
                "elapsed_s": elapsed_s, "evals": evals, "teacher_eval": teacher_eval},
               tmp / "state.pt")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, acc, students, optimizers) -> dict:
    from safetensors.torch import load_file

    folder = Path(folder)
    state = torch.load(folder / "state.pt", weights_only=True)
    for key, model in students.items():
        acc.unwrap_model(model).load_state_dict(load_file(str(folder / f"{key}.safetensors")),
                                                strict=False)
        optimizers[key].load_state_dict(state["optimizers"][key])
    torch.set_rng_state(state["rng"])
    return state
