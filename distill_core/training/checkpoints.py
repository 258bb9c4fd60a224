"""Checkpoints a run can be resumed from: `<run>/checkpoint/`.

A checkpoint is one dictionary, built by `RunState.checkpoint()` and written by
`save_checkpoint(folder, checkpoint)`, the way nanoGPT writes its `ckpt.pt`:

    {"students":   {"student": state_dict, "baseline": state_dict},   -> <key>.safetensors
     "optimizers": {"student": AdamW state_dict, ...},                -> state.pt, with the rest:
     "rng":        {"cpu": tensor, "cuda": [tensor per device], "mps": tensor (on a Mac)},
     "step", "tokens", "train_s", "elapsed_s": numbers,
     "evals", "teacher_eval": the last evaluation's record, the teacher's loss,
     "projection": the hidden-state projection's state_dict (hidden_weight > 0 across widths
                   only)                                             -> projection.safetensors}

state.pt holds tensors, numbers and dicts only and is read back with
torch.load(weights_only=True), which refuses anything that would run code.

A new checkpoint is written beside the old one and then swapped in, so a crash while writing
keeps the previous checkpoint whole. Loading checks that the checkpoint holds exactly the
models' tensors, in the models' shapes, and refuses it (InputError, naming them) otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from distill_core.errors import InputError

PROJECTION = "projection"  # the checkpoint's key (and file name) for the hidden-state projection

__all__ = ["drop_checkpoint", "load_checkpoint", "recover_checkpoint", "restore_rng", "rng_states",
           "save_checkpoint"]


def save_checkpoint(folder: Path, checkpoint: dict) -> None:
    """Write `checkpoint` (see the module's docstring) to `folder`: the students' weights as
    safetensors, everything else as state.pt. Written beside the old checkpoint, then swapped
    in, so a crash mid-write keeps the old one."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = {**checkpoint["students"], **({PROJECTION: checkpoint[PROJECTION]}
                                           if PROJECTION in checkpoint else {})}
    for key, weights in files.items():
        # clones: tied tensors (GPT-2's embedding and output) share storage, which
        # safetensors refuses
        save_file({k: v.detach().contiguous().clone() for k, v in weights.items()},
                  str(tmp / f"{key}.safetensors"))
    torch.save({k: v for k, v in checkpoint.items() if k not in ("students", PROJECTION)},
               tmp / "state.pt")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def recover_checkpoint(folder: Path) -> None:
    """Finish a swap that a kill interrupted between its two renames: with no `folder` but
    the previous checkpoint moved aside (`.old`), the new one (`.tmp`) was complete, so it is
    put in place (else the previous one is)."""
    folder = Path(folder)
    old, tmp = (folder.with_name(folder.name + suffix) for suffix in (".old", ".tmp"))
    if folder.exists() or not old.exists():
        return
    os.replace(tmp if (tmp / "state.pt").is_file() else old, folder)


def load_checkpoint(folder: Path, *, models: dict, projection=None) -> dict:
    """The checkpoint in `folder`, as `save_checkpoint` was given it, for `models` (key -> the
    plain model it must fit) and the run's hidden-state `projection` (None: the run has none).
    Nothing is loaded into the models here (RunState.restore does).

    Every tensor of each model must be in the checkpoint, and nothing else: a checkpoint of
    another model (or a damaged one) is refused with InputError."""
    folder = Path(folder)
    checkpoint = torch.load(folder / "state.pt", weights_only=True)
    checkpoint["students"] = {key: load_file(str(folder / f"{key}.safetensors"))
                              for key in models}
    for key, model in models.items():
        _require_same_tensors(model, checkpoint["students"][key], f"{folder}/{key}.safetensors")
    if projection is not None:
        path = folder / f"{PROJECTION}.safetensors"
        if not path.is_file():
            raise InputError(f"checkpoint {folder} has no hidden-state projection "
                             f"({path.name}); it cannot be resumed")
        checkpoint[PROJECTION] = load_file(str(path))
        _require_same_tensors(projection, checkpoint[PROJECTION], str(path))
    return checkpoint


def drop_checkpoint(folder: Path) -> None:
    """Remove a finished run's checkpoint (and any half-written or replaced one beside it)."""
    folder = Path(folder)
    for path in (folder, folder.with_name(folder.name + ".tmp"),
                 folder.with_name(folder.name + ".old")):
        shutil.rmtree(path, ignore_errors=True)


def rng_states() -> dict:
    """Every device's random state: the CPU's, each CUDA device's (an empty list without CUDA)
    and, on a Mac, the MPS device's."""
    states = {"cpu": torch.get_rng_state(),
              "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    if torch.backends.mps.is_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


def restore_rng(states) -> None:
    """Put back the random states of `rng_states()`, for the devices this machine has (a CUDA
    state is left alone without CUDA). Older checkpoints kept the CPU's state alone, a tensor."""
    if isinstance(states, torch.Tensor):
        states = {"cpu": states}
    torch.set_rng_state(states["cpu"])
    if states.get("cuda") and torch.cuda.is_available():
        for device, state in enumerate(states["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)
    if "mps" in states and torch.backends.mps.is_available():
        torch.mps.set_rng_state(states["mps"])


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
