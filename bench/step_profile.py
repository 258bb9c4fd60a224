"""Where a distillation step's time goes, on the built-in pair, measured part by part.

    python bench/step_profile.py

One step of the default loop (batch 16 x 128, bf16 autocast where `precision=auto` picks it,
alpha 1, T 1, forward KL), split into: the teacher's forward pass to its last hidden states
(live mode only), the student's forward pass to its last hidden states, the fused KD loss
(kd.fused: output projections, logits made chunk by chunk, divergence and their gradients) and
its backward, the student's backward below its last hidden states, and the AdamW step. Each
part is timed on its own (median of repeats), and the matrix-multiply share of the whole step
comes from torch.profiler. The last line gives the shares in percent.
"""

from __future__ import annotations

import statistics
import time

import torch

from distill_core import models
from distill_core.cli import quiet_libraries
from distill_core.config import DistillConfig
from distill_core.kd.fused import Head, fused_kd_loss
from distill_core.training.loop import load_blocks, mixed_precision
from distill_core.training.precision import choose_precision

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::_scaled_dot_product")


def timed(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    quiet_libraries()
    config = DistillConfig(alpha=1.0, temperature=1.0)
    teacher, tokenizer = models.load_teacher(config.teacher)
    student = models.load_student(config.student, teacher, seed=0)
    train, _ = load_blocks(config.replace(train_docs=2000), tokenizer)
    x = train[:16, :128]
    precision = choose_precision(student, teacher, x, device=torch.device("cpu"))["precision"]
    bf16 = mixed_precision(precision) == "bf16"  # as precision=auto decides it here
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    with torch.inference_mode(), autocast():
        t_head = models.teacher_head(teacher, x)
    t_head = t_head._replace(hidden=t_head.hidden.clone())  # out of inference mode

    def teacher_forward():
        with torch.inference_mode(), autocast():
            models.teacher_head(teacher, x)

    def student_forward():
        with torch.no_grad(), autocast():
            models.student_head(student, student, x)

    def loss_only():  # the fused loss and its backward, from fixed hidden states
        with autocast():
            s = models.student_head(student, student, x)
        s = Head(s.hidden.detach().requires_grad_(True), s.weight, s.bias)
        start = time.perf_counter()
        with autocast():
            total, _ = fused_kd_loss(s, t_head, x[:, 1:], alpha=1.0, temperature=1.0)
        total.backward()
        return time.perf_counter() - start

    def full_step():
        with autocast():
            s = models.student_head(student, student, x)
            total, _ = fused_kd_loss(s, t_head, x[:, 1:], alpha=1.0, temperature=1.0)
        total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def optimizer_step():
        for p in student.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)

    parts = {"teacher forward": timed(teacher_forward),
             "student forward": timed(student_forward)}
    parts["fused KD loss + backward"] = statistics.median(loss_only() for _ in range(7))
    parts["AdamW step"] = timed(optimizer_step)
    step = timed(full_step)  # student forward + loss + backward + AdamW, teacher not included
    parts["student backward"] = max(0.0, step - parts["student forward"]
                                    - parts["fused KD loss + backward"] - parts["AdamW step"])
    total = step + parts["teacher forward"]

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        teacher_forward()
        full_step()
    events = prof.key_averages()
    all_us = sum(e.self_cpu_time_total for e in events)
    mm_us = sum(e.self_cpu_time_total for e in events if e.key.startswith(MATMUL_OPS))

    print(f"one live step, batch 16 x 128, {'bf16' if bf16 else 'fp32'}: {1000 * total:.0f} ms")
    for name, seconds in parts.items():
        print(f"  {name:26} {1000 * seconds:7.1f} ms  {100 * seconds / total:5.1f} %")
    print(f"matrix multiplies (incl. attention): {100 * mm_us / all_us:.0f} % of the step's "
          "operator time (torch.profiler)")
    print("shares: " + ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in parts.items())
          + f", matmul {100 * mm_us / all_us:.0f} %")


if __name__ == "__main__":
    main()
