"""How many teacher tokens the cache must keep: probability mass covered and KD-loss error per k.

    python bench/topk_coverage.py [--pair smollm2]

On the built-in teacher, its tinytales validation blocks and the builtin:half student as it is
before training (made from the teacher's layers, so its predictions are already close to the
teacher's, the hardest case for a sparse loss), prints per k: the mean teacher probability mass
in the top k, the KD loss (forward KL at T = 1 and T = 2) from the sparse targets against the
full-vocabulary loss, and the bytes a cached position takes (and MB per 1,000 tokens). The last
line is the chosen k. `--pair smollm2` does the same for the real pair: smollm2-135m (fetched
once) and its builtin:half-ends student on python-docs (16 validation blocks).
"""

import argparse

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.kd.losses import divergence, top_k
from distill_core.training.teacher_cache import DEFAULT_K, coverage
from distill_core.training.loop import load_blocks

KS = (4, 8, 16, 32, 64, 128, 256)


PAIRS = {"builtin": ("builtin:teacher", "builtin:half", "tinytales", 64),
         "smollm2": ("smollm2-135m", "builtin:half-ends", "python-docs", 16)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", choices=PAIRS, default="builtin")
    t_spec, s_spec, dataset, n_blocks = PAIRS[p.parse_args().pair]
    teacher, tokenizer = models.load_teacher(t_spec)
    student = models.load_student(s_spec, teacher, seed=0).eval()
    _, val = load_blocks(DistillConfig(teacher=t_spec, student=s_spec, dataset=dataset),
                         tokenizer)
    blocks = val[:n_blocks]
    mass = coverage(teacher, blocks, KS)
    with torch.inference_mode():
        t_logits = teacher(input_ids=blocks).logits[:, :-1].float()
        s_logits = student(input_ids=blocks).logits[:, :-1].float()
    vocab = t_logits.shape[-1]
    print(f"teacher {t_spec}, vocabulary {vocab}, {blocks.numel():,} tokens of {dataset} "
          f"validation text; student {s_spec} before training")
    print(f"{'k':>5} {'mass in top k':>14} {'KL err T=1':>11} {'KL err T=2':>11} {'bytes/pos':>10} "
          f"{'MB/1k tok':>10}")
    for k in KS:
        errs = []
        for temperature in (1.0, 2.0):
            full = divergence(s_logits, t_logits, kind="forward_kl", temperature=temperature)
            sparse = divergence(s_logits, top_k(t_logits, k), kind="forward_kl",
                                temperature=temperature)
            errs.append(100 * (sparse - full).abs().item() / full.item())
        print(f"{k:>5} {100 * mass[k]:>13.2f}% {errs[0]:>10.2f}% {errs[1]:>10.2f}% "
              f"{k * 4 + 6:>10} {(k * 4 + 6) * 1000 / 1e6:>10.3f}")
    print(f"default k = {DEFAULT_K}")


if __name__ == "__main__":
    main()
