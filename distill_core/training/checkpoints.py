"""Checkpoints a run can be resumed from: `<run>/checkpoint/`.

    student.safetensors (and baseline.safetensors)   the students' weights
    state.pt   optimiser moments, random state, step, token and time counters, last evaluation:
               tensors, numbers and dicts only, read back with torch.load(weights_only=True),
               which refuses anything that would run code

A new checkpoint is written beside the old one and then swapped in, so a crash while writing
keeps the previous checkpoint whole. Loading checks that the checkpoint holds exactly the
model's tensors, in the model's shapes, and refuses it (InputError, naming them) otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from distill_core.errors import InputError


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
    """Put the students, optimisers and random state back as they were at the checkpoint.

    Every tensor of each student must be in the checkpoint, and nothing else: a checkpoint of
    another model (or a damaged one) is refused with InputError, before any weight is changed."""
    from safetensors.torch import load_file

    folder = Path(folder)
    state = torch.load(folder / "state.pt", weights_only=True)
    weights = {key: load_file(str(folder / f"{key}.safetensors")) for key in students}
    for key, model in students.items():
        _require_same_tensors(acc.unwrap_model(model), weights[key], f"{folder}/{key}.safetensors")
    for key, model in students.items():
        acc.unwrap_model(model).load_state_dict(weights[key])
        optimizers[key].load_state_dict(state["optimizers"][key])
    torch.set_rng_state(state["rng"])
    return state


def _require_same_tensors(model, weights: dict, where: str) -> None:
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"tensor '{k}' is missing" for k in want if k not in weights]
    problems += [f"tensor '{k}' is not in the model" for k in weights if k not in want]
    problems += [f"tensor '{k}' has shape {tuple(weights[k].shape)}, the model's is {want[k]}"
                 for k in want if k in weights and tuple(weights[k].shape) != want[k]]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError(f"checkpoint {where} does not match the run's model: "
                         f"{'; '.join(problems[:3])}{more}; it cannot be resumed")
