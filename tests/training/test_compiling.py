"""torch.compile of the training steps: same losses as eager, a failed compile falls back,
and auto compiles only where this machine's record says it pays."""

import json

import pytest

from distill_core import cli
from distill_core.config import DistillConfig
from distill_core.training import compiling
from distill_core.training.loop import distill


def _config(teacher_dir, tmp_path, **over):
    base = dict(teacher=str(teacher_dir), student="builtin:tiny", train_docs=200, steps=4,
                batch_size=4, seq_len=32, eval_every=0, eval_blocks=4, warmup=0,
                precision="fp32", runs_dir=str(tmp_path / "runs"), baseline=True)
    return DistillConfig(**{**base, **over})


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """This test's own record file (the compiled kernels stay in the shared kernel cache)."""
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_compiled_training_gives_the_eager_losses(small_teacher_dir, tmp_path, caches):
    eager = distill(_config(small_teacher_dir, tmp_path, compile="off"), store=False)
    compiled = distill(_config(small_teacher_dir, tmp_path, compile="on"), store=False)
    assert compiled.summary["compiled"] and not eager.summary["compiled"]
    assert compiled.summary["compile_s"] > 0  # reported apart from training time
    for a, b in zip(eager.history, compiled.history):
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-4)
        assert b["baseline_loss"] == pytest.approx(a["baseline_loss"], abs=2e-4)
    assert compiled.summary["student_loss"] == pytest.approx(eager.summary["student_loss"],
                                                             abs=2e-4)


def test_a_failed_compile_trains_eagerly_and_says_so_once(small_teacher_dir, tmp_path, caches,
                                                          monkeypatch):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here")

    monkeypatch.setattr(compiling, "BACKEND", broken_backend)
    notices = []
    result = distill(_config(small_teacher_dir, tmp_path, compile="on"), store=False,
                     on_event=lambda e: e["type"] == "notice" and notices.append(e["message"]))
    eager = distill(_config(small_teacher_dir, tmp_path, compile="off"), store=False)
    # (the equal-compute baseline says what it trains in a notice of its own)
    notices = [n for n in notices if "compile" in n]
    assert len(notices) == 1 and notices[0].startswith("torch.compile failed (")
    assert "training eagerly" in notices[0] and "\n" not in notices[0]
    assert not result.summary["compiled"] and result.summary["compile_note"] == notices[0]
    # the failed step was redone eagerly: the run is the eager run, to the last digit
    assert [r["loss"] for r in result.history] == [r["loss"] for r in eager.history]


def _record(cache, key, eager_s, compiled_s, cached_s=None):
    entry = {"eager_step_s": eager_s, "compiled_step_s": compiled_s,
             "measured_at": "2026-12-02", "first_compile_s": 30.0}
    if cached_s is not None:
        entry["cached_compile_s"] = cached_s
    cache.mkdir(parents=True, exist_ok=True)
    (cache / compiling.RECORD_FILE).write_text(json.dumps({key: entry}))


@pytest.mark.parametrize("steps, step_s, record, pays", [
    (1000, 0.1, None, False),  # no record: 99.8 s of eager steps left, under 180 s
    (2000, 0.1, None, True),  # no record: 199.8 s, over 180 s
    (300, 0.4, (0.4, 0.3, None), True),  # saves 25 % of 119 s = 30 s > 5 s (guessed reload)
    (300, 0.4, (0.4, 0.3, 40.0), False),  # ... < 40 s measured reload
    (300, 0.4, (0.4, 0.44, None), False),  # compiled was slower here: never pays
])
def test_auto_compiles_where_the_record_says_it_pays(caches, steps, step_s, record, pays):
    compiler = compiling.Compiler("auto", key="k")
    if record:
        _record(caches, "k", *record)
    compiler.stepped(1.0)  # the first eager step (warm-up) is not the basis
    assert not compiler.due(1, steps)
    compiler.stepped(step_s)
    assert compiler.due(compiling.DECIDE_AFTER, steps) is pays
    assert compiler.reason.startswith("compiled" if pays else "not compiled")


def test_a_compiled_run_writes_its_record_and_the_next_counts_as_a_reload(caches):
    compiler = compiling.Compiler("on", key="k")
    assert not compiler.due(0, 10)  # one eager step first
    compiler.stepped(0.5)
    assert compiler.due(1, 10)
    compiler.state = "compiling"
    assert compiler.stepped(20.5) == pytest.approx(0.5)  # 20 s of it was compiling
    compiler.stepped(0.3)
    first = json.loads((caches / compiling.RECORD_FILE).read_text())["k"]
    assert first["first_compile_s"] == pytest.approx(20.0) and "cached_compile_s" not in first
    again = compiling.Compiler("on", key="k", state="compiling", eager_step_s=0.5)
    again.stepped(3.5)
    again.stepped(0.3)
    second = json.loads((caches / compiling.RECORD_FILE).read_text())["k"]
    assert second["cached_compile_s"] == pytest.approx(3.0)
    assert second["first_compile_s"] == pytest.approx(20.0)


@pytest.mark.parametrize("flags, mode", [([], "auto"), (["--compile"], "on"),
                                         (["--no-compile"], "off"),
                                         (["--compile", "auto"], "auto")])
def test_compile_flags(flags, mode):
    args = cli.parser().parse_args(["run", *flags])
    assert cli.config_from_args(args).compile == mode
