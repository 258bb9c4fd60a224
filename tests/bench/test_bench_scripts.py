"""The benchmarks that vs_trl.py runs, run for real in their quick form (numbers not checked:
timings belong to the benches, not to tests), and the GPU check's behaviour without a GPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def bench(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, check=False,
                          text=True, env=ENV, timeout=timeout, cwd=BENCH.parent)


def test_on_policy_against_trl_trains_both_sides_and_prints_the_ratio():
    pytest.importorskip("trl")
    out = bench("on_policy_vs_trl.py", "--quick")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert any(line.strip().startswith("TRL DistillationTrainer") for line in lines)
    ratio = float(lines[-1].split("on_policy_vs_trl=")[1])
    assert ratio > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_in_one_line_without_cuda():
    out = bench("gpu_check.py", "--quick", timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "gpu_check: no CUDA device here (torch.cuda.is_available() is False)"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.py)")
def test_gpu_check_runs_on_cuda():
    out = bench("gpu_check.py", "--quick")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("gpu: ")


def test_recipe_seeds_runs_each_seed_and_states_the_paired_verdict():
    """Two seeds of the classroom recipe cut to a few steps: a row per seed in the recipe's
    unit (perplexity: one tokenizer), then the verdict line with the budget."""
    out = bench("recipe_seeds.py", "classroom", "--seeds", "0,1", "--steps", "3",
                "--warmup", "0", "--eval-every", "0", "--eval-blocks", "4", "--train-docs", "40",
                "--precision", "fp32")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    seeds = [line for line in lines if line.strip().startswith("seed ")]
    assert [line.split()[1] for line in seeds] == ["0", "1"]
    assert all("gap closed" in line and "baseline" in line for line in seeds)
    last = lines[-1]
    assert last.startswith("classroom: the distilled student against its baseline (perplexity, "
                           "paired by seed): ")
    assert "within the 600 s budget" in last

