"""Peak memory and time of the KD loss's forward + backward: plain (chunk_size=None, all positions
in one chunk) against chunked ("auto", 32 MiB of float32 logits a chunk), and the fused head
(kd.fused: hidden states and output projection in, logits made chunk by chunk, 16 MiB a chunk).

    python bench/loss_memory.py [--memory-only]

Random float32 logits, batch 16 x 128, vocabulary 49,152 (SmolLM2-135M's), the default loss
(forward KL, alpha 0.5, T 2), with a dense teacher and with a cached top-k teacher (k = 64).

Memory: torch's profiler (profile_memory) records every tensor allocation and free with the
running total; the peak of that total over one forward + backward is what the loss added on top
of its inputs. That includes the gradient of the student's logits (403 MB here), which any
training step needs; "beyond" is the peak less that gradient. The fused path starts from the
last hidden states (B, T, H = 576, SmolLM2-135M's width) and the projection (V, H), with a
teacher given the same way (H = 960, SmolLM2-360M's) or as top-k: its inputs hold no logits at
all, and its gradients are those of the hidden states and the projection (113 MB); "beyond" is
the peak less those, the target being at most 100 MB. (The resident set is no measure
here: the kernel can drop torch's mapped library pages mid-run and hide hundreds of MB.)

Time: forward + backward in this process, the variants interleaved, one warm-up round, then the
median of 5, as wall-clock seconds and as this process's CPU seconds (less disturbed by other
work on a shared machine). Also at the built-in pair's 3,392 tokens, where "auto" is one chunk
and so the plain path itself, and where a forced split into 4 chunks shows what chunking would
cost there.

MB = 10^6 bytes. The last line gives plain and chunked side by side with their ratios.
"""

from __future__ import annotations

import datetime
import json
import statistics
import subprocess
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

import sys

from distill_core.kd.fused import Head, fused_kd_loss
from distill_core.kd.losses import TopK, kd_loss, top_k

BATCH, SEQ, BIG_VOCAB, SMALL_VOCAB, K = 16, 128, 49_152, 3_392, 64
WIDTH, TEACHER_WIDTH = 576, 960  # SmolLM2-135M's and SmolLM2-360M's hidden sizes
ARGS = dict(alpha=0.5, temperature=2.0, kind="forward_kl")
REPEATS = 5
MB = 1e6


def inputs(vocab: int, teacher: str, seed: int = 0):
    """Student logits (B, T, V), a dense or top-k (k = K) teacher, labels (B, T)."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(BATCH, SEQ, vocab, generator=g).mul_(2.0)
    y = torch.randint(0, vocab, (BATCH, SEQ), generator=g)
    if teacher == "dense":
        return s, torch.randn(BATCH, SEQ, vocab, generator=g).mul_(3.0), y
    rows = [top_k(torch.randn(SEQ, vocab, generator=g).mul_(3.0), K) for _ in range(BATCH)]
    t = TopK(*(torch.stack([getattr(r, f) for r in rows]) for f in ("logp", "ids", "log_rest")),
             vocab)
    return s, t, y


def head_inputs(vocab: int, teacher: str, seed: int = 0):
    """The fused path's inputs: a student Head (hidden (B, T, H), projection (V, H), both with
    grad), a teacher Head or top-k teacher whose logits are about as spread, labels (B, T)."""
    g = torch.Generator().manual_seed(seed)
    s = Head(torch.randn(BATCH, SEQ, WIDTH, generator=g).requires_grad_(),
             torch.randn(vocab, WIDTH, generator=g).mul_(2.0 / WIDTH**0.5).requires_grad_())
    y = torch.randint(0, vocab, (BATCH, SEQ), generator=g)
    t = Head(torch.randn(BATCH, SEQ, TEACHER_WIDTH, generator=g),
             torch.randn(vocab, TEACHER_WIDTH, generator=g).mul_(3.0 / TEACHER_WIDTH**0.5))
    if teacher == "dense":
        return s, t, y
    rows = [top_k(t.hidden[b] @ t.weight.T, K) for b in range(BATCH)]
    return s, TopK(*(torch.stack([getattr(r, f) for r in rows])
                     for f in ("logp", "ids", "log_rest")), vocab), y


def grads_of(s) -> list:
    return [x for x in s if x is not None] if isinstance(s, Head) else [s]


def step(s, t, y, chunk_size) -> None:
    """One forward + backward of the loss (the fused one for a student Head)."""
    for x in grads_of(s):
        x.grad = None
    loss = fused_kd_loss if isinstance(s, Head) else kd_loss
    total, _ = loss(s, t, y, chunk_size=chunk_size, **ARGS)
    total.backward()


def peak_growth(s, t, y, chunk_size) -> dict:
    """Peak bytes of tensors allocated during one forward + backward, from torch's profiler."""
    with tempfile.TemporaryDirectory() as folder:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step(s, t, y, chunk_size)
        prof.export_chrome_trace(f"{folder}/trace.json")
        with open(f"{folder}/trace.json") as f:
            events = json.load(f)["traceEvents"]
    memory = sorted(((e["ts"], e["args"]) for e in events if e.get("name") == "[memory]"),
                    key=lambda event: event[0])
    # the running total carries over from earlier profiles: start from the first event's base
    start = memory[0][1]["Total Allocated"] - memory[0][1]["Bytes"]
    peak = max(args["Total Allocated"] for _, args in memory) - start
    return {"growth": peak, "grad": sum(x.grad.numel() * x.grad.element_size()
                                        for x in grads_of(s))}


def times(variants: dict) -> dict:
    """Median forward + backward (wall, CPU) seconds per variant, interleaved, after a warm-up."""
    seen = {name: [] for name in variants}
    for round_ in range(REPEATS + 1):
        for name, (s, t, y, chunk_size) in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step(s, t, y, chunk_size)
            if round_:
                seen[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: tuple(statistics.median(x) for x in zip(*v)) for name, v in seen.items()}


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown CPU")


PATHS = {"plain": None, "auto": "auto", "fused": "auto"}  # path → chunk_size


def variant(vocab: int, teacher: str, path: str):
    """(student, teacher, labels) for a path: logits for plain and auto, heads for fused."""
    s, t, y = (head_inputs if path == "fused" else inputs)(vocab, teacher)
    if path != "fused":
        s.requires_grad_(True)
    return s, t, y


def memory_table() -> dict:
    """Peak growth and gradient bytes per (teacher, path) at the big vocabulary; printed."""
    memory = {}
    for teacher in ("dense", "top-k"):
        for path, chunk_size in PATHS.items():
            s, t, y = variant(BIG_VOCAB, teacher, path)
            memory[(teacher, path)] = peak_growth(s, t, y, chunk_size)
            del s, t, y
    print(f"\npeak memory of tensors allocated by the loss at V = {BIG_VOCAB:,} (MB; fused: "
          f"from hidden states, its gradients those of the hidden states and projection):")
    print(f"{'teacher':>8} {'path':>8} {'growth':>8} {'grads':>8} {'beyond grad':>12}")
    for (t, path), m in memory.items():
        beyond = (m["growth"] - m["grad"]) / MB
        print(f"{t:>8} {path:>8} {m['growth'] / MB:8.0f} {m['grad'] / MB:8.0f} {beyond:12.0f}")
    return memory


def time_table() -> dict:
    """Median (wall, CPU) seconds per (vocab, teacher, path or forced chunk size); printed."""
    variants = {}
    for vocab in (BIG_VOCAB, SMALL_VOCAB):
        for teacher in ("dense", "top-k"):
            for path, chunk_size in PATHS.items():
                variants[(vocab, teacher, path)] = (*variant(vocab, teacher, path), chunk_size)
            if vocab == SMALL_VOCAB:  # 4 chunks
                variants[(vocab, teacher, BATCH * SEQ // 4)] = (
                    *variant(vocab, teacher, "plain"), BATCH * SEQ // 4)
    seconds = times(variants)
    print(f"\nforward + backward, median of {REPEATS} (s):")
    print(f"{'vocab':>7} {'teacher':>8} {'path':>9} {'wall':>7} {'CPU':>7}")
    for (vocab, teacher, c), (wall, cpu) in seconds.items():
        path = c if isinstance(c, str) else f"{c}/chunk"
        print(f"{vocab:>7} {teacher:>8} {path:>9} {wall:7.3f} {cpu:7.3f}")
    return seconds


def main() -> None:
    where = (f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
             f"{datetime.date.today()}")
    print(f"KD loss forward + backward, {BATCH} x {SEQ} positions, float32, "
          f"{', '.join(f'{k} {v}' for k, v in ARGS.items())}; {where}")
    memory = memory_table()

    def beyond(t, path):
        m = memory[(t, path)]
        return (m["growth"] - m["grad"]) / MB

    fused = "; ".join(f"{t} {memory[(t, 'plain')]['growth'] / MB:.0f} -> "
                      f"{memory[(t, 'fused')]['growth'] / MB:.0f} MB in all, beyond the "
                      f"gradients {beyond(t, 'plain'):.0f} -> {beyond(t, 'auto'):.0f} -> "
                      f"{beyond(t, 'fused'):.0f} MB" for t in ("dense", "top-k"))
    if "--memory-only" in sys.argv:
        print(f"\nplain -> fused at V = {BIG_VOCAB:,}: {fused} (plain -> chunked -> fused) | "
              f"{where}")
        return
    seconds = time_table()

    def both(t, path):
        p, c = memory[(t, "plain")]["growth"] / MB, memory[(t, path)]["growth"] / MB
        (wp, cp), (wc, cc) = seconds[(BIG_VOCAB, t, "plain")], seconds[(BIG_VOCAB, t, path)]
        return (f"{t} {p:.0f} -> {c:.0f} MB ({p / c:.1f}x less), wall {wp:.2f} -> {wc:.2f} s "
                f"({wp / wc:.2f}x faster), CPU {cp:.2f} -> {cc:.2f} s ({cp / cc:.2f}x)")

    small = "; ".join(
        f"{t} plain {seconds[(SMALL_VOCAB, t, 'plain')][0]:.3f} s, 4 chunks "
        f"{seconds[(SMALL_VOCAB, t, BATCH * SEQ // 4)][0]:.3f} s, fused "
        f"{seconds[(SMALL_VOCAB, t, 'fused')][0]:.3f} s (wall)" for t in ("dense", "top-k"))
    print(f"\nplain -> chunked at V = {BIG_VOCAB:,}: {both('dense', 'auto')}; "
          f"{both('top-k', 'auto')} | plain -> fused: {both('dense', 'fused')}; "
          f"{both('top-k', 'fused')} | {fused} | V = {SMALL_VOCAB:,} (auto = plain): {small} | "
          f"{where}")


if __name__ == "__main__":
    main()
