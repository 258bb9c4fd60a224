"""The teacher sources the loop reads its targets from: live logits or the cache's top-k, one
interface, picked by the config."""

import contextlib

import pytest
import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.kd.fused import Head, head_logits
from distill_core.kd.losses import TopK
from distill_core.training import evaluate, teacher_cache
from distill_core.training.loop import prepare
from distill_core.training.teacher_source import CachedTeacher, LiveTeacher, open_source


@pytest.fixture(autouse=True)
def _no_shared_cache(monkeypatch):
    monkeypatch.delenv(teacher_cache.CACHE_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def config_and_prepared(small_teacher_dir, tmp_path_factory):
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:tiny",
                           train_docs=200, seq_len=32, precision="fp32",
                           runs_dir=str(tmp_path_factory.mktemp("runs")))
    return config, prepare(config)


def _source(config, prepared, **over):
    return open_source(config.replace(**over), prepared, prepared.val_blocks[:4],
                       contextlib.nullcontext, "no")


def test_live_targets_are_the_teachers_next_token_logits(config_and_prepared):
    config, prepared = config_and_prepared
    source = _source(config, prepared)
    assert isinstance(source, LiveTeacher) and source.mode == "live"
    idx = torch.tensor([3, 0, 5])
    x = prepared.train_blocks[idx]  # (3, T)
    head = source.targets(idx, x)
    assert isinstance(head, Head) and source.unfused is None  # the fused loss makes the logits
    assert not head.hidden.is_inference()  # autograd may keep it
    got = head_logits(head)
    assert got.shape == (3, x.shape[1] - 1, prepared.teacher.config.vocab_size)
    with torch.no_grad():
        assert torch.equal(got, prepared.teacher(input_ids=x).logits[:, :-1])
    assert source.report(8) == {}


def test_cached_targets_are_the_teachers_top_k_filled_on_demand(config_and_prepared):
    config, prepared = config_and_prepared
    source = _source(config, prepared, teacher_cache=True, top_k=8)
    assert isinstance(source, CachedTeacher) and source.mode == "cached"
    assert source.val_cache.missing(torch.arange(4)).numel() == 0  # filled when opened
    idx = torch.tensor([3, 0, 5])
    x = prepared.train_blocks[idx]
    got = source.targets(idx, x)
    assert isinstance(got, TopK) and got.ids.shape == (3, x.shape[1] - 1, 8)
    with torch.no_grad():
        log_p = torch.log_softmax(prepared.teacher(input_ids=x).logits[:, :-1], -1)
    want = log_p.topk(8, dim=-1)
    assert torch.equal(got.ids.long(), want.indices)
    assert torch.allclose(got.logp.float(), want.values, atol=2e-2)  # stored in float16
    assert source.report(8)["teacher_cache_computed"] == 3
    again = _source(config, prepared, teacher_cache=True, top_k=8)  # opened once per Prepared
    assert again.train_cache is source.train_cache and again.train_cache.computed == 0


def test_both_sources_compare_a_student_alike(config_and_prepared):
    config, prepared = config_and_prepared
    student = models.load_student("builtin:tiny", prepared.teacher, seed=0)
    blocks = prepared.val_blocks[:4]
    full = evaluate.compare(student, prepared.teacher, blocks)
    assert _source(config, prepared).compare(student, blocks) == full
    cached = _source(config, prepared, teacher_cache=True, top_k=8).compare(student, blocks)
    for key in ("student_loss", "teacher_loss", "agreement"):
        assert cached[key] == pytest.approx(full[key], rel=1e-5), key
