"""Shared fixtures. Tests run offline: the hub is never reached."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small_tokenizer():
    """A byte-level BPE tokenizer trained on a few hundred tinytales stories."""
    from distill_core.data import tinytales
    from distill_core.training.build_builtin import train_tokenizer

    return train_tokenizer([t for t, _ in tinytales.generate(400, seed=1)], vocab_size=600)


@pytest.fixture(scope="session")
def small_teacher_dir(tmp_path_factory, small_tokenizer):
    """A 2-layer GPT-2 built from a config and saved (safetensors + tokenizer) to a temp dir."""
    import torch
    from transformers import GPT2LMHeadModel

    from distill_core.training.build_builtin import teacher_config

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("teacher")
    cfg = teacher_config(small_tokenizer, n_layer=2, n_embd=32, n_head=2, n_positions=64)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    small_tokenizer.save_pretrained(folder)
    return folder
