"""Argument checks for the kd functions, done once at their public boundary.

Each check raises `InputError` with a one-line message that says what to change. The β rule
(`check_beta`) is also what `DistillConfig` applies to its `loss` and `beta` fields, so a setting
the form accepts is one the loss accepts, with the same words when it is not.

Label and top-k id ranges are read from the tensors only where that costs no device sync: on the
CPU. On a GPU reading `bool(bad.any())` would stall every training step until the device catches
up, so there the range is not checked here: the ids come from the project's own tokenizer and
teacher cache, and an id out of range still fails loudly in the gather that reads it.
"""

from __future__ import annotations

import math
import numbers

import torch

from distill_core.errors import InputError

KINDS = ("forward_kl", "reverse_kl", "jsd", "tvd", "skew_kl")
# The loss's temperatures: far below 0.05 float32 logits / T overflow (1e-40 gives nan losses),
# and above 100 ordinary logits soften to all but uniform, so the teacher has little to teach.
TEMPERATURE_RANGE = (0.05, 100.0)

__all__ = ["KINDS", "TEMPERATURE_RANGE", "as_bool_mask", "check_alpha", "check_beta",
           "check_ignore_index", "check_kind", "check_labels", "check_logits", "check_pair",
           "check_positions", "check_temperature", "compute_dtype", "real", "values_checkable"]


def real(name: str, value) -> float:
    """`value` as a float; InputError unless it is a real number (bool is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number, got {value!r}")
    return float(value)


def check_temperature(temperature, limits: tuple[float, float] | None = None) -> float:
    """T as a float: within `limits` (the loss: TEMPERATURE_RANGE), or any finite T > 0 (the
    readouts soften, entropy, divergence, kl_between, which may show the far ends)."""
    t = real("temperature", temperature)
    if limits is not None and not limits[0] <= t <= limits[1]:  # NaN fails too
        raise InputError(f"temperature must be from {limits[0]:g} to {limits[1]:g}, "
                         f"got {temperature!r}")
    if not (math.isfinite(t) and t > 0):  # NaN fails both
        raise InputError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def check_alpha(alpha) -> float:
    a = real("alpha", alpha)
    if not 0.0 <= a <= 1.0:  # NaN fails too
        raise InputError(f"alpha must be in [0, 1], got {alpha!r}")
    return a


def check_kind(kind) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return kind


def check_beta(kind: str, beta) -> float | None:
    """β as a float for the kinds that use it (jsd: 0 < β < 1, skew_kl: 0 ≤ β < 1), else None
    (the other kinds ignore β)."""
    if kind not in ("jsd", "skew_kl"):
        return None
    b = real("beta", beta)
    if kind == "jsd" and not 0.0 < b < 1.0:
        raise InputError(f"beta must be strictly between 0 and 1 for jsd (got {b:g}): at beta=0 "
                         f"or 1 jsd is always zero (m equals one side); for those ends use "
                         f"forward_kl or reverse_kl")
    if kind == "skew_kl" and not 0.0 <= b < 1.0:
        raise InputError(f"beta must be at least 0 and below 1 for skew_kl (got {b:g}): at "
                         f"beta=1 skew_kl is always zero (beta=0 is forward_kl)")
    return b


def check_logits(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[-1] < 1:
        raise InputError(f"{name} needs a non-empty vocab (last) dimension, got shape "
                         f"{tuple(x.shape)}")


def check_pair(student: torch.Tensor, teacher: torch.Tensor) -> None:
    """Dense student and teacher logits that can be compared position by position."""
    if student.shape[:-1] != teacher.shape[:-1]:
        raise InputError(
            f"student_logits and teacher_logits must have the same shape up to the vocab dim, "
            f"got {tuple(student.shape)} vs {tuple(teacher.shape)}")
    if student.shape[-1] != teacher.shape[-1]:
        raise InputError(f"vocab sizes differ: student {student.shape[-1]} vs teacher "
                         f"{teacher.shape[-1]}")
    if student.device != teacher.device:
        raise InputError(f"student_logits and teacher_logits are on different devices: "
                         f"{student.device} vs {teacher.device}")


def check_positions(name: str, x, lead: torch.Size) -> None:
    """`x` (mask or labels) must be a tensor shaped like logits[..., 0]."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.shape != lead:
        raise InputError(f"{name} shape {tuple(x.shape)} must equal the logits shape without "
                         f"the vocab dim {tuple(lead)}")


def values_checkable(x: torch.Tensor) -> bool:
    """Whether reading x's values costs no device sync (see the module note)."""
    return x.device.type == "cpu"


def check_ignore_index(ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise InputError(f"ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


def check_labels(labels, lead: torch.Size, vocab: int, ignore_index: int) -> None:
    check_positions("labels", labels, lead)
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise InputError(f"labels must be an integer tensor of token ids, got dtype "
                         f"{labels.dtype}")
    if values_checkable(labels):
        bad = (labels != ignore_index) & ((labels < 0) | (labels >= vocab))
        if bool(bad.any()):
            raise InputError(f"labels must be token ids in [0, {vocab}) or "
                             f"ignore_index={ignore_index}")


def as_bool_mask(mask, lead: torch.Size, device: torch.device) -> torch.Tensor | None:
    """A mask (...) of bools or 0/1 as a bool tensor on `device` (None stays None)."""
    if mask is None:
        return None
    check_positions("mask", mask, lead)
    if mask.is_complex():
        raise InputError(f"mask must be a bool or 0/1 tensor, got dtype {mask.dtype}")
    return (mask != 0).to(device)


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float32, or wider where an input is (float64 stays float64)."""
    dtype = torch.float32
    for x in tensors:
        dtype = torch.promote_types(dtype, x.dtype)
    return dtype


def check_loss_settings(alpha, temperature, kind, beta, ignore_index):
    """(alpha, temperature, beta, ignore_index) checked as a loss takes them (T in
    TEMPERATURE_RANGE; beta None for the kinds that ignore it)."""
    return (check_alpha(alpha), check_temperature(temperature, TEMPERATURE_RANGE),
            check_beta(check_kind(kind), beta), check_ignore_index(ignore_index))

