"""The distillation loop on small models built from a config (fp32, so results are exact)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from distill_core.config import DistillConfig
from distill_core.train import batch_order, distill, micro_batches


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
    (run_dir,) = (tmp_path / "runs").iterdir()
    two = json.loads((run_dir / "summary.json").read_text())
    assert two["processes"] == 2
    one = distill(config.replace(name="one"), store=False).summary
    assert two["student_loss"] == pytest.approx(one["student_loss"], rel=1e-4)
