"""This project against TRL's GKD trainer, side by side in one process on this machine.

    python bench/vs_trl.py            # 8 min 37 s on this 2-core CPU (2026-11-29)
    python bench/vs_trl.py --quick    # a smoke run of the same code, numbers not meaningful

The built-in pair (builtin:teacher -> builtin:half) trains on the same tinytales token blocks, in
the same order, with the same batch size, sequence length, steps, learning-rate schedule, AdamW
settings and precision, with pure forward-KL distillation at T = 1 (TRL's GKD loss is at T = 1;
lmbda = 0: no generation; beta = 0: forward KL):

    (a) this project, teacher live        (b) this project, teacher cached (warm cache)
    (c) TRL GKDTrainer                    (d) the student alone: the same steps at alpha 0,
                                              no teacher at all (what no caching can beat)

The precision is decided once, the way `precision=auto` decides a run's (timed here), and both
sides train in it. Our runs use the default `compile=auto` (the compile time is left out of
tokens/s, like evaluation; it is printed).

Each reports training tokens/s (optimiser steps only: evaluation and start-up left out), wall
time and the final validation loss on the same validation blocks. Then a 9-run alpha x T sweep
(`distill_core.training.sweep`, from a cold teacher cache) against 9 TRL runs of the same length; both
sides get the token blocks ready-made and include creating models, training and a final
evaluation (TRL has no alpha or T to vary, so its 9 runs time the same work). The last line:

Then on-policy distillation against TRL's DistillationTrainer (bench/on_policy_vs_trl.py: the
same prompts, completion length, λ = 1, divergence and precision), the real pair's training step
before and after the fused head (bench/real_pair_speed.py) and the fused loss's peak memory at
V = 49,152 for a 16 x 128 batch beyond the gradients it returns (bench/loss_memory.py). The last
line:

    ratios: live_vs_trl=<a/c tokens/s> cached_vs_trl=<b/c tokens/s> sweep_vs_trl=<9 TRL runs'
            time / our sweep's time> mfu=<fraction of the measured matmul peak for (a)>
            student_only_vs_trl=<d/c tokens/s> student_only_step_s=<(d)'s seconds per step>
            val_loss_vs_trl=<(a)'s final validation loss - TRL's, nats>
            on_policy_vs_trl=<ours / TRL DistillationTrainer tokens/s>
            real_pair_fused_vs_logits=<after / before tokens/s> loss_beyond_grads_mb=<MB>
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import loss_memory
import on_policy_vs_trl
import real_pair_speed
import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.machine import describe_machine
from distill_core.training import evaluate, sweep, throughput
from distill_core.training.loop import (
    batch_order,
    decide_precision,
    distill,
    mixed_precision,
    prepare,
)

ALPHAS, TEMPERATURES = (0.5, 0.9, 1.0), (1.0, 2.0, 4.0)


def our_run(config, prepared) -> dict:
    start = time.perf_counter()
    result = distill(config, prepared=prepared, store=False)
    wall = time.perf_counter() - start
    s = result.summary
    return {"tokens_per_s": s["train_tokens_per_s"], "wall_s": wall,
            "train_s": s["tokens"] / s["train_tokens_per_s"], "val_loss": s["student_loss"],
            "mfu": s["mfu"], "teacher_mode": s["teacher_mode"], "compile_s": s["compile_s"],
            "compiled": s["compiled"]}


def trl_run(config, prepared, teacher, val_blocks, out_dir) -> dict:
    """TRL's GKDTrainer on our exact batches: a sequential sampler over blocks in our order."""
    from datasets import Dataset
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    class InOrder(GKDTrainer):  # same batches as ours, in the same order
        def _get_train_sampler(self, train_dataset=None):
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

    def collate(rows):
        x = torch.tensor([r["input_ids"] for r in rows])
        ones = torch.ones_like(x)
        return {"input_ids": x, "attention_mask": ones, "labels": x.clone(),
                "prompts": x[:, :1], "prompt_attention_mask": ones[:, :1]}

    start = time.perf_counter()
    order = batch_order(len(prepared.train_blocks), config.batch_size, config.steps, config.seed)
    data = Dataset.from_dict({"input_ids": prepared.train_blocks[order.flatten()].tolist()})
    student = models.load_student(config.student, teacher, seed=config.seed)
    bf16 = mixed_precision(config.precision) == "bf16"
    args = GKDConfig(
        output_dir=out_dir, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1, max_steps=config.steps, learning_rate=config.lr,
        lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=config.warmup, weight_decay=config.weight_decay, adam_beta1=0.9,
        adam_beta2=0.95, max_grad_norm=config.grad_clip, lmbda=0.0, beta=0.0, seq_kd=False,
        use_cpu=not torch.cuda.is_available(), bf16=bf16, fp16=False,
        gradient_checkpointing=False, report_to="none", save_strategy="no",
        logging_steps=max(1, config.steps), disable_tqdm=True, seed=config.seed,
        dataloader_num_workers=0, max_length=config.seq_len)
    trainer = InOrder(model=student, teacher_model=teacher, args=args, train_dataset=data,
                      processing_class=prepared.tokenizer, data_collator=collate)
    out = trainer.train()
    wall = time.perf_counter() - start
    train_s = out.metrics["train_runtime"]
    val_loss = evaluate.mean_loss(trainer.model, val_blocks)
    return {"tokens_per_s": config.steps * config.batch_size * config.seq_len / train_s,
            "wall_s": wall, "train_s": train_s, "val_loss": val_loss}


def fresh(prepared):
    """The same teacher and token blocks with no teacher cache opened yet (a cold start)."""
    return type(prepared)(prepared.teacher, prepared.tokenizer, prepared.train_blocks,
                          prepared.val_blocks, prepared.key)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--sweep-steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.steps, args.sweep_steps, args.batch_size, args.seq_len = 6, 3, 4, 64
    from distill_core.cli import quiet_libraries

    quiet_libraries()
    work = tempfile.mkdtemp(prefix="vs_trl-")
    os.environ["DISTILL_CACHE_DIR"] = os.path.join(work, "cache")
    config = DistillConfig(
        alpha=1.0, temperature=1.0, loss="forward_kl", steps=args.steps,
        batch_size=args.batch_size, seq_len=args.seq_len, warmup=max(1, args.steps // 10),
        eval_every=0, eval_blocks=64, baseline=False, runs_dir=os.path.join(work, "runs"))
    prepared = prepare(config)
    choice = decide_precision(config, prepared, torch.device("cpu"))
    config = config.replace(precision=choice["precision"])
    teacher = prepared.teacher
    val = prepared.val_blocks[:config.eval_blocks]
    precision = mixed_precision(config.precision)
    print(f"machine: {describe_machine()}, "
          f"{torch.get_num_threads()} threads, precision {precision} (timed: fp32 "
          f"{choice.get('fp32_step_s') or float('nan'):.3f} s, bf16 "
          f"{choice.get('bf16_step_s') or float('nan'):.3f}"
          f" s a step), Python {platform.python_version()}")
    print(f"work: builtin:teacher -> builtin:half, {config.steps} steps of {config.batch_size} x "
          f"{config.seq_len} tokens, alpha 1, T 1, forward KL; sweep cells {args.sweep_steps} "
          "steps")

    results = {}
    results["a: ours, teacher live"] = our_run(config, prepared)
    cached = config.replace(teacher_cache=True)
    start = time.perf_counter()
    distill(cached.replace(steps=config.steps), prepared=prepared, store=False)  # fills the cache
    cache_build_s = time.perf_counter() - start
    results["b: ours, teacher cached"] = our_run(cached, prepared)
    results["c: TRL GKDTrainer"] = trl_run(config, prepared, teacher, val,
                                           os.path.join(work, "trl"))
    results["d: student alone, no teacher"] = our_run(config.replace(alpha=0.0), prepared)
    print(f"\n{'':30} {'tokens/s':>9} {'s/step':>7} {'train s':>8} {'wall s':>7} "
          f"{'val loss':>9} {'compile s':>9}")
    for name, r in results.items():
        compile_s = f"{r['compile_s']:.1f}" if r.get("compiled") else "-"
        print(f"{name:30} {r['tokens_per_s']:>9.0f} {r['train_s'] / config.steps:>7.3f} "
              f"{r['train_s']:>8.1f} {r['wall_s']:>7.1f} {r['val_loss']:>9.4f} {compile_s:>9}")
    print(f"(the first cached run, which also computed and stored the teacher's top-"
          f"{cached.top_k}: {cache_build_s:.1f} s)")

    sweep_config = config.replace(steps=args.sweep_steps, warmup=max(1, args.sweep_steps // 10))
    os.environ["DISTILL_CACHE_DIR"] = os.path.join(work, "cache-sweep")  # cold cache
    start = time.perf_counter()
    _, rows = sweep.run_sweep(sweep_config, ALPHAS, TEMPERATURES, sweep_config.runs_dir,
                              prepared=fresh(prepared))
    ours_sweep = time.perf_counter() - start
    assert all(r["state"] == "done" for r in rows), rows
    start = time.perf_counter()
    for i in range(len(ALPHAS) * len(TEMPERATURES)):
        trl_run(sweep_config, prepared, teacher, val, os.path.join(work, f"trl-{i}"))
    trl_sweep = time.perf_counter() - start
    print(f"\nsweep of {len(rows)} runs x {args.sweep_steps} steps: ours {ours_sweep:.1f} s "
          f"(cold cache, teacher loaded once), TRL {trl_sweep:.1f} s (9 runs)")
    for r in rows:
        print(f"  alpha {r['alpha']:<4g} T {r['temperature']:<3g} student ppl "
              f"{r['student_ppl']:.3f}  agreement {100 * r['agreement']:.1f} %")

    on_policy = on_policy_vs_trl.compare(config, prepared, work, steps=3 if args.quick else 20,
                                         batch_size=2 if args.quick else 8,
                                         prefix=config.seq_len // 2)
    on_policy_vs_trl.report(on_policy)
    real = real_pair_speed.measure(args.quick, 2 if args.quick else 5)
    real_pair_speed.report(real)
    m = loss_memory.memory_table()[("dense", "fused")]
    beyond_mb = (m["growth"] - m["grad"]) / loss_memory.MB

    a, b, c, d = (results[k] for k in results)
    peak = throughput.matmul_peak("bf16" if precision == "bf16" else "fp32")
    print(f"\nmatmul peak here ({precision}): {peak / 1e9:.0f} GFLOP/s; live run "
          f"{a['mfu'] * peak / 1e9:.0f} GFLOP/s of model FLOPs")
    print(f"ratios: live_vs_trl={a['tokens_per_s'] / c['tokens_per_s']:.2f} "
          f"cached_vs_trl={b['tokens_per_s'] / c['tokens_per_s']:.2f} "
          f"sweep_vs_trl={trl_sweep / ours_sweep:.2f} mfu={a['mfu']:.2f} "
          f"student_only_vs_trl={d['tokens_per_s'] / c['tokens_per_s']:.2f} "
          f"student_only_step_s={d['train_s'] / config.steps:.3f} "
          f"val_loss_vs_trl={a['val_loss'] - c['val_loss']:+.4f} "
          f"on_policy_vs_trl={on_policy['ratio']:.2f} "
          f"real_pair_fused_vs_logits={real['ratio']:.2f} loss_beyond_grads_mb={beyond_mb:.0f}")


if __name__ == "__main__":
    main()
