"""What a distillation run will cost before it starts: memory (computed) and time (measured).

Memory, in MB (10^6 bytes), for one training step with B sequences of T tokens:

    teacher weights      teacher_params · bytes                  (frozen: no grads, no optimiser)
    student states       4 · student_params · bytes              (weights, grads, 2 AdamW moments)
    activations          B · T · layers · (16 · width + 2 · heads · T) · bytes
                         the values each student block keeps for backward (≈ 16 per width unit
                         per token: layer norms, q/k/v, attention output, the 4×-wide MLP) plus
                         the attention scores and probabilities (heads · T per token, twice);
                         the teacher runs without grad, so its activations are not kept
    logits               2 · B · T · V · bytes                   (teacher's and student's)

It is an estimate: framework workspace, the loss's temporaries and the allocator's slack come on
top. Time is not estimated from a formula: `time_per_step` runs a few real steps.
"""

from __future__ import annotations

import statistics
import time

import torch

from distill_core.kd.losses import kd_loss
from distill_core.model_mode import train_mode
from distill_core.models.loading import describe, next_token_logits, size_on_disk
from distill_core.models.specs import context_length, model_folder, resolve

__all__ = ["model_facts", "time_per_step", "training_memory_mb"]

ACTIVATION_VALUES_PER_WIDTH = 16  # values kept for backward per token, layer and width unit


def training_memory_mb(teacher_params: int, student_params: int, batch_size: int, seq_len: int,
                       vocab: int, n_layer: int, width: int, bytes_per: int = 4, *,
                       n_head: int = 0) -> dict:
    """The parts of one training step's memory and their total, in MB (see the module doc).

    `n_layer`, `width`, `n_head` are the student's; n_head = 0 leaves the attention-score term
    out. bytes_per: 4 for fp32, 2 for bf16.
    """
    mb = bytes_per / 1e6
    tokens = batch_size * seq_len
    parts = {
        "teacher_weights": teacher_params * mb,
        "student_states": 4 * student_params * mb,
        "activations": tokens * n_layer * (ACTIVATION_VALUES_PER_WIDTH * width
                                           + 2 * n_head * seq_len) * mb,
        "logits": 2 * tokens * vocab * mb,
    }
    parts["total"] = sum(parts.values())
    return parts


def time_per_step(teacher, student, batch_size: int = 4, seq_len: int = 64, *,
                  scale_to: tuple[int, int] | None = None, seed: int = 0) -> float:
    """Seconds for one distillation step, measured on this machine with a quick timing.

    A step is the teacher's forward pass (no grad) plus the student's forward and backward
    through `kd_loss` on batch_size × seq_len random tokens: 1 warm-up, then the median of 2
    timed steps. No optimiser update runs and the student's weights are left unchanged (its
    grads are cleared). `scale_to=(B, T)` scales the time linearly in tokens to a B × T batch
    (attention grows faster than linearly with T, so long sequences take somewhat longer).
    """
    limits = [c for c in (context_length(teacher.config), context_length(student.config)) if c]
    seq_len = min([seq_len, *limits])
    vocab = min(teacher.get_output_embeddings().weight.shape[0],
                student.get_output_embeddings().weight.shape[0])
    x = torch.randint(0, vocab, (batch_size, seq_len),
                      generator=torch.Generator().manual_seed(seed))  # (B, T)

    def step() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            t_logits = next_token_logits(teacher, x, vocab)  # (B, T-1, V)
        s_logits = next_token_logits(student, x, vocab)  # (B, T-1, V)
        loss, _ = kd_loss(s_logits, t_logits, x[:, 1:], alpha=0.5, temperature=2.0)
        loss.backward()
        return time.perf_counter() - start

    try:
        with train_mode(student):
            step()  # warm-up
            seconds = statistics.median(step() for _ in range(2))
    finally:
        for p in student.parameters():
            p.grad = None
    if scale_to is not None:
        seconds *= (scale_to[0] * scale_to[1]) / (batch_size * seq_len)
    return seconds


def model_facts(spec: str, model) -> dict:
    """`describe(model)` plus disk_mb: the safetensors bytes (in MB) of its folder, where one
    exists (built-in, local, or in the Hugging Face cache); None for a preset not saved yet."""
    facts = describe(model)
    folder = model_folder(resolve(spec))
    facts["disk_mb"] = size_on_disk(folder) / 1e6 if folder else None
    return facts
