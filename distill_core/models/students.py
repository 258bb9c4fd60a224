"""Students made from a teacher: fewer layers, a narrower width, random or copied weights."""

from __future__ import annotations

import copy
import re

import torch

from distill_core.errors import InputError

def _layers_key(name: str):
    """('h', 3) for 'transformer.h.3.attn…' style names; None for non-layer weights."""
    m = re.search(r"\.(h|layers|layer|blocks)\.(\d+)\.", name)
    return (m.group(1), int(m.group(2)), m.span(2)) if m else None


def make_student(teacher, *, n_layer=None, n_embd=None, n_head=None, init="random", seed=0):
    """A smaller model of the teacher's architecture.

    `n_layer`, `n_embd` (width) and `n_head` default to the teacher's (n_layer to half of it).
    init="random": fresh weights (seeded). init="teacher_layers": embeddings, final norm and head
    copied from the teacher, layer i from teacher layer i * L_teacher // L_student (every other
    layer when halving, as DistilBERT did); needs the teacher's width.
    """
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(teacher.config)
    t_layers, t_width = cfg.num_hidden_layers, cfg.hidden_size
    n_layer = n_layer or max(1, t_layers // 2)
    n_embd = n_embd or t_width
    n_head = n_head or cfg.num_attention_heads
    if n_layer < 1 or n_embd < 1 or n_head < 1:
        raise InputError("student layers, width and heads must be at least 1")
    if n_embd % n_head:
        raise InputError(f"student width {n_embd} is not divisible by its {n_head} heads")
    if init not in ("random", "teacher_layers"):
        raise InputError(f"init must be 'random' or 'teacher_layers', not '{init}'")
    if init == "teacher_layers" and (n_embd != t_width or n_layer > t_layers):
        raise InputError(f"copying teacher layers needs the teacher's width ({t_width}) and at "
                         f"most its {t_layers} layers; got width {n_embd}, {n_layer} layers")
    cfg.num_hidden_layers, cfg.num_attention_heads = n_layer, n_head
    if n_embd != t_width:
        cfg.hidden_size = n_embd
        for name in ("intermediate_size", "n_inner"):
            if getattr(cfg, name, None):
                setattr(cfg, name, getattr(cfg, name) * n_embd // t_width)
        if getattr(cfg, "num_key_value_heads", None):
            cfg.num_key_value_heads = n_head
        if getattr(cfg, "head_dim", None):
            cfg.head_dim = n_embd // n_head
    torch.manual_seed(seed)
    student = AutoModelForCausalLM.from_config(cfg, dtype=next(teacher.parameters()).dtype)
    if init == "teacher_layers":
        mapping = [i * t_layers // n_layer for i in range(n_layer)]
        source = teacher.state_dict()
        target = student.state_dict()
        for name in target:
            key = _layers_key(name)
            src = name
            if key:
                _, i, (a, b) = key
                src = name[:a] + str(mapping[i]) + name[b:]
            if src in source and source[src].shape == target[name].shape:
                target[name] = source[src].clone()
        student.load_state_dict(target)
    return student.train()


