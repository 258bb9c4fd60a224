"""Evaluation: how good a causal language model is on token blocks (all numbers in nats)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


@torch.inference_mode()
def mean_loss(model, blocks: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy (nats/token) of `model` over `blocks` (N, T)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for i in range(0, len(blocks), batch_size):
        x = blocks[i:i + batch_size].to(device)  # (B, T)
        logits = model(input_ids=x).logits[:, :-1].float()  # (B, T-1, V)
        targets = x[:, 1:]
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                 reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return total / count


def perplexity(model, blocks: torch.Tensor, batch_size: int = 16) -> float:
    """exp(mean next-token loss) over `blocks`."""
    return math.exp(mean_loss(model, blocks, batch_size))
