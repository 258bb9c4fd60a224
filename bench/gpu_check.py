"""The project on a CUDA GPU: the default run and 50 steps of the real pair's recipe.

    python bench/gpu_check.py            # on a machine with CUDA; refuses (exit 2) without one
    python bench/gpu_check.py --quick    # fewer steps, to check it works

Prints, for each: the precision chosen (precision=auto times fp32 against bf16 on the GPU), training
tokens/s, MFU against the GPU's bf16 matmul peak measured here (4096 x 4096 multiplies), and the
peak GPU memory (torch.cuda.max_memory_allocated). The real pair is SmolLM2-135M -> its half-ends
student when the converted model is in the model cache; otherwise a SmolLM2-135M-shaped teacher
built from its config (random weights: the speed is the same, the perplexities mean nothing),
trained on the same python-docs blocks. The tests that need CUDA skip on a CPU with a reason.

A machine with torch, transformers and accelerate but not `datasets` can run it once the wheels
are brought along: `pip download datasets -d wheels` here, then `pip install --no-index
--find-links wheels datasets` there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch

from distill_core.config import DistillConfig
from distill_core.training import throughput
from distill_core.training.loop import distill
from distill_core.training.recipes import load_recipe


def real_pair_config(steps: int, runs_dir: str) -> tuple[DistillConfig, str]:
    """The smollm2-cpu recipe for `steps` steps, and which teacher it trains from."""
    config = load_recipe("smollm2-cpu").replace(steps=steps, baseline=False, eval_every=0,
                                                 runs_dir=runs_dir)
    from distill_core import models

    if models.model_folder(models.resolve(config.teacher)) is not None:  # converted here
        return config, "SmolLM2-135M (converted, cached)"
    import real_pair_speed  # not converted here: its shape from the config

    folder = os.path.join(runs_dir, "smollm2-shaped")
    teacher = real_pair_speed.smollm2_shaped()
    teacher.save_pretrained(folder, safe_serialization=True)
    _save_tokenizer(folder)
    return config.replace(teacher=folder), "a SmolLM2-135M-shaped model, random weights"


def _save_tokenizer(folder: str) -> None:
    """The built-in tokenizer beside the shaped model (its ids fit SmolLM2's 49,152 rows)."""
    from distill_core import models

    models.load_tokenizer("builtin:teacher").save_pretrained(folder)


def one(name: str, config: DistillConfig, peak_bf16: float) -> dict:
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    s = distill(config, store=False).summary
    wall = time.perf_counter() - start
    flops = s["mfu"] * throughput.matmul_peak(
        "bf16" if s["precision"] == "bf16" else "fp32", device="cuda")
    return {"name": name, "precision": s["precision"], "tokens_per_s": s["train_tokens_per_s"],
            "mfu_bf16": flops / peak_bf16, "peak_gb": torch.cuda.max_memory_allocated() / 1e9,
            "wall_s": wall, "student_ppl": s.get("student_ppl")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False)",
              file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="gpu-check-")
    name = torch.cuda.get_device_name()
    peak = throughput.matmul_peak("bf16", device="cuda")
    print(f"GPU: {name}; bf16 matmul peak measured here {peak / 1e12:.0f} TFLOP/s; "
          f"torch {torch.__version__}")
    default = DistillConfig(runs_dir=work, steps=20 if args.quick else 150)
    real, which = real_pair_config(10 if args.quick else 50, work)
    rows = [one("default run (builtin:teacher -> builtin:half)", default, peak),
            one(f"real pair, {real.steps} steps ({which})", real, peak)]
    print(f"\n{'':58} {'precision':>9} {'tokens/s':>9} {'MFU bf16':>8} {'peak GB':>8}")
    for r in rows:
        print(f"{r['name']:58} {r['precision']:>9} {r['tokens_per_s']:>9.0f} "
              f"{r['mfu_bf16']:>8.2f} {r['peak_gb']:>8.2f}")
    print(f"gpu: {name} default_tokens_per_s={rows[0]['tokens_per_s']:.0f} "
          f"real_tokens_per_s={rows[1]['tokens_per_s']:.0f} mfu={rows[1]['mfu_bf16']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
