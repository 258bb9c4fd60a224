"""Runs trained side by side (training/side_by_side.py): one teacher forward per batch for all,
and each run's results the same as training it alone, up to rounding; the compatibility
check (store/groups.py); a run cancelled or failing alone."""

import math

import pytest
import torch
from safetensors.torch import load_file

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store import jobs
from distill_core.store.groups import gather, why_apart
from distill_core.store.runs import Run
from distill_core.training import side_by_side
from distill_core.training.loop import Cancelled, RunResult, distill, prepare
from distill_core.training.side_by_side import check_together, train_together

NUMBERS = ("student_loss", "student_ppl", "agreement", "kl", "teacher_loss", "baseline_loss",
           "baseline_ppl", "steps", "tokens")


@pytest.fixture(autouse=True)
def _no_shared_cache(monkeypatch):
    monkeypatch.delenv("DISTILL_CACHE_DIR", raising=False)


def _config(teacher_dir, tmp_path, **over):
    return DistillConfig(**{**dict(
        teacher=str(teacher_dir), student="builtin:tiny", train_docs=120, steps=3,
        batch_size=4, grad_accum=2, seq_len=32, warmup=1, eval_every=2, eval_blocks=4,
        precision="fp32", compile="off", runs_dir=str(tmp_path / "runs")), **over})


def _weights(run: Run, folder: str = "student") -> dict:
    return load_file(str(run.path / folder / "model.safetensors"))


def _same_run(alone: Run, together: Run, baseline: bool = False) -> None:
    a, b = alone.summary(), together.summary()
    for key in NUMBERS:
        if a.get(key) is None:
            assert b.get(key) is None, key
        else:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    for x, y in zip(alone.metrics(), together.metrics()):
        for key in ("loss", "kd", "ce", "lr", "val_loss", "baseline_loss", "baseline_val_loss"):
            assert (key in x) == (key in y), key
            if key in x:
                assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-6), key
    assert len(alone.metrics()) == len(together.metrics())
    for folder in ("student", "baseline") if baseline else ("student",):
        wa, wb = _weights(alone, folder), _weights(together, folder)
        assert wa.keys() == wb.keys()
        for name in wa:
            torch.testing.assert_close(wb[name], wa[name], rtol=1e-5, atol=1e-6)


SETTINGS = [dict(alpha=0.9, temperature=4.0), dict(alpha=0.5, temperature=1.0, lr=1e-3),
            dict(alpha=1.0, temperature=2.0, loss="reverse_kl")]


@pytest.mark.parametrize("cached", [False, True], ids=["live", "cached"])
def test_each_run_is_the_run_it_would_be_alone(small_teacher_dir, tmp_path, cached):
    configs = [_config(small_teacher_dir, tmp_path, teacher_cache=cached, name=f"r{i}",
                       baseline=i != 1, **s) for i, s in enumerate(SETTINGS)]
    prepared = prepare(configs[0])
    alone = [distill(c, prepared=prepared).run for c in configs]
    memo_counts = []
    real = side_by_side.TargetMemo

    def counted():  # the memo the group shares: how often it asked its source
        memo = real()
        memo_counts.append(memo)
        return memo

    side_by_side.TargetMemo = counted
    try:
        events = []
        outcomes = train_together(configs, on_event=events.append, prepared=prepared)
    finally:
        side_by_side.TargetMemo = real
    assert all(isinstance(o, RunResult) for o in outcomes)
    together = [o.run for o in outcomes]
    for a, b, c in zip(alone, together, configs):
        assert b.status()["state"] == "done" and b.status()["group"] == [r.id for r in together]
        assert b.config()["alpha"] == c.alpha and b.config()["name"] == c.name
        _same_run(a, b, baseline=c.baseline)
        assert (b.path / "probes.jsonl").exists() == (a.path / "probes.jsonl").exists()
    # one source call per micro-batch of each step, for all three students
    assert memo_counts[0].computed == configs[0].steps * configs[0].grad_accum
    assert [e["type"] for e in events].count("done") == 3
    assert {e["run_id"] for e in events} == {r.id for r in together}


def test_a_run_cancelled_while_training_together_stops_alone(small_teacher_dir, tmp_path):
    configs = [_config(small_teacher_dir, tmp_path, steps=4, eval_every=0, name=f"r{i}",
                       alpha=0.5 + 0.25 * i) for i in range(3)]
    runs = [Run.create(tmp_path / "runs", c.to_dict(), name=c.name) for c in configs]

    def cancel_second(e):
        if e["type"] == "step" and e["step"] == 1 and e["run_id"] == runs[2].id:
            assert jobs.cancel(runs[1].id, tmp_path / "runs")  # a mark, not a signal

    outcomes = train_together(configs, runs, on_event=cancel_second)
    assert [r.status()["state"] for r in runs] == ["done", "cancelled", "done"]
    assert isinstance(outcomes[1], Cancelled)
    assert (runs[1].path / "student" / "model.safetensors").exists()  # kept where it got to
    assert len(runs[1].metrics()) == 1 and len(runs[0].metrics()) == 4
    assert runs[1].summary() is None and runs[2].summary()["steps"] == 4


def test_a_run_whose_loss_breaks_fails_alone(small_teacher_dir, tmp_path, monkeypatch):
    from distill_core.training import loop

    fused = loop.fused_kd_loss

    def broken_at_t3(*args, **kwargs):  # the run at temperature 3 gets a nan loss
        total, parts = fused(*args, **kwargs)
        return (total * math.nan if kwargs["temperature"] == 3.0 else total), parts

    monkeypatch.setattr(loop, "fused_kd_loss", broken_at_t3)  # the loss, wherever it is taken
    monkeypatch.setattr(side_by_side.SharedTargets, "loss", staticmethod(broken_at_t3),
                        raising=False)
    configs = [_config(small_teacher_dir, tmp_path, steps=2, eval_every=0, temperature=t)
               for t in (2.0, 3.0)]
    outcomes = train_together(configs)
    assert isinstance(outcomes[0], RunResult) and math.isfinite(outcomes[0].summary["student_ppl"])
    assert isinstance(outcomes[1], Exception)
    states = {run.id: s for run, s in jobs.statuses(tmp_path / "runs")}
    assert states[outcomes[0].run.id]["state"] == "done"
    failed = [s for s in states.values() if s["state"] == "failed"]
    assert len(failed) == 1 and "loss became" in failed[0]["error"]


@pytest.mark.parametrize("change, words", [
    (dict(seed=1), "seed"), (dict(seq_len=16), "seq_len"), (dict(batch_size=8), "batch_size"),
    (dict(steps=5), "steps"), (dict(teacher_cache=True), "teacher_cache"),
    (dict(train_docs=90), "train_docs"), (dict(on_policy=0.5), "on-policy"),
    (dict(hidden_weight=1.0), "hidden states"), (dict(precision="bf16"), "precision"),
    (dict(student="builtin:small"), "student"),
])
def test_runs_that_cannot_share_batches_are_refused_with_the_reason(tmp_path, change, words):
    base = DistillConfig(steps=4, warmup=0, runs_dir=str(tmp_path))
    assert why_apart(base, base.replace(alpha=0.1, temperature=8.0, lr=1e-3, loss="reverse_kl",
                                        baseline=True, eval_every=5, compile="on")) is None
    reason = why_apart(base, base.replace(**change))
    assert reason and words in reason
    with pytest.raises(InputError, match="cannot train side by side: .*" + words):
        check_together([base, base.replace(alpha=0.2), base.replace(**change)])


def test_the_queue_line_puts_compatible_waiting_runs_together(tmp_path):
    root = tmp_path / "runs"
    base = DistillConfig(steps=4, warmup=0, runs_dir=str(root))
    made = [Run.create(root, c.to_dict(), name=f"r{i}") for i, c in enumerate([
        base, base.replace(seed=3), base.replace(alpha=0.2), base.replace(temperature=7.0),
        base.replace(seed=3, alpha=0.1), base.replace(alpha=0.3)])]
    line = [[(r, r.status())] for r in made]
    grouped = gather(line, most=3)
    assert [[r.id for r, _ in entry] for entry in grouped] == [
        [made[0].id, made[2].id, made[3].id], [made[1].id, made[4].id], [made[5].id]]
    assert gather(line, most=1) == line


def test_the_queue_trains_compatible_waiting_runs_in_one_process(small_teacher_dir, tmp_path,
                                                                 monkeypatch):
    """One slot: the first run trains alone; the three that wait meanwhile, two of them
    compatible, start as one side-by-side process (then the third) when the slot frees."""
    import time

    for name in ("DISTILL_MAX_WAITING", "DISTILL_CLASSROOM_CONFIG", "DISTILL_MAX_STEPS",
                 "DISTILL_MAX_QUEUED_PER_SESSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    monkeypatch.setenv("DISTILL_MAX_TOGETHER", "4")
    root = tmp_path / "runs"
    base = _config(small_teacher_dir, tmp_path, steps=2, grad_accum=1, eval_every=0)
    first = jobs.launch(base)
    waiting = [jobs.launch(c) for c in (base.replace(alpha=0.2), base.replace(seed=5),
                                        base.replace(temperature=7.0))]
    assert [jobs.queue_position(r.id, root) for r in waiting] == [1, 2, 3]
    deadline = time.time() + 240
    while any(r.status().get("state") in ("queued", "running") for r in [first, *waiting]):
        assert time.time() < deadline, (first.path / "log.txt").read_text()[-2000:]
        time.sleep(0.3)
    statuses = [r.status() for r in (first, *waiting)]
    assert [s["state"] for s in statuses] == ["done"] * 4, (waiting[0].path / "log.txt")
    pairs = statuses[1], statuses[3]
    assert pairs[0]["pid"] == pairs[1]["pid"] != statuses[0]["pid"]  # one process for both
    assert pairs[0]["group"] == [waiting[0].id, waiting[2].id] == pairs[1]["group"]
    assert statuses[2]["pid"] != pairs[0]["pid"] and not statuses[2].get("group")
    assert all(r.summary()["steps"] == 2 for r in [first, *waiting])
