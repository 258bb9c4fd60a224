"""The fused head never holds the (B·T, V) logits: torch's profiler records every allocation of
one forward + backward (the method of bench/loss_memory.py)."""

import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from distill_core.kd.fused import Head, fused_kd_loss
from distill_core.kd.losses import kd_loss, top_k

B, T, H, V, ROWS = 8, 128, 48, 8_192, 64
FULL = B * T * V * 4  # bytes of the float32 logits (B·T, V): 33.5 MB
CHUNK = ROWS * V * 4  # one chunk's (N, V) buffer: 2.1 MB


def _allocations(step, folder) -> tuple[list[int], int]:
    """(the size of every allocation, the peak of the running total above its start)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    prof.export_chrome_trace(str(folder / "trace.json"))
    events = json.loads((folder / "trace.json").read_text())["traceEvents"]
    memory = sorted(((e["ts"], e["args"]) for e in events if e.get("name") == "[memory]"),
                    key=lambda event: event[0])
    start = memory[0][1]["Total Allocated"] - memory[0][1]["Bytes"]
    sizes = [args["Bytes"] for _, args in memory if args["Bytes"] > 0]
    return sizes, max(args["Total Allocated"] for _, args in memory) - start


def _inputs(teacher_kind: str):
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(B, T, H, generator=g).requires_grad_()
    weight = (torch.randn(V, H, generator=g) * 0.3).requires_grad_()
    t_hidden, t_weight = torch.randn(B, T, H, generator=g), torch.randn(V, H, generator=g) * 0.3
    labels = torch.randint(0, V, (B, T), generator=g)
    if teacher_kind == "head":
        teacher = Head(t_hidden, t_weight)
    else:
        teacher = top_k(t_hidden @ t_weight.T, 16)
    return Head(hidden, weight), teacher, labels


@pytest.mark.parametrize("teacher_kind", ["head", "top_k"])
def test_fused_loss_holds_one_chunk_of_logits_at_a_time(teacher_kind, tmp_path):
    student, teacher, labels = _inputs(teacher_kind)

    def step():
        total, _ = fused_kd_loss(student, teacher, labels, alpha=0.5, temperature=2.0,
                                 chunk_size=ROWS)
        total.backward()

    sizes, peak = _allocations(step, tmp_path)
    grads = sum(x.grad.numel() * 4 for x in (student.hidden, student.weight))
    assert max(sizes) <= CHUNK  # no buffer bigger than one chunk's logits
    assert peak - grads <= 10 * CHUNK < FULL  # about six chunk buffers: ~13 MB, not 33.5 MB
    # the logits path, measured the same way, does hold them (so the test can fail)
    student.hidden.grad = student.weight.grad = None
    logits_teacher = teacher if teacher_kind == "top_k" else teacher.hidden @ teacher.weight.T

    def logits_step():
        total, _ = kd_loss(student.hidden @ student.weight.T, logits_teacher, labels, alpha=0.5,
                           temperature=2.0, chunk_size=ROWS)
        total.backward()

    sizes, peak = _allocations(logits_step, tmp_path)
    assert max(sizes) >= FULL
