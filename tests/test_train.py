"""The distillation loop on small models built from a config (fp32, so results are exact)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from distill_core.config import DistillConfig
from distill_core.training.loop import batch_order, distill, micro_batches


def _config(teacher_dir, tmp_path, **over):
    base = dict(teacher=str(teacher_dir), student="builtin:half", train_docs=200, steps=4,
                batch_size=8, seq_len=32, warmup=1, eval_every=0, eval_blocks=4, lr=3e-3,
                precision="fp32", runs_dir=str(tmp_path / "runs"))
    return DistillConfig(**{**base, **over})


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_gradient_accumulation_does_not_change_the_update(small_teacher_dir, tmp_path):
    one = distill(_config(small_teacher_dir, tmp_path, grad_accum=1), store=False)
    four = distill(_config(small_teacher_dir, tmp_path, grad_accum=4), store=False)
    assert torch.allclose(_weights(one.student), _weights(four.student), atol=1e-5)
    assert one.history[-1]["loss"] == pytest.approx(four.history[-1]["loss"], rel=1e-5)


def test_same_seed_same_curves_other_seed_differs(small_teacher_dir, tmp_path):
    a = distill(_config(small_teacher_dir, tmp_path, seed=1), store=False)
    b = distill(_config(small_teacher_dir, tmp_path, seed=1), store=False)
    c = distill(_config(small_teacher_dir, tmp_path, seed=2), store=False)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_baseline_sees_identical_batches_and_initial_weights(small_teacher_dir, tmp_path):
    # With alpha = 0 the distilled student *is* a baseline: both must match step for step.
    result = distill(_config(small_teacher_dir, tmp_path, alpha=0.0, baseline=True), store=False)
    for record in result.history:
        assert record["loss"] == pytest.approx(record["baseline_loss"], abs=1e-6)
    assert result.summary["student_ppl"] == pytest.approx(result.summary["baseline_ppl"])


def test_batches_split_the_same_global_batch_whatever_the_layout():
    order = batch_order(n_blocks=50, batch_size=8, steps=10, seed=0)
    assert order.shape == (10, 8)
    assert len(set(order[:6].flatten().tolist())) == 48  # an epoch has no repeats
    for world, accum in ((1, 1), (1, 4), (2, 2), (2, 1)):
        parts = [micro_batches(order[3], world, r, accum) for r in range(world)]
        got = sorted(torch.cat([m for p in parts for m in p]).tolist())
        assert got == sorted(order[3].tolist())


def test_run_store_and_summary(small_teacher_dir, tmp_path):
    result = distill(_config(small_teacher_dir, tmp_path, baseline=True, eval_every=2))
    run = result.run
    assert run.status()["state"] == "done"
    metrics = run.metrics()
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert {"val_ppl", "agreement", "kl", "baseline_val_ppl"} <= set(metrics[1])
    s = run.summary()
    assert s["retention_pct"] == pytest.approx(100 * s["teacher_ppl"] / s["student_ppl"])
    gap = (s["baseline_loss"] - s["student_loss"]) / (s["baseline_loss"] - s["teacher_loss"])
    assert s["gap_closed_pct"] == pytest.approx(100 * gap)
    assert s["speedup"] > 0 and 0 < s["size_ratio"] < 1
    assert (run.student_dir / "model.safetensors").exists()
    assert (run.baseline_dir / "model.safetensors").exists()
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(run.student_dir)
    assert torch.equal(_weights(reloaded), _weights(result.student))


def test_two_accelerate_processes_match_one(small_teacher_dir, tmp_path):
    config = _config(small_teacher_dir, tmp_path, steps=3, name="two")
    path = tmp_path / "config.json"
    config.to_json(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # On a CPU machine --multi_gpu starts the processes through torch.distributed; the loop's
    # Accelerator(cpu=True) then joins them in a gloo group.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "distill_core.cli", "run", "--config", str(path), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    two = json.loads((run_dir / "summary.json").read_text())
    assert two["processes"] == 2
    one = distill(config.replace(name="one"), store=False).summary
    assert two["student_loss"] == pytest.approx(one["student_loss"], rel=1e-4)


# ---------------------------------------------------------------- the teacher cache in training

import signal  # noqa: E402

from distill_core.training import evaluate, teacher_cache, throughput  # noqa: E402
from distill_core import models  # noqa: E402
from distill_core.errors import InputError  # noqa: E402
from distill_core.store.runs import Run, load_run  # noqa: E402
from distill_core.training.loop import Cancelled, prepare, resume_run  # noqa: E402


@pytest.fixture(scope="module")
def peaked_teacher_dir(small_teacher_dir, tmp_path_factory):
    """The small teacher with its final layer norm scaled up: same weights otherwise, but peaked
    next-token distributions (the random one is almost uniform, so every KD loss is ~0)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(small_teacher_dir)
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(10.0)
    folder = tmp_path_factory.mktemp("peaked-teacher")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(small_teacher_dir).save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def _no_shared_cache(monkeypatch):
    monkeypatch.delenv(teacher_cache.CACHE_DIR_ENV, raising=False)


def _vocab_of(teacher_dir):
    return models.load_teacher(str(teacher_dir))[0].get_output_embeddings().weight.shape[0]


def _kd_config(teacher_dir, tmp_path, **over):
    return _config(teacher_dir, tmp_path, **{"student": "builtin:tiny", "alpha": 1.0,
                                             "temperature": 1.0, **over})


def test_cached_run_with_full_top_k_matches_live_run(peaked_teacher_dir, tmp_path):
    v = _vocab_of(peaked_teacher_dir)
    live = distill(_kd_config(peaked_teacher_dir, tmp_path), store=False)
    cached = distill(_kd_config(peaked_teacher_dir, tmp_path, teacher_cache=True, top_k=v),
                     store=False)
    few = distill(_kd_config(peaked_teacher_dir, tmp_path, teacher_cache=True, top_k=4),
                  store=False)
    assert live.summary["teacher_mode"] == "live"
    assert cached.summary["teacher_mode"] == cached.summary["teacher_mode"] == "cached"
    assert live.summary["kl"] > 0.5  # a teacher worth distilling from
    # k = V: only the fp16 storage of the teacher's log-probs separates the two
    assert cached.summary["student_loss"] == pytest.approx(live.summary["student_loss"],
                                                           rel=1e-4)
    assert cached.summary["teacher_loss"] == pytest.approx(live.summary["teacher_loss"],
                                                           rel=1e-6)
    assert cached.summary["agreement"] == pytest.approx(live.summary["agreement"], abs=0.01)
    curve = [r["loss"] for r in live.history]
    assert [r["loss"] for r in cached.history] == pytest.approx(curve, rel=1e-3)
    # ... and the comparison is sharp enough to see a top-4 cache
    assert [r["loss"] for r in few.history] != pytest.approx(curve, rel=1e-3)


def test_cached_run_with_small_top_k_still_learns(peaked_teacher_dir, tmp_path):
    result = distill(_kd_config(peaked_teacher_dir, tmp_path, teacher_cache=True, top_k=4,
                                steps=6, eval_every=1), store=False)
    kl = [r["kl"] for r in result.history]
    agreement = [r["agreement"] for r in result.history]
    losses = [r["loss"] for r in result.history]
    assert kl[-1] < 0.95 * kl[0] and agreement[-1] > agreement[0]
    assert losses[-1] < losses[0]
    assert result.summary["teacher_cache_k"] == 4


def test_second_cached_run_does_not_run_the_teacher(peaked_teacher_dir, tmp_path):
    config = _kd_config(peaked_teacher_dir, tmp_path, teacher_cache=True, top_k=16)
    first = distill(config).summary
    second = distill(config.replace(alpha=0.5, temperature=2.0)).summary
    order = batch_order(len(prepare(config).train_blocks), config.batch_size, config.steps,
                        config.seed)
    assert first["teacher_cache_computed"] == len(order.unique()) > 0
    assert second["teacher_cache_computed"] == 0
    assert second["teacher_cache_key"] == first["teacher_cache_key"]
    assert second["teacher_cache_blocks"] == first["teacher_cache_blocks"] == len(order.unique())
    assert first["teacher_mode"] == second["teacher_mode"] == "cached"
    assert first["teacher_cache_disk_mb"] > 0 and first["teacher_cache_batch_mb"] > 0
    root = teacher_cache.cache_root(config.runs_dir)
    assert root == tmp_path / "runs" / "_teacher_cache"
    assert len(teacher_cache.list_caches(root)) == 2  # train and validation blocks


def test_compare_cached_equals_compare(peaked_teacher_dir, tmp_path):
    teacher, tok = models.load_teacher(str(peaked_teacher_dir))
    v = teacher.get_output_embeddings().weight.shape[0]
    student = models.load_student("builtin:tiny", teacher, seed=0)
    blocks = prepare(_config(peaked_teacher_dir, tmp_path)).val_blocks[:10]
    full = evaluate.compare(student, teacher, blocks, batch_size=4)
    kls = []
    for k in (v, 4):
        cache = teacher_cache.open_cache(tmp_path / "cache", teacher, tok, blocks, k, "no", v)
        cache.fill(teacher, blocks, torch.arange(len(blocks)))
        got = evaluate.compare_cached(student, cache, blocks, batch_size=4)
        assert got["tokens"] == full["tokens"]
        assert got["student_loss"] == pytest.approx(full["student_loss"], rel=1e-6)
        assert got["teacher_loss"] == pytest.approx(full["teacher_loss"], rel=1e-6)
        assert got["teacher_ppl"] == pytest.approx(full["teacher_ppl"], rel=1e-6)
        assert got["agreement"] == pytest.approx(full["agreement"], abs=1e-9)
        kls.append(got["kl"])
    assert kls[0] == pytest.approx(full["kl"], rel=2e-3)  # k = V: exact up to fp16
    assert kls[1] < full["kl"]  # k + 1 buckets: a lower bound
    assert 0.0 < full["agreement"] < 1.0


def test_summary_flops_per_token_and_mfu(peaked_teacher_dir, tmp_path):
    teacher = models.load_teacher(str(peaked_teacher_dir))[0]
    n_teacher = throughput.matmul_params(teacher)
    for over, teacher_runs, students in (({"baseline": True}, True, 2),
                                         ({"teacher_cache": True}, False, 1),
                                         ({"alpha": 0.0}, False, 1)):
        result = distill(_kd_config(peaked_teacher_dir, tmp_path, **over), store=False)
        s = result.summary
        n_student = throughput.matmul_params(result.student)
        assert n_student < s["student_params"]  # position (and untied) embeddings left out
        want = 6 * n_student * students + (2 * n_teacher if teacher_runs else 0)
        assert s["flops_per_token"] == want, over
        assert s["teacher_mode"] == ("cached" if over.get("teacher_cache") else "live")
        assert s["train_tokens_per_s"] == result.history[-1]["tokens_per_s"] > 0
        assert 0 < s["mfu"] < 1.5
        assert s["mfu"] == pytest.approx(
            s["train_tokens_per_s"] * want / throughput.matmul_peak("fp32"))


def test_mfu_peak_is_measured_on_the_training_device(small_teacher_dir, tmp_path, monkeypatch):
    seen, real = [], throughput.matmul_peak

    def spy(dtype="fp32", *args, **kwargs):
        seen.append(kwargs.get("device"))
        return real(dtype, *args, **kwargs)

    monkeypatch.setattr(throughput, "matmul_peak", spy)
    result = distill(_config(small_teacher_dir, tmp_path, steps=1), store=False)
    trained_on = next(result.student.parameters()).device
    assert [str(d) for d in seen] == [str(trained_on)]  # not the CPU when it trains on a GPU
    assert result.summary["mfu"] > 0


# ---------------------------------------------------------------- checkpoints and resume


def _resume_config(teacher_dir, tmp_path, **over):
    return _kd_config(teacher_dir, tmp_path, **{"alpha": 0.7, "temperature": 2.0, "steps": 6,
                                                "checkpoint_every": 2, "teacher_cache": True,
                                                "top_k": 8, **over})


def _final(summary):
    return summary["student_loss"], summary["agreement"], summary["kl"]


@pytest.fixture(scope="module")
def uninterrupted(peaked_teacher_dir, tmp_path_factory):
    """The cached-teacher run the interrupted ones must reproduce, and what it saw on the way."""
    tmp_path = tmp_path_factory.mktemp("whole")
    config = _resume_config(peaked_teacher_dir, tmp_path)
    seen = []

    def watch(e):
        if e["type"] in ("step", "eval"):
            seen.append((e["step"], [p.name for p in (tmp_path / "runs").glob("*/checkpoint")]))

    return distill(config.replace(name="whole"), on_event=watch), seen


def test_cancelled_run_resumes_to_the_uninterrupted_result(peaked_teacher_dir, tmp_path,
                                                           uninterrupted):
    whole, seen = uninterrupted
    assert seen[2] == (3, ["checkpoint"])  # saved at step 2, still there at step 3
    assert not whole.run.checkpoint_dir.exists()  # finished: removed
    config = _resume_config(peaked_teacher_dir, tmp_path)

    def stop_at_3(e):
        if e["type"] == "step" and e["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Cancelled):
        distill(config.replace(name="cut"), on_event=stop_at_3)
    (run_dir,) = [r for r in (tmp_path / "runs").iterdir() if "cut" in r.name]
    run = load_run(run_dir.name, config.runs_dir)
    assert run.status()["state"] == "cancelled"
    assert (run.checkpoint_dir / "state.pt").exists()
    assert [m["step"] for m in run.metrics()] == [1, 2, 3]

    resumed = resume_run(run)
    assert run.status()["state"] == "done"
    assert _final(resumed.summary) == _final(whole.summary)  # exactly
    assert [m["step"] for m in run.metrics()] == [1, 2, 3, 4, 5, 6]
    assert [m["loss"] for m in run.metrics()] == [m["loss"] for m in whole.run.metrics()]
    assert resumed.summary["tokens"] == whole.summary["tokens"]
    # its own cache (another runs root): the resumed part computes only the blocks of steps 4-6
    # that steps 1-3 did not already cache
    order = batch_order(len(prepare(config).train_blocks), config.batch_size, 6, config.seed)
    new_blocks = set(order[3:].flatten().tolist()) - set(order[:3].flatten().tolist())
    assert resumed.summary["teacher_cache_computed"] == len(new_blocks) > 0
    assert not run.checkpoint_dir.exists()
    assert torch.equal(_weights(resumed.student), _weights(whole.student))


def test_failed_run_resumes_from_its_last_checkpoint(peaked_teacher_dir, tmp_path,
                                                     uninterrupted):
    whole, _ = uninterrupted
    config = _resume_config(peaked_teacher_dir, tmp_path)

    def crash_at_3(e):
        if e["type"] == "step" and e["step"] == 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        distill(config.replace(name="crash"), on_event=crash_at_3)
    (run_dir,) = [r for r in (tmp_path / "runs").iterdir() if "crash" in r.name]
    run = load_run(run_dir.name, config.runs_dir)
    assert run.status()["state"] == "failed"
    assert [m["step"] for m in run.metrics()] == [1, 2, 3]  # step 3 is after the checkpoint
    resumed = resume_run(run)
    assert [m["step"] for m in run.metrics()] == [1, 2, 3, 4, 5, 6]  # step 3 redone, once
    assert _final(resumed.summary) == _final(whole.summary)
    assert torch.equal(_weights(resumed.student), _weights(whole.student))


def test_resume_refuses_done_runs_and_runs_without_checkpoint(peaked_teacher_dir, tmp_path):
    config = _resume_config(peaked_teacher_dir, tmp_path, steps=2)
    done = distill(config).run
    with pytest.raises(InputError, match="only a cancelled or failed"):
        resume_run(done)
    bare = Run.create(tmp_path / "runs", config.to_dict(), name="bare")
    bare.set_status("failed", error="crashed before any checkpoint")
    with pytest.raises(InputError, match="no checkpoint"):
        resume_run(bare)
    running = Run.create(tmp_path / "runs", config.to_dict(), name="alive")
    running.set_status("running", pid=os.getpid())  # its process is alive: not resumable
    with pytest.raises(InputError, match="only a cancelled or failed"):
        resume_run(running)


def test_resume_refuses_a_checkpoint_missing_a_tensor(peaked_teacher_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    config = _resume_config(peaked_teacher_dir, tmp_path, steps=4, name="torn")

    def stop_at_3(e):
        if e["type"] == "step" and e["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Cancelled):
        distill(config, on_event=stop_at_3)
    (run_dir,) = (tmp_path / "runs").glob("*torn*")
    run = load_run(run_dir.name, config.runs_dir)
    path = str(run.checkpoint_dir / "student.safetensors")
    weights = load_file(path)
    del weights["transformer.h.0.mlp.c_proj.weight"]
    save_file(weights, path)
    with pytest.raises(InputError, match="'transformer.h.0.mlp.c_proj.weight' is missing"):
        resume_run(run)
    assert run.status()["state"] == "failed"
    assert "transformer.h.0.mlp.c_proj.weight" in run.status()["error"]


# ---------------------------------------------------------------- trackers and warmup


def test_report_to_tensorboard_logs_the_records_under_the_run(small_teacher_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = distill(_config(small_teacher_dir, tmp_path, steps=3, eval_every=2,
                             report_to="tensorboard"))
    folder = result.run.path / "trackers" / "distill-playground"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder)).Reload()
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]
    assert events.Scalars("loss")[-1].value == pytest.approx(result.history[-1]["loss"])
    assert [e.step for e in events.Scalars("val_ppl")] == [2, 3]
    assert len(result.run.metrics()) == 3  # the run folder keeps them too


def test_warmup_defaults_to_a_tenth_of_the_steps(small_teacher_dir, tmp_path):
    result = distill(_config(small_teacher_dir, tmp_path, steps=20, warmup=None, lr=1e-3),
                     store=False)
    lrs = [r["lr"] for r in result.history]
    cosine = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 18)))
    assert lrs[:4] == pytest.approx([5e-4, 1e-3, 1e-3, cosine])  # 2 warmup steps, then the
    # cosine over the other 18
