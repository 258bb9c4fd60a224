"""precision=auto by measurement: the decision, its cache, and a real short measurement.

No assertion here says which precision is faster on this machine: that is what is measured.
"""

import json
import time

import pytest
import torch

from distill_core import machine, user_cache
from distill_core.training import precision
from distill_core.training.precision import (cache_key, choose_precision, clear_win,
                                             measure_steps, pick)


def _gpt2(n_layer=2, n_embd=32, vocab=64):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=32, n_embd=n_embd,
                                      n_layer=n_layer, n_head=2))


class FakeMeasure:
    """Stands in for measure_steps: fixed timings (the same in every round unless `runs` are
    given), and a count of the times it was asked."""

    def __init__(self, fp32=0.2, bf16=0.1, runs=None):
        self.times, self.calls = {"fp32": fp32, "bf16": bf16}, 0
        self.runs = runs or {"fp32": [fp32] * 3, "bf16": [bf16] * 3}

    def __call__(self, student, teacher, batch, **kwargs):
        self.calls += 1
        return {**self.times, "rows": batch.shape[0], "rounds": len(self.runs["fp32"]),
                "fp32_runs": self.runs["fp32"], "bf16_runs": self.runs["bf16"]}


@pytest.fixture
def tiny_pair():
    return _gpt2(n_layer=1), _gpt2(n_layer=2)  # student, teacher


BATCH = torch.zeros(4, 16, dtype=torch.long)


def test_decision_is_cached_and_reused(tmp_path, tiny_pair):
    student, teacher = tiny_pair
    measure = FakeMeasure()
    first = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                             measure=measure)
    again = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                             measure=measure)
    assert measure.calls == 1  # the second call did not time anything
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["precision"] == first["precision"] == "bf16"
    assert again["fp32_step_s"] == 0.2 and again["bf16_step_s"] == 0.1
    assert again["measured_on"] == machine.cpu_model()
    saved = json.loads((tmp_path / "precision.json").read_text())
    assert len(saved) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["precision.json"]  # no temp file left


def test_cache_key_changes_with_model_and_batch_shape(tmp_path, tiny_pair):
    student, teacher = tiny_pair
    key = cache_key(student, teacher, BATCH, "cpu")
    assert key == cache_key(student, teacher, BATCH.clone(), "cpu")
    others = [cache_key(_gpt2(n_layer=3), teacher, BATCH, "cpu"),        # deeper student
              cache_key(_gpt2(n_layer=1, n_embd=64), teacher, BATCH, "cpu"),  # wider
              cache_key(_gpt2(n_layer=1, vocab=80), teacher, BATCH, "cpu"),   # more vocab rows
              cache_key(student, _gpt2(n_layer=4), BATCH, "cpu"),        # another teacher
              cache_key(student, None, BATCH, "cpu"),                    # no live teacher
              cache_key(student, teacher, torch.zeros(8, 16, dtype=torch.long), "cpu")]
    assert len({key, *others}) == 1 + len(others)
    measure = FakeMeasure()
    choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path, measure=measure)
    out = choose_precision(_gpt2(n_layer=3), teacher, BATCH, device="cpu", cache_dir=tmp_path,
                           measure=measure)
    assert measure.calls == 2 and not out["cached"]  # another shape is measured afresh
    assert len(json.loads((tmp_path / "precision.json").read_text())) == 2


@pytest.mark.parametrize("fp32, bf16, want", [(0.30, 0.42, "fp32"), (0.42, 0.30, "bf16"),
                                              (0.101, 0.100, "bf16"), (0.100, 0.101, "fp32")])
def test_the_faster_measured_precision_is_chosen(tmp_path, tiny_pair, fp32, bf16, want):
    student, teacher = tiny_pair
    out = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                           measure=FakeMeasure(fp32, bf16))
    assert out["precision"] == want


def test_an_unclear_decision_is_used_but_not_remembered(tmp_path, tiny_pair):
    student, teacher = tiny_pair
    split = FakeMeasure(0.20, 0.19, runs={"fp32": [0.20, 0.18, 0.22], "bf16": [0.19, 0.19, 0.19]})
    out = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                           measure=split)
    assert out["precision"] == "bf16" and not out["clear"] and not out["cached"]
    again = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                             measure=split)
    assert split.calls == 2 and not again["cached"]  # measured again
    assert not (tmp_path / "precision.json").exists()


def test_clear_win_rule():
    assert clear_win([1, 1, 1], [2, 2, 2])
    assert not clear_win([1], [2])  # one round proves little
    assert not clear_win([1, 3, 1], [2, 2, 2])  # lost one round of three
    assert clear_win([1, 3, 1, 1], [2, 2, 2, 2])  # lost one of four
    assert not clear_win([1, 3, 3, 1], [2, 2, 2, 2])


def test_ties_go_to_fp32_on_cpu_and_bf16_on_gpu():
    assert pick(0.1, 0.1, "cpu") == "fp32"
    assert pick(0.1, 0.1, "cuda") == "bf16"
    assert pick(0.1, 0.2, "cuda") == "fp32"  # a GPU keeps bf16 unless it measures slower


def test_measurement_interleaves_and_keeps_to_the_budget(monkeypatch, tiny_pair):
    """measure_steps on a fake clock: each step costs a fixed time per precision and row."""
    student, teacher = tiny_pair
    clock, order = [0.0], []
    cost = {"fp32": 0.010, "bf16": 0.006}  # seconds per row

    def fake_step(student, teacher, x, vocab, p, device):
        order.append((p, x.shape[0]))
        clock[0] += cost[p] * x.shape[0]

    monkeypatch.setattr(precision, "_step", fake_step)
    batch = torch.zeros(16, 8, dtype=torch.long)
    out = measure_steps(student, teacher, batch, device="cpu", budget_s=1.0,
                        timer=lambda: clock[0])
    assert [p for p, _ in order] == ["fp32", "bf16"] * (len(order) // 2)  # interleaved
    assert 1 < out["rows"] <= 16
    assert out["fp32"] == pytest.approx(cost["fp32"] * out["rows"])
    assert out["bf16"] == pytest.approx(cost["bf16"] * out["rows"])
    assert out["rounds"] >= 1
    assert clock[0] <= 1.0 + (cost["fp32"] + cost["bf16"]) * 16  # over by one round at most
    assert pick(out["fp32"], out["bf16"], "cpu") == "bf16"

    order.clear()
    slow = measure_steps(student, teacher, batch, device="cpu", budget_s=0.001,
                         timer=lambda: clock[0])
    assert slow["rows"] == 1 and slow["rounds"] == 1  # a tiny budget: one row, one round
    assert len(order) == 4  # a cold step and a timed step per precision, nothing more

    whole = measure_steps(student, teacher, batch, device="cpu", budget_s=0.001, rows=16,
                          timer=lambda: clock[0])
    assert whole["rows"] == 16 and whole["rounds"] == 1  # rows fixed by the caller
    assert whole["fp32"] == pytest.approx(cost["fp32"] * 16)


def test_without_bf16_it_is_fp32_and_nothing_is_timed(monkeypatch, tmp_path, tiny_pair):
    student, teacher = tiny_pair
    monkeypatch.setattr(precision, "bf16_supported", lambda device: False)
    measure = FakeMeasure()
    out = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                           measure=measure)
    assert out["precision"] == "fp32" and out["fp32_step_s"] is None
    assert measure.calls == 0


def test_a_broken_cache_file_is_measured_again_and_rewritten(tmp_path, tiny_pair):
    student, teacher = tiny_pair
    (tmp_path / "precision.json").write_text("{not json")
    measure = FakeMeasure()
    out = choose_precision(student, teacher, BATCH, device="cpu", cache_dir=tmp_path,
                           measure=measure)
    assert measure.calls == 1 and not out["cached"]
    assert len(json.loads((tmp_path / "precision.json").read_text())) == 1


def test_cache_dir_from_the_environment(monkeypatch, tmp_path, tiny_pair):
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "here"))
    assert user_cache.default_cache_dir() == tmp_path / "here"
    student, teacher = tiny_pair
    choose_precision(student, teacher, BATCH, device="cpu", measure=FakeMeasure())
    assert (tmp_path / "here" / "precision.json").exists()
    monkeypatch.delenv("DISTILL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache.default_cache_dir() == tmp_path / "xdg" / "distill-playground"


@pytest.fixture(scope="module")
def builtin_pair():
    from distill_core import models

    teacher, tokenizer = models.load_teacher("builtin:teacher")
    return models.load_student("builtin:half", teacher), teacher, tokenizer


@pytest.fixture
def one_thread():
    """One torch thread: on a machine shared with other jobs, two threads can stall each other
    several-fold; the cache key includes the thread count, so this is a real setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_real_short_measurement_on_the_builtin_pair(tmp_path, builtin_pair, one_thread):
    student, teacher, tokenizer = builtin_pair
    batch = torch.randint(0, len(tokenizer), (16, 128), generator=torch.Generator().manual_seed(0))
    weights = {k: v.clone() for k, v in student.state_dict().items()}
    rng = torch.get_rng_state()
    start = time.perf_counter()
    out = choose_precision(student, teacher, batch, device="cpu", cache_dir=tmp_path,
                           budget_s=3.0)
    elapsed = time.perf_counter() - start
    assert out["fp32_step_s"] > 0 and out["bf16_step_s"] > 0
    assert out["precision"] in ("fp32", "bf16") and not out["cached"]
    assert 1 <= out["rows"] <= 16
    # a ~3 s budget; a machine shared with other jobs can stretch any step, so the ceiling
    # is generous (here, alone: about 3 s)
    assert elapsed < 3.0 + 12
    # the measurement leaves no trace: weights, .grad and the random state are as they were
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in student.parameters())
    assert torch.equal(rng, torch.get_rng_state())
    assert student.training and not teacher.training
    assert out["rounds"] >= 1 and isinstance(out["clear"], bool)
    if out["clear"]:  # on a busy machine the decision may be unclear, and then not cached
        again = choose_precision(student, teacher, batch, device="cpu", cache_dir=tmp_path)
        assert again["cached"] and again["precision"] == out["precision"]
    else:
        assert not (tmp_path / "precision.json").exists()
