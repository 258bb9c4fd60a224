"""The real pair's training step before and after the fused head, side by side in one process.

    python bench/real_pair_speed.py           # alone; bench/vs_trl.py also runs it
    python bench/real_pair_speed.py --quick   # a smoke run (a SmolLM2-shaped model from its config)

The `smollm2-cpu` recipe's pair (SmolLM2-135M -> the `half-ends` student, 4 x 128 tokens of
python-docs, α 0.25, T 1, forward KL) in the precision `precision=auto` picks here. One training
step, the teacher live:

    before   the student's and the teacher's logits (B, T, V) made in full, then the chunked
             kd_loss over them (the loss path until issue 20: `fused_kd_loss` still takes logits
             and sends them there)
    after    the student's and the teacher's last hidden states and output projections into
             `fused_kd_loss`, logits made chunk by chunk and dropped (the path every run takes)

Both: the same batches in the same order, AdamW, forward + loss + backward + optimiser step;
interleaved, one warm-up step each, then the median seconds of `--steps` steps. tokens/s =
B x T / that median. Without the converted SmolLM2-135M in the model cache (`distill fetch
smollm2-135m`), a model of its shape is built from its config with random weights (the timing
is the same; the run says which it used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch

from distill_core import models
from distill_core.kd.fused import fused_kd_loss
from distill_core.machine import describe_machine
from distill_core.training.precision import choose_precision
from distill_core.training.recipes import load_recipe


def smollm2_shaped(layers: int = 30):
    """SmolLM2-135M's architecture with random weights (when the real one is not cached)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49_152, hidden_size=576, intermediate_size=1536,
                      num_hidden_layers=layers, num_attention_heads=9, num_key_value_heads=3,
                      max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=100_000.0,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


def load_pair(quick: bool):
    """(teacher, student, which) — the cached SmolLM2-135M and its half-ends student when there."""
    if not quick:
        try:
            teacher, _ = models.load_teacher("smollm2-135m")
            return teacher, models.make_student(teacher, n_layer=15, init="teacher_ends"), \
                "SmolLM2-135M (converted, cached)"
        except Exception as err:  # noqa: BLE001 - say why and go on with the shaped model
            print(f"(SmolLM2-135M not available here: {err}; using its shape with random weights)")
    teacher = smollm2_shaped(4 if quick else 30)
    n = 2 if quick else 15
    return teacher, models.make_student(teacher, n_layer=n, init="teacher_ends"), \
        "a SmolLM2-135M-shaped model from its config, random weights"


def step_fn(student, teacher, fused_head: bool, autocast, config, chunk_bytes=None):
    """One training step (teacher live) with the logits in full or, `fused_head`, the fused head;
    the loss's chunks hold `chunk_bytes` of float32 logits (None: the default,
    fused.FUSED_CHUNK_BYTES)."""
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, betas=(0.9, 0.95))
    vocab = teacher.config.vocab_size
    chunk = max(1, chunk_bytes // (4 * vocab)) if chunk_bytes else "auto"  # positions a chunk

    def step(x):
        with torch.no_grad(), autocast():
            t = (models.teacher_head(teacher, x, vocab) if fused_head
                 else models.next_token_logits(teacher, x, vocab))
        with autocast():
            s = (models.student_head(student, student, x, vocab) if fused_head
                 else models.next_token_logits(student, x, vocab))
            total, _ = fused_kd_loss(s, t, x[:, 1:], alpha=config.alpha,
                                     temperature=config.temperature, kind=config.loss,
                                     chunk_size=chunk)
        total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def measure(quick: bool = False, steps: int = 5, chunks_mib=()) -> dict:
    """{"before": tokens/s, "after": tokens/s, "ratio", "precision", "model"}."""
    config = load_recipe("smollm2-cpu")
    teacher, student, which = load_pair(quick)
    batch = torch.randint(0, teacher.config.vocab_size, (4, 128))
    precision = "fp32" if quick else choose_precision(  # as precision=auto decides, timed here
        student, teacher, batch, device=torch.device("cpu"))["precision"]
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32

    def autocast():
        return torch.autocast("cpu", dtype=dtype, enabled=precision == "bf16")

    b, t = (2, 32) if quick else (config.batch_size, config.seq_len)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, teacher.config.vocab_size, (b, t), generator=g)
               for _ in range(steps + 1)]
    student.train()
    fns = {"before": step_fn(student, teacher, False, autocast, config),
           "after": step_fn(student, teacher, True, autocast, config)}
    for mib in chunks_mib:  # the fused head at other chunk sizes, for choosing the default
        fns[f"after, {mib} MiB chunks"] = step_fn(student, teacher, True, autocast, config,
                                                  mib * 2**20)
    times = {k: [] for k in fns}
    for i, x in enumerate(batches):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(x)
            if i:  # the first is the warm-up
                times[name].append(time.perf_counter() - start)
    rates = {k: b * t / statistics.median(v) for k, v in times.items()}
    return {**rates, "ratio": rates["after"] / rates["before"], "precision": precision,
            "model": which, "batch": (b, t)}


def report(r: dict) -> None:
    b, t = r["batch"]
    print(f"\nreal pair ({r['model']}; {b} x {t} tokens, teacher live, {r['precision']}):")
    print(f"  before (logits in full)   {r['before']:>8.0f} tokens/s")
    print(f"  after  (fused head)       {r['after']:>8.0f} tokens/s")
    for name, rate in r.items():
        if name.startswith("after, "):
            print(f"  {name:24}  {rate:>8.0f} tokens/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--chunks-mib", default="", help="also time the fused head at these chunk "
                   "sizes (MiB of float32 logits), e.g. 16,32")
    args = p.parse_args()
    chunks = [int(c) for c in args.chunks_mib.split(",") if c]
    print(f"machine: {describe_machine()}, {torch.get_num_threads()} threads")
    r = measure(args.quick, 2 if args.quick else args.steps, chunks)
    report(r)
    print(f"ratios: real_pair_fused_vs_logits={r['ratio']:.2f}")


if __name__ == "__main__":
    main()
