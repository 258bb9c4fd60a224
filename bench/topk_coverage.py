"""How many teacher tokens the cache must keep: probability mass covered and KD-loss error per k.

    python bench/topk_coverage.py

On the built-in teacher, its tinytales validation blocks and the builtin:half student as it is
before training (made from the teacher's layers, so its predictions are already close to the
teacher's, the hardest case for a sparse loss), prints per k: the mean teacher probability mass
in the top k, the KD loss (forward KL at T = 1 and T = 2) from the sparse targets against the
full-vocabulary loss, and the bytes a cached position takes. The last line is the chosen k.
"""

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.kd.losses import divergence, top_k
from distill_core.training.teacher_cache import DEFAULT_K, coverage
from distill_core.training.loop import load_blocks

KS = (4, 8, 16, 32, 64, 128, 256)


def main() -> None:
    teacher, tokenizer = models.load_teacher("builtin:teacher")
    student = models.load_student("builtin:half", teacher, seed=0).eval()
    _, val = load_blocks(DistillConfig(), tokenizer)
    blocks = val[:64]
    mass = coverage(teacher, blocks, KS)
    with torch.inference_mode():
        t_logits = teacher(input_ids=blocks).logits[:, :-1].float()
        s_logits = student(input_ids=blocks).logits[:, :-1].float()
    vocab = t_logits.shape[-1]
    print(f"teacher builtin:teacher, vocabulary {vocab}, {blocks.numel():,} tokens of tinytales "
          "validation text; student builtin:half before training")
    print(f"{'k':>5} {'mass in top k':>14} {'KL err T=1':>11} {'KL err T=2':>11} {'bytes/pos':>10}")
    for k in KS:
        errs = []
        for temperature in (1.0, 2.0):
            full = divergence(s_logits, t_logits, kind="forward_kl", temperature=temperature)
            sparse = divergence(s_logits, top_k(t_logits, k), kind="forward_kl",
                                temperature=temperature)
            errs.append(100 * (sparse - full).abs().item() / full.item())
        print(f"{k:>5} {100 * mass[k]:>13.2f}% {errs[0]:>10.2f}% {errs[1]:>10.2f}% "
              f"{k * 4 + 6:>10}")
    print(f"default k = {DEFAULT_K}")


if __name__ == "__main__":
    main()
