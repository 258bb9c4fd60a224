"""A model in eval (or train) mode for one block, then back in the mode it was in.

    with eval_mode(teacher):
        logits = teacher(x).logits      # dropout off; the teacher's own mode comes back after

It replaces "remember model.training, call .eval(), restore in a finally" wherever a function
reads a model it does not own: the caller's mode survives, even when the block raises.
"""

from __future__ import annotations

import contextlib

__all__ = ["eval_mode", "train_mode"]


@contextlib.contextmanager
def _mode(model, training: bool):
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def eval_mode(model):
    """`model` in eval mode for the block (dropout off), its own mode after."""
    return _mode(model, False)


def train_mode(model):
    """`model` in train mode for the block, its own mode after."""
    return _mode(model, True)
