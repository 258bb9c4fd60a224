"""Students made from a teacher: fewer layers, a narrower width, random or copied weights.

Which teacher layers a copied student keeps (`teacher_layer_map`), for a student of n of the
teacher's L layers:

    init="teacher_layers"  spread evenly: layer i from teacher layer i * L // n (every other
                           layer when halving, as DistilBERT did)
    init="teacher_ends"    the first third of them (at least one) from the teacher's first
                           layers and the rest from its last: one block is dropped, before
                           the middle. Of the 15-layer students of SmolLM2-135M's 30 layers,
                           first 5 + last 10 started at validation perplexity ~1,200 on
                           python-docs, first 8 + last 7 at ~6,700 and every other layer at
                           ~1,100,000 (2026-12-02; bench/smollm2_students.py trains them)
"""

from __future__ import annotations

import copy
import re

import torch

from distill_core.errors import InputError

INITS = ("random", "teacher_layers", "teacher_ends")
# The config attribute that records, for a copied student, the teacher layer each of its layers
# came from (hidden-state distillation pairs them); absent for a random student.
COPIED_FROM = "teacher_layer_map"


def _layers_key(name: str):
    """('h', 3) for 'transformer.h.3.attn…' style names; None for non-layer weights."""
    m = re.search(r"\.(h|layers|layer|blocks)\.(\d+)\.", name)
    return (m.group(1), int(m.group(2)), m.span(2)) if m else None


def teacher_layer_map(init: str, n_layer: int, t_layers: int) -> list[int]:
    """The teacher layer each of the student's `n_layer` layers is copied from."""
    if init == "teacher_layers":
        return [i * t_layers // n_layer for i in range(n_layer)]
    if init == "teacher_ends":
        first = max(1, n_layer // 3)
        return [*range(first), *range(t_layers - (n_layer - first), t_layers)]
    raise InputError(f"init {init!r} copies no teacher layers")


def make_student(teacher, *, n_layer=None, n_embd=None, n_head=None, init="random", seed=0):
    """A smaller model of the teacher's architecture.

    `n_layer`, `n_embd` (width) and `n_head` default to the teacher's (n_layer to half of it).
    init="random": fresh weights (seeded). init="teacher_layers" or "teacher_ends": embeddings,
    final norm and head copied from the teacher, and each layer from the teacher layer that
    `teacher_layer_map` names (recorded as the student's `config.teacher_layer_map`); both
    need the teacher's width.
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
    if init not in INITS:
        raise InputError(f"init must be one of {', '.join(INITS)}, not '{init}'")
    if init != "random" and (n_embd != t_width or n_layer > t_layers):
        raise InputError(f"copying teacher layers needs the teacher's width ({t_width}) and at "
                         f"most its {t_layers} layers; got width {n_embd}, {n_layer} layers")
    _reshape(cfg, n_layer, n_embd, n_head)
    cfg.__dict__.pop(COPIED_FROM, None)  # a teacher that was itself a copy: not this student's
    torch.manual_seed(seed)
    student = AutoModelForCausalLM.from_config(cfg, dtype=next(teacher.parameters()).dtype)
    if init != "random":
        mapping = teacher_layer_map(init, n_layer, t_layers)
        _copy_layers(teacher, student, mapping)
        setattr(student.config, COPIED_FROM, mapping)  # kept in config.json: plain data
    return student.train()


def _reshape(cfg, n_layer: int, n_embd: int, n_head: int) -> None:
    """Set a copy of the teacher's config to the student's layers, width and heads."""
    t_width = cfg.hidden_size
    cfg.num_hidden_layers, cfg.num_attention_heads = n_layer, n_head
    if n_embd == t_width:
        return
    cfg.hidden_size = n_embd
    for name in ("intermediate_size", "n_inner"):
        if getattr(cfg, name, None):
            setattr(cfg, name, getattr(cfg, name) * n_embd // t_width)
    if getattr(cfg, "num_key_value_heads", None):
        cfg.num_key_value_heads = n_head
    if getattr(cfg, "head_dim", None):
        cfg.head_dim = n_embd // n_head


def _copy_layers(teacher, student, mapping: list[int]) -> None:
    """Every student weight of the teacher's shape copied: layer i from teacher layer
    mapping[i], the rest (embeddings, final norm, head) by name."""
    source, target = teacher.state_dict(), student.state_dict()
    for name in target:
        src = name
        if key := _layers_key(name):
            _, i, (a, b) = key
            src = name[:a] + str(mapping[i]) + name[b:]
        if src in source and source[src].shape == target[name].shape:
            target[name] = source[src].clone()
    student.load_state_dict(target)
