"""A model's output head as the fused loss takes it (`kd.fused.Head`): the last hidden states
and the output projection, so that its logits (B, T, V) are never made in full.

    reason = unfused_reason(model)                     # None, or why the logits are made in full
    head = student_head(forward, model, x, vocab)      # through the student's training forward
                                                       # (its logits if its head does not fuse)
    head = teacher_head(teacher, x, vocab)             # the teacher's, from its base model

A head fuses when its logits are a linear map of the last hidden states: the output embedding
is an nn.Linear (weight (V, H), a bias or not, tied to the input embedding or not) and the
config asks for no soft-capping or scaling of the logits (Gemma 2's final_logit_softcapping,
Cohere's logit_scale, Granite's logits_scaling, ...). Any other head keeps the logits path.

The student's hidden states come from its own forward, so that Accelerate's wrapper (gradient
sync) and the compiled twin apply as before: with output_hidden_states and logits_to_keep=1 the
head makes one position's logits only, and the last hidden state (in transformers 5, the final
norm's output: what the head reads) comes back. The teacher, under inference mode, runs only its
base model (get_decoder()), which returns the last hidden state and keeps no per-layer list.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from distill_core.kd.fused import Head
from distill_core.models.loading import next_token_logits

__all__ = ["LOGIT_TRANSFORMS", "student_head", "teacher_head", "unfused_reason"]

# Config fields that change the logits after the projection, and the value that leaves them be.
LOGIT_TRANSFORMS = {"final_logit_softcapping": None, "logit_softcapping": None,
                    "logit_scale": 1.0, "logits_scaling": 1.0, "output_multiplier": 1.0}


def unfused_reason(model) -> str | None:
    """None when `model`'s logits are hidden @ weight.T + bias and both can be had without
    them; else the reason, in a few words."""
    head = model.get_output_embeddings()
    if not isinstance(head, nn.Linear):
        return f"its output head is a {type(head).__name__}, not a linear map"
    configs = [model.config, getattr(model.config, "text_config", None)]
    for config in (c for c in configs if c is not None):
        for key, plain in LOGIT_TRANSFORMS.items():
            value = getattr(config, key, None)
            if value is not None and value != plain and not (plain is None and value == 0):
                return f"its config sets {key} = {value} (the logits are not the head's output)"
    if "logits_to_keep" not in inspect.signature(model.forward).parameters:
        return f"{type(model).__name__}.forward takes no logits_to_keep"
    if _base(model) is None:
        return "it has no base model (get_decoder) to give its last hidden states"
    return None


def _base(model):
    base = model.get_decoder() if hasattr(model, "get_decoder") else None
    return base if isinstance(base, nn.Module) and base is not model else None


def _projection(model, vocab: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight (V, H), bias (V,) or None), cut to the first `vocab` rows when given."""
    head = model.get_output_embeddings()
    weight, bias = head.weight, head.bias
    if vocab:
        weight, bias = weight[:vocab], None if bias is None else bias[:vocab]
    return weight, bias


def student_head(forward, model, input_ids: torch.Tensor,
                 vocab: int | None = None) -> Head | torch.Tensor:
    """The Head at every position that has a next token: hidden (B, T-1, H), from `forward`
    (the training module: the model itself, its Accelerate wrapper or compiled twin); `model`
    is the plain model, whose projection it shares. For a head that does not fuse
    (`unfused_reason`), the logits (B, T-1, V) instead."""
    if unfused_reason(model) is not None:
        return next_token_logits(forward, input_ids, vocab)
    out = forward(input_ids=input_ids, output_hidden_states=True, logits_to_keep=1,
                  use_cache=False)
    hidden = out.hidden_states[-1][:, :-1]  # (B, T-1, H) after the final norm
    return Head(hidden, *_projection(model, vocab))


def teacher_head(model, input_ids: torch.Tensor, vocab: int | None = None) -> Head:
    """`student_head` for a model run without grad, from its base model alone."""
    hidden = _base(model)(input_ids=input_ids, use_cache=False).last_hidden_state[:, :-1]
    return Head(hidden, *_projection(model, vocab))
