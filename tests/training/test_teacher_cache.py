"""The teacher cache on the small GPT-2 teacher: lazy filling, what it stores, its key, disk use."""

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distill_core import models
from distill_core.errors import InputError
from distill_core.kd.losses import top_k
from distill_core.training.teacher_cache import (CACHE_DIR_ENV, TeacherCache, cache_root, coverage,
                                        fingerprint, list_caches, open_cache, remove_cache)

N_BLOCKS, SEQ = 12, 33  # 32 positions with a next token each
K = 16


@pytest.fixture(scope="module")
def teacher_tok(small_teacher_dir):
    return models.load_teacher(str(small_teacher_dir))


@pytest.fixture(scope="module")
def blocks(teacher_tok):
    from distill_core.data import tinytales
    from distill_core.data.corpora import blocks_as_tensor, pack_blocks

    corpus = tinytales.load(train_stories=60, validation_stories=10, seed=0)
    out = blocks_as_tensor(pack_blocks(corpus["train"], teacher_tok[1], SEQ))
    assert len(out) >= N_BLOCKS
    return out[:N_BLOCKS]


def _vocab(teacher):
    return teacher.get_output_embeddings().weight.shape[0]


def _open(root, teacher, tok, blocks, k=K, dtype="no"):
    return open_cache(root, teacher, tok, blocks, k, dtype, _vocab(teacher))


def _counting(model):
    """Counts the teacher's forward calls and the blocks they saw (a forward hook)."""
    counter = type("Counter", (), {"calls": 0, "rows": 0})()

    def hook(module, args, kwargs, out):
        counter.calls += 1
        counter.rows += kwargs["input_ids"].shape[0]

    counter.handle = model.register_forward_hook(hook, with_kwargs=True)
    return counter


def _teacher_log_probs(teacher, x):
    with torch.no_grad():
        return F.log_softmax(teacher(input_ids=x).logits[:, :-1].float(), -1)  # (b, L, V)


def test_open_creates_the_folder_with_meta(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path / "c", teacher, tok, blocks)
    assert cache.folder.parent == tmp_path / "c" and cache.key == cache.folder.name
    meta = json.loads((cache.folder / "meta.json").read_text())
    assert meta["blocks"] == N_BLOCKS and meta["positions"] == SEQ - 1 and meta["k"] == K
    assert meta["vocab"] == _vocab(teacher) and meta["teacher_dtype"] == "no"
    assert meta["ids_dtype"] == "int16"  # a 600-token vocabulary fits
    for name in ("logp.f16", "rest.f16", "nll.f32", "filled.u8", meta["ids_file"]):
        assert (cache.folder / name).is_file()
    assert (cache.folder / "logp.f16").stat().st_size == N_BLOCKS * (SEQ - 1) * K * 2
    assert not list((tmp_path / "c").glob("*.tmp"))
    assert not cache.filled.any()


def test_fill_computes_only_missing_blocks(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks)
    counter = _counting(teacher)
    try:
        assert cache.fill(teacher, blocks, torch.tensor([0, 3, 3, 5]), batch_size=2) == 3
        assert counter.rows == 3 and counter.calls == 2  # the duplicate once; batches of 2
        assert cache.missing(torch.arange(6)).tolist() == [1, 2, 4]
        counter.rows = counter.calls = 0
        assert cache.fill(teacher, blocks, torch.tensor([3, 0, 5])) == 0
        assert counter.calls == 0  # all cached: the teacher is not run
        assert cache.fill(teacher, blocks, torch.tensor([0, 1, 2])) == 2
        assert counter.rows == 2
        assert cache.computed == 5
        # another process (a new TeacherCache on the same key) sees what was filled
        again = _open(tmp_path, teacher, tok, blocks)
        assert again.folder == cache.folder
        counter.rows = counter.calls = 0
        assert again.fill(teacher, blocks, torch.tensor([0, 1, 2, 3, 5])) == 0
        assert counter.calls == 0 and again.computed == 0
    finally:
        counter.handle.remove()


def test_targets_are_the_teachers_top_k(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks)
    idx = torch.tensor([7, 2, 9])
    cache.fill(teacher, blocks, torch.arange(N_BLOCKS), batch_size=5)
    got = cache.targets(idx)
    log_p = _teacher_log_probs(teacher, blocks[idx])
    want = top_k(log_p, K)
    assert got.vocab == _vocab(teacher)
    assert got.logp.shape == got.ids.shape == (3, SEQ - 1, K)
    assert got.log_rest.shape == (3, SEQ - 1)
    # values equal within fp16 rounding; ids pick out those values (ties may order differently)
    torch.testing.assert_close(got.logp.float(), want.logp, atol=4e-3, rtol=2e-3)
    torch.testing.assert_close(log_p.gather(-1, got.ids.long()), want.logp, atol=4e-3,
                               rtol=2e-3)
    assert (got.ids.long() == want.ids).float().mean() > 0.95
    torch.testing.assert_close(got.log_rest.float(), want.log_rest, atol=4e-3, rtol=2e-3)
    # the rest mass is what the top k leave over
    total = got.logp.float().exp().sum(-1) + got.log_rest.float().exp()
    torch.testing.assert_close(total, torch.ones_like(total), atol=5e-3, rtol=0)


def test_teacher_nll_is_the_teachers_cross_entropy(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks)
    idx = torch.tensor([1, 4, 10, 11])
    cache.fill(teacher, blocks, idx)
    x = blocks[idx]
    with torch.no_grad():
        logits = teacher(input_ids=x).logits[:, :-1].float()
    want = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                           reduction="none").view(len(idx), SEQ - 1)
    got = cache.teacher_nll(idx)
    assert got.dtype == torch.float32 and got.shape == (4, SEQ - 1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert got.mean().item() > 1.0  # a real loss (the random teacher is near uniform)


def test_targets_of_unfilled_blocks_raise(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks)
    cache.fill(teacher, blocks, torch.tensor([0, 1]))
    cache.targets(torch.tensor([0, 1]))
    with pytest.raises(InputError, match="fill it"):
        cache.targets(torch.tensor([1, 2]))


def test_key_changes_with_every_input_and_is_stable_otherwise(tmp_path, teacher_tok, blocks,
                                                              small_teacher_dir):
    teacher, tok = teacher_tok
    v = _vocab(teacher)
    key = _open(tmp_path, teacher, tok, blocks).key
    # stable: the same inputs, a teacher loaded afresh, a copy of the blocks
    reloaded, tok2 = models.load_teacher(str(small_teacher_dir))
    assert _open(tmp_path, reloaded, tok2, blocks.clone()).key == key
    assert fingerprint(teacher, tok, blocks, K, "no", v) == key

    other_weights = copy.deepcopy(teacher)
    with torch.no_grad():
        other_weights.transformer.h[1].mlp.c_fc.bias[0] += 1e-3
    other_tok = copy.deepcopy(tok)
    other_tok.add_tokens(["<brand-new-token>"])
    other_blocks = blocks.clone()
    other_blocks[5, 7] = (other_blocks[5, 7] + 1) % v
    keys = {
        "weights": _open(tmp_path, other_weights, tok, blocks).key,
        "tokenizer": _open(tmp_path, teacher, other_tok, blocks).key,
        "blocks": _open(tmp_path, teacher, tok, other_blocks).key,
        "fewer blocks": _open(tmp_path, teacher, tok, blocks[:-1]).key,
        "k": _open(tmp_path, teacher, tok, blocks, k=K + 1).key,
        "dtype": _open(tmp_path, teacher, tok, blocks, dtype="bf16").key,
    }
    assert key not in keys.values()
    assert len(set(keys.values())) == len(keys)
    assert {row["key"] for row in list_caches(tmp_path)} == {key, *keys.values()}


def test_disk_use_grows_with_filled_blocks(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks, k=64)
    apparent = sum(p.stat().st_size for p in cache.folder.iterdir())
    empty = cache.disk_bytes()
    assert apparent > 100_000 and empty < apparent / 10  # sparse files: nothing written yet
    cache.fill(teacher, blocks, torch.arange(4))
    cache.flush()
    some = cache.disk_bytes()
    cache.fill(teacher, blocks, torch.arange(N_BLOCKS))
    cache.flush()
    full = cache.disk_bytes()
    assert empty < some < full
    per_block = (SEQ - 1) * 64 * (2 + 2)  # logp and ids of one block
    assert full - empty >= N_BLOCKS * per_block
    assert cache.report(8)["teacher_cache_disk_mb"] == pytest.approx(full / 1e6)


def test_coverage_rises_with_k_to_one(teacher_tok, blocks):
    teacher, _ = teacher_tok
    v = _vocab(teacher)
    ks = (1, 4, 16, 64, 256, v)
    cov = coverage(teacher, blocks[:6], ks=ks, batch_size=4)
    values = [cov[k] for k in ks]
    assert all(0 < a < b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(1.0, abs=1e-5)
    # cross-check one k against the teacher directly
    p = _teacher_log_probs(teacher, blocks[:6]).exp()
    assert cov[16] == pytest.approx(p.topk(16, -1).values.sum(-1).mean().item(), rel=1e-5)
    assert teacher.training is False


def test_list_and_remove_caches(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    assert list_caches(tmp_path) == []
    a = _open(tmp_path, teacher, tok, blocks, k=4)
    b = _open(tmp_path, teacher, tok, blocks, k=8)
    a.fill(teacher, blocks, torch.arange(3))
    rows = {row["key"]: row for row in list_caches(tmp_path)}
    assert set(rows) == {a.key, b.key}
    assert rows[a.key]["k"] == 4 and rows[a.key]["blocks"] == N_BLOCKS
    assert rows[a.key]["filled"] == 3 and rows[b.key]["filled"] == 0
    assert rows[a.key]["disk_mb"] > rows[b.key]["disk_mb"]
    remove_cache(tmp_path, a.key)
    assert not a.folder.exists()
    assert [row["key"] for row in list_caches(tmp_path)] == [b.key]
    for bad in (a.key, "nope", "../" + b.key):
        with pytest.raises(InputError):
            remove_cache(tmp_path, bad)
    assert b.folder.exists()


def test_cache_root_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert cache_root(tmp_path / "runs") == tmp_path / "runs" / "_teacher_cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "shared-cache"))
    assert cache_root(tmp_path / "runs") == tmp_path / "shared-cache"


@pytest.mark.parametrize("k", [0, "vocab+1", True, 2.0])
def test_bad_k_rejected(tmp_path, teacher_tok, blocks, k):
    teacher, tok = teacher_tok
    k = _vocab(teacher) + 1 if k == "vocab+1" else k
    with pytest.raises(InputError, match="k must be"):
        open_cache(tmp_path, teacher, tok, blocks, k, "no", _vocab(teacher))


def test_unwritable_root_is_input_error(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot write"):
        _open(tmp_path / "file" / "cache", teacher, tok, blocks)


def test_cache_reads_back_in_a_new_instance(tmp_path, teacher_tok, blocks):
    teacher, tok = teacher_tok
    cache = _open(tmp_path, teacher, tok, blocks)
    cache.fill(teacher, blocks, torch.arange(N_BLOCKS))
    cache.flush()
    first = cache.targets(torch.arange(N_BLOCKS))
    del cache
    again = TeacherCache(next(p.parent for p in tmp_path.glob("*/meta.json")))
    second = again.targets(torch.arange(N_BLOCKS))
    assert torch.equal(first.logp, second.logp) and torch.equal(first.ids, second.ids)
    assert np.count_nonzero(again.filled) == N_BLOCKS
