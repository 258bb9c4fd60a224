"""Speed figures: the reported speed-up against an independent timing, and generation latency.

The machine these run on may be shared with other jobs, so the timing tests compare ratios
with generous tolerances, run on one torch thread (no thread-pool stalls when cores are
taken), and measure again before failing.
"""

import statistics
import timeit

import pytest
import torch

from distill_core.training.speed import _stable, forward_speedup, generation_latency

ATTEMPTS = 4


@pytest.fixture(scope="module")
def builtin_pair():
    from distill_core import models

    teacher, tokenizer = models.load_teacher("builtin:teacher")
    return teacher, models.load_student("builtin:half", teacher), tokenizer


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ids(tokenizer, shape, seed=0):
    return torch.randint(0, len(tokenizer), shape, generator=torch.Generator().manual_seed(seed))


def _independent_speedup(teacher, student, x, repeats=11, number=2) -> float:
    """Each forward timed on its own with timeit (all teacher runs, then all student runs),
    medians of `repeats` samples of `number` calls each."""
    medians = []
    with torch.inference_mode():
        for model in (teacher, student):
            model(input_ids=x)  # warm
            runs = timeit.Timer(lambda: model(input_ids=x)).repeat(repeat=repeats, number=number)
            medians.append(statistics.median(runs))
    return medians[0] / medians[1]


def test_reported_speedup_agrees_with_an_independent_timing(builtin_pair, one_thread):
    teacher, student, tokenizer = builtin_pair
    x = _ids(tokenizer, (8, 64))
    was = student.training
    student.eval()  # forward_speedup times eval mode; so does the independent timing
    tries = []
    try:
        for _ in range(ATTEMPTS):
            student.train(was)
            out = forward_speedup(teacher, student, x)
            assert student.training == was and not teacher.training  # modes are restored
            student.eval()
            independent = _independent_speedup(teacher, student, x)
            tries.append((out["speedup"], independent))
            if abs(out["speedup"] / independent - 1) < 0.25:
                break
        else:
            pytest.fail(f"reported vs independent speed-up never within 25 %: {tries}")
    finally:
        student.train(was)
    assert out["teacher_tokens_per_s"] > 0 and out["student_tokens_per_s"] > 0
    tokens_ratio = out["student_tokens_per_s"] / out["teacher_tokens_per_s"]
    assert out["speedup"] == pytest.approx(tokens_ratio)
    low, high = out["spread"]
    assert low <= high
    assert 5 <= out["repeats"] <= 30 and out["threads"] == 1


def test_stopping_rule():
    assert _stable([2.0] * 6, [1.0] * 6, 0.03)
    assert not _stable([2.0] * 3 + [4.0] * 3, [1.0] * 6, 0.03)  # the recent half moved


def test_forward_speedup_on_a_fake_clock_settles_and_reports():
    """Teacher forwards take 2 s and student forwards 1 s of fake time: speed-up 2, settled."""
    clock, calls = [0.0], []

    class Fake(torch.nn.Module):
        def __init__(self, cost):
            super().__init__()
            self.w, self.cost = torch.nn.Parameter(torch.zeros(1)), cost

        def forward(self, input_ids):
            calls.append(self.cost)
            clock[0] += self.cost

    x = torch.zeros(2, 5, dtype=torch.long)
    out = forward_speedup(Fake(2.0), Fake(1.0), x, timer=lambda: clock[0])
    assert out["speedup"] == 2.0 and out["stable"] and out["repeats"] == 6
    assert calls == [2.0, 1.0] * (2 + 6)  # interleaved, warm-up included
    assert out["teacher_tokens_per_s"] == 5.0 and out["spread"] == (2.0, 2.0)


def test_generation_latency_of_teacher_and_student(builtin_pair, one_thread):
    teacher, student, tokenizer = builtin_pair
    prompt = _ids(tokenizer, (64,), seed=1)
    was = student.training
    tries = []
    for _ in range(ATTEMPTS):
        t = generation_latency(teacher, prompt, new_tokens=32)
        s = generation_latency(student, prompt, new_tokens=32)
        for out in (t, s):
            assert out["ms_per_token"] > 0 and out["first_token_ms"] > 0
            assert out["decode_ms_per_token"] >= 0
            assert (out["prompt_tokens"], out["new_tokens"]) == (64, 32)
        tries.append((t["ms_per_token"], s["ms_per_token"]))
        # half the layers: not slower than the teacher beyond noise (expected ~0.6x)
        if s["ms_per_token"] < 1.3 * t["ms_per_token"]:
            break
    else:
        pytest.fail(f"student slower than teacher per token in every try: {tries}")
    assert student.training == was  # its mode is restored


def test_generation_makes_exactly_the_tokens_asked(builtin_pair):
    teacher, student, tokenizer = builtin_pair
    out = generation_latency(student, _ids(tokenizer, (1, 8)), new_tokens=4, repeats=1)
    assert out["new_tokens"] == 4 and out["prompt_tokens"] == 8 and out["ms_per_token"] > 0


def test_a_bf16_runs_reported_speedup_is_the_deployed_models(builtin_pair, tmp_path,
                                                              monkeypatch):
    """The summary's speed-up times the student as it is deployed (the plain model, in the
    teacher's fp32), not the training wrapper that autocasts to bf16: an independent timing of
    a fresh copy of the trained student agrees within 25 %."""
    from distill_core.config import DistillConfig
    from distill_core.training.loop import distill, load_blocks

    teacher, _, tokenizer = builtin_pair
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path))
    config = DistillConfig(steps=2, batch_size=4, train_docs=100, eval_blocks=8,
                           precision="bf16", compile="off", runs_dir=str(tmp_path / "runs"))
    result = distill(config, store=False)
    reported = result.summary["speedup"]
    plain = type(result.student)(result.student.config)
    plain.load_state_dict(result.student.state_dict())
    x = load_blocks(config, tokenizer)[1][:8]  # the blocks the run timed on
    tries = []
    for _ in range(ATTEMPTS):
        tries.append(_independent_speedup(teacher.eval(), plain.eval(), x))
        if abs(reported / tries[-1] - 1) < 0.25:
            break
    else:
        pytest.fail(f"reported {reported:.2f}x, independent timings {tries}")
