"""On-policy distillation here against TRL's DistillationTrainer, the same work on both sides.

    python bench/on_policy_vs_trl.py           # alone; bench/vs_trl.py also runs it and prints its ratio
    python bench/on_policy_vs_trl.py --quick   # a smoke run of the same code, numbers not meaningful

Both sides train builtin:half from builtin:teacher on the student's own continuations only
(λ = 1: every row of every batch is written by the student): the same prompts (the first
`prefix` tokens of the same tinytales blocks, in the same order), the same completion length
(seq_len − prefix new tokens, sampled at temperature 1 from the full distribution, the end-of-text
token not allowed to stop a row early on TRL's side: `min_new_tokens`), forward KL at T = 1, pure
distillation (α = 1), the same batch size, steps, learning-rate schedule, AdamW settings and
precision. What differs is each side's own design: TRL scores the completion tokens only, we score
every position of the block (prompt and completion), so we do slightly more loss work per row.

tokens/s counts prompt + completion tokens of the rows trained, over the optimiser steps' time
(TRL: `train_runtime`; ours: the summary's training time), generation included on both sides.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.training.loop import batch_order, distill, mixed_precision, prepare


def on_policy_config(base: DistillConfig, steps: int, batch_size: int, prefix: int) -> DistillConfig:
    """The on-policy run both sides do: λ = 1, α = 1, T = 1, forward KL."""
    return base.replace(on_policy=1.0, on_policy_prefix=prefix, on_policy_temperature=1.0,
                        alpha=1.0, temperature=1.0, loss="forward_kl", steps=steps,
                        batch_size=batch_size, warmup=max(1, steps // 10), baseline=False,
                        teacher_cache=False)


def ours(config: DistillConfig, prepared) -> dict:
    start = time.perf_counter()
    s = distill(config, prepared=prepared, store=False).summary
    return {"tokens_per_s": s["train_tokens_per_s"], "wall_s": time.perf_counter() - start,
            "train_s": s["tokens"] / s["train_tokens_per_s"]}


def prompts_in_order(config: DistillConfig, prepared) -> list[str]:
    """The prompt text of every row we train on, in our order: the blocks' first `prefix` tokens."""
    order = batch_order(len(prepared.train_blocks), config.batch_size, config.steps, config.seed)
    heads = prepared.train_blocks[order.flatten()][:, :config.on_policy_prefix_tokens]
    return [prepared.tokenizer.decode(row.tolist()) for row in heads]


def trl(config: DistillConfig, prepared, out_dir: str) -> dict:
    from datasets import Dataset
    from trl import DistillationConfig, DistillationTrainer

    class InOrder(DistillationTrainer):  # the same prompts as ours, in the same order
        def _get_train_sampler(self, dataset=None):
            return torch.utils.data.SequentialSampler(dataset or self.train_dataset)

    start = time.perf_counter()
    new = config.seq_len - config.on_policy_prefix_tokens
    data = Dataset.from_dict({"prompt": prompts_in_order(config, prepared)})
    student = models.load_student(config.student, prepared.teacher, seed=config.seed)
    args = DistillationConfig(
        output_dir=out_dir, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1, max_steps=config.steps, learning_rate=config.lr,
        lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=config.warmup, weight_decay=config.weight_decay, adam_beta1=0.9,
        adam_beta2=0.95, max_grad_norm=config.grad_clip, beta=0.0, temperature=1.0,
        top_p=1.0, top_k=0, max_completion_length=new,
        generation_kwargs={"min_new_tokens": new}, shuffle_dataset=False,
        use_cpu=not torch.cuda.is_available(),
        bf16=mixed_precision(config.precision) == "bf16", fp16=False,
        gradient_checkpointing=False, report_to="none", save_strategy="no",
        logging_steps=max(1, config.steps), disable_tqdm=True, seed=config.seed,
        dataloader_num_workers=0)
    trainer = InOrder(model=student, teacher_model=prepared.teacher, args=args,
                      train_dataset=data, processing_class=prepared.tokenizer)
    train_s = trainer.train().metrics["train_runtime"]
    return {"tokens_per_s": config.steps * config.batch_size * config.seq_len / train_s,
            "wall_s": time.perf_counter() - start, "train_s": train_s}


def compare(base: DistillConfig, prepared, work: str, *, steps: int, batch_size: int,
            prefix: int) -> dict:
    """Both sides, one after the other; returns {"ours": …, "trl": …, "ratio": ours/TRL}."""
    config = on_policy_config(base, steps, batch_size, prefix)
    a = ours(config, prepared)
    b = trl(config, prepared, os.path.join(work, "trl-on-policy"))
    return {"ours": a, "trl": b, "ratio": a["tokens_per_s"] / b["tokens_per_s"],
            "config": config}


def report(result: dict) -> None:
    c = result["config"]
    print(f"\non-policy (λ = 1, {c.steps} steps of {c.batch_size} rows: {c.on_policy_prefix_tokens}"
          f"-token prompts + {c.seq_len - c.on_policy_prefix_tokens} sampled tokens, forward KL, T 1)")
    for name, r in (("ours", result["ours"]), ("TRL DistillationTrainer", result["trl"])):
        print(f"  {name:24} {r['tokens_per_s']:>8.0f} tokens/s  {r['train_s']:>7.1f} s train "
              f"{r['wall_s']:>7.1f} s wall")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    steps, batch = (2, 2) if args.quick else (args.steps, args.batch_size)
    from distill_core.cli import quiet_libraries

    quiet_libraries()
    work = tempfile.mkdtemp(prefix="on-policy-vs-trl-")
    base = DistillConfig(seq_len=128, eval_every=0, eval_blocks=8, precision="fp32",
                         runs_dir=os.path.join(work, "runs"))
    result = compare(base, prepare(base), work, steps=steps, batch_size=batch, prefix=64)
    report(result)
    print(f"ratios: on_policy_vs_trl={result['ratio']:.2f}")


if __name__ == "__main__":
    main()
