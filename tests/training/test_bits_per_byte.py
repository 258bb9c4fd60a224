"""Validation loss in bits per byte and per character: known answers on a hand-made tokenizer,
and every run's summary carries them beside perplexity."""

import math

import pytest
import torch

from distill_core import metrics
from distill_core.config import DistillConfig
from distill_core.training import evaluate
from distill_core.training.loop import distill
from tests.models.cross_tokenizers import piece_tokenizer, word_tokenizer


def test_text_size_counts_what_the_predicted_tokens_spell():
    tok = word_tokenizer()  # ids: the 1, cat 2, sat 3, on 4, mat 5; decoded with spaces
    blocks = torch.tensor([[1, 2, 3], [4, 1, 5]])
    size = evaluate.text_size(tok, blocks)  # "cat sat" and "the mat"
    assert size == {"bytes": 14, "chars": 14, "tokens": 4}
    pieces = evaluate.text_size(piece_tokenizer(), torch.tensor([[12, 4, 10]]))  # the|c|at
    assert pieces["tokens"] == 2 and pieces["bytes"] == len("c at")


def test_per_byte_is_total_bits_over_bytes():
    size = {"bytes": 20, "chars": 10, "tokens": 4}
    out = evaluate.per_byte({"val": 1.5, "teacher_val": 0.5}, size)
    assert out["val_bpb"] == pytest.approx(1.5 * 4 / (math.log(2) * 20))
    assert out["val_bpc"] == pytest.approx(1.5 * 4 / (math.log(2) * 10))
    assert out["teacher_val_bpb"] == pytest.approx(0.5 * 4 / (math.log(2) * 20))
    assert evaluate.per_byte({"val": 1.0}, {"bytes": 0, "chars": 0, "tokens": 0}) == {
        "val_bpb": None, "val_bpc": None}


def test_a_runs_summary_has_bits_per_byte_beside_perplexity(small_teacher_dir, tmp_path):
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:half",
                           train_docs=100, steps=2, batch_size=4, seq_len=32, warmup=0,
                           eval_every=0, eval_blocks=4, precision="fp32",
                           runs_dir=str(tmp_path / "runs"))
    s = distill(config).run.summary()
    for who in ("teacher", "student"):
        bytes_per_token = s[f"{who}_loss"] / (math.log(2) * s[f"{who}_bpb"])
        assert 1.0 < bytes_per_token < 8.0  # a BPE token of English stories is a few bytes
        assert s[f"{who}_bpc"] >= s[f"{who}_bpb"]  # a character is at least one byte
    assert s["teacher_bpb"] / s["teacher_loss"] == pytest.approx(s["student_bpb"] /
                                                                 s["student_loss"])
    assert metrics.METRICS["student_bpb"].text(s["student_bpb"]) == f"{s['student_bpb']:.4f}"
