"""Throughput in the units that compare across machines: model FLOPs utilisation (MFU).

    flops per trained token = 6 · N_student  (+ 2 · N_teacher when the teacher runs live)
    MFU = flops per token × tokens/s ÷ peak

N counts the parameters that take part in matrix multiplies (all of them except lookup-only
embedding tables: position embeddings, and the token embeddings when they are not tied to the
output layer). Attention-score FLOPs are left out, as in the usual 6N rule. The peak is not a
data-sheet number: `matmul_peak` times large matrix multiplies in this process, on the device
the run trains on (the GPU, when it trains on one), in the precision the run trains in.
"""

from __future__ import annotations

import functools
import time

import torch

__all__ = ["flops_per_token", "matmul_params", "matmul_peak", "mfu"]


def matmul_params(model) -> int:
    """Parameters used in matrix multiplies (see the module doc)."""
    total = sum(p.numel() for p in model.parameters())
    lookups = 0
    emb, out = model.get_input_embeddings(), model.get_output_embeddings()
    if out is None or emb.weight.data_ptr() != out.weight.data_ptr():
        lookups += emb.weight.numel()
    for name, p in model.named_parameters():
        if any(part in name for part in ("wpe", "position_embeddings", "embed_positions")):
            lookups += p.numel()
    return total - lookups


def flops_per_token(student_params: int, teacher_params: int, teacher_live: bool,
                    students: int = 1) -> int:
    """Training FLOPs per token: forward + backward of each student, forward of a live teacher."""
    return 6 * student_params * students + (2 * teacher_params if teacher_live else 0)


def matmul_peak(dtype: str = "fp32", size: int | None = None, seconds: float = 0.5,
                device="cpu") -> float:
    """FLOP/s of repeated size × size matrix multiplies ("fp32" or "bf16") on `device`, the one
    the run trains on, best of runs; measured once per process for each setting. `size` is 1024
    on the CPU and 4096 on an accelerator, whose peak small matrices do not reach."""
    device = torch.device(device)
    size = size or (1024 if device.type == "cpu" else 4096)
    return _timed_peak(dtype, size, seconds, str(device))


@functools.lru_cache(maxsize=8)
def _timed_peak(dtype: str, size: int, seconds: float, device: str) -> float:
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(size, size, dtype=torch_dtype, device=device)
    b = torch.randn(size, size, dtype=torch_dtype, device=device)
    a @ b  # warm-up
    _synchronize(a.device)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        _synchronize(a.device)  # an accelerator runs them asynchronously: wait for the result
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start))
    return best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def mfu(tokens_per_s: float, flops_token: int, precision: str, device="cpu") -> float:
    """Fraction of the measured matmul peak of `device` (where the run trained) it achieved."""
    dtype = "bf16" if precision == "bf16" else "fp32"
    return tokens_per_s * flops_token / matmul_peak(dtype, device=device)
