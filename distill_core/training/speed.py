"""Speed figures that hold up: the student's forward speed-up over its teacher, and the
per-token latency of generation.

`forward_speedup` times teacher and student forwards on the same batch, in the same process
(so the same torch thread count), warmed, and interleaved (teacher, student, teacher, student,
…) so that a change in machine load hits both; it repeats until the speed-up stops moving and
reports medians with their spread. `generation_latency` times greedy generation at batch 1 with
the KV cache, the way a chat reply is produced.

Both time models in eval mode (no dropout), under `torch.inference_mode`, and leave each model
in the mode it came in.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch

__all__ = ["forward_speedup", "generation_latencies", "generation_latency"]


@contextlib.contextmanager
def _eval(*models):
    was = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, training in zip(models, was):
            m.train(training)


@contextlib.contextmanager
def _threads(n: int | None):
    before = torch.get_num_threads()
    try:
        if n:
            torch.set_num_threads(n)
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    """(p25, median, p75)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[1], q[2]


def _stable(teacher_s: list[float], student_s: list[float], rel_tol: float) -> bool:
    """The speed-up from the last half of the repeats is within rel_tol of the one from all."""
    half = len(teacher_s) // 2
    whole = statistics.median(teacher_s) / statistics.median(student_s)
    recent = statistics.median(teacher_s[half:]) / statistics.median(student_s[half:])
    return abs(recent / whole - 1) < rel_tol


@torch.inference_mode()
def forward_speedup(teacher, student, batch: torch.Tensor, *, min_repeats: int = 5,
                    max_repeats: int = 30, rel_tol: float = 0.03, warmup: int = 2,
                    threads: int | None = None, timer=time.perf_counter) -> dict:
    """How much faster the student's forward pass is than the teacher's, on `batch` (B, T).

    Timed interleaved (t, s, t, s, …) after `warmup` forwards of each, repeated at least
    `min_repeats` and at most `max_repeats` times, stopping once the speed-up computed from the
    last half of the repeats is within `rel_tol` of the one from all of them, two repeats in a
    row (once can be luck on a busy machine). Returns
    {"speedup": teacher median / student median, "teacher_tokens_per_s",
    "student_tokens_per_s" (from the medians), "teacher_ms", "student_ms" (medians),
    "spread": (p25, p75) of the per-pair ratios teacher / student, "repeats", "threads",
    "stable": whether it settled before max_repeats}. `threads` sets torch's thread count for
    the measurement (restored afterwards); by default both run on the current one.
    """
    device = next(student.parameters()).device
    x = batch.to(device)
    tokens = x.numel()

    def once(model) -> float:
        start = timer()
        model(input_ids=x)
        _sync(device)
        return timer() - start

    teacher_s, student_s, settled = [], [], 0
    with _eval(teacher, student), _threads(threads):
        used_threads = torch.get_num_threads()
        for _ in range(warmup):
            once(teacher), once(student)
        while len(teacher_s) < max_repeats and settled < 2:
            teacher_s.append(once(teacher))
            student_s.append(once(student))
            steady = len(teacher_s) >= min_repeats and _stable(teacher_s, student_s, rel_tol)
            settled = settled + 1 if steady else 0
    t_med, s_med = statistics.median(teacher_s), statistics.median(student_s)
    ratios = [t / s for t, s in zip(teacher_s, student_s)]
    low, _, high = _quantiles(ratios)
    return {"speedup": t_med / s_med, "teacher_tokens_per_s": tokens / t_med,
            "student_tokens_per_s": tokens / s_med, "teacher_ms": 1000 * t_med,
            "student_ms": 1000 * s_med, "spread": (low, high), "repeats": len(teacher_s),
            "threads": used_threads, "stable": settled >= 2}


def _pad_id(model) -> int:
    cfg = model.generation_config if getattr(model, "generation_config", None) else model.config
    for value in (getattr(cfg, "pad_token_id", None), getattr(cfg, "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None)):
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


@torch.inference_mode()
def generation_latency(model, prompt_ids: torch.Tensor, new_tokens: int = 64, *,
                       repeats: int = 3, timer=time.perf_counter) -> dict:
    """Milliseconds per new token of greedy generation at batch 1 with the KV cache.

    `prompt_ids` is one prompt, (T,) or (1, T) (64 tokens makes the usual figure). Exactly
    `new_tokens` tokens are generated (no early stop at end-of-text). Warmed once, then the
    median of `repeats` runs. Returns {"ms_per_token": whole generate ÷ new tokens,
    "first_token_ms": prompt + first token, "decode_ms_per_token": each later token,
    "prompt_tokens", "new_tokens", "repeats"}.
    """
    return generation_latencies({"model": model}, prompt_ids, new_tokens, repeats=repeats,
                                timer=timer)["model"]


@torch.inference_mode()
def generation_latencies(named: dict, prompt_ids: torch.Tensor, new_tokens: int = 64, *,
                         repeats: int = 3, timer=time.perf_counter) -> dict:
    """`generation_latency` of several models ({name: model}), timed interleaved (each repeat
    runs every model in turn) so that a change in machine load hits them all; {name: result}."""
    whole = {name: [] for name in named}
    first = {name: [] for name in named}
    with _eval(*named.values()):
        runs = {name: _generator(m, prompt_ids, timer) for name, m in named.items()}
        for run in runs.values():
            run(new_tokens)  # warm
        for _ in range(repeats):
            for name, run in runs.items():
                whole[name].append(run(new_tokens))
                first[name].append(run(1))
    out = {}
    for name in named:
        whole_s, first_s = statistics.median(whole[name]), statistics.median(first[name])
        decode = (whole_s - first_s) / (new_tokens - 1) if new_tokens > 1 else whole_s
        out[name] = {"ms_per_token": 1000 * whole_s / new_tokens,
                     "first_token_ms": 1000 * first_s,
                     "decode_ms_per_token": 1000 * max(decode, 0.0),
                     "prompt_tokens": prompt_ids.reshape(1, -1).shape[1],
                     "new_tokens": new_tokens, "repeats": repeats}
    return out


def _generator(model, prompt_ids: torch.Tensor, timer):
    """once(n): seconds for `model` to generate exactly n tokens greedily after the prompt."""
    device = next(model.parameters()).device
    ids = prompt_ids.reshape(1, -1).to(device)  # (1, T)
    mask = torch.ones_like(ids)
    pad = _pad_id(model)

    def once(n: int) -> float:
        start = timer()
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                             min_new_tokens=n, do_sample=False, use_cache=True,
                             pad_token_id=pad)
        _sync(device)
        elapsed = timer() - start
        if out.shape[1] != ids.shape[1] + n:
            raise RuntimeError(f"generate made {out.shape[1] - ids.shape[1]} tokens, not {n}")
        return elapsed
    return once
