"""`precision=auto`, decided by measurement: fp32 or bf16 autocast, whichever trains faster here.

Whether bf16 autocast is faster than fp32 depends on the CPU model, not on its flags: an AVX-512
bf16 CPU ran the built-in student 1.6× faster in bf16, another one 1.4× slower (REFERENCE.md).
So `choose_precision` times the real work of a training step in both precisions:

    step time = teacher forward (inference mode)  +  student forward + kd_loss + backward

warmed, interleaved (fp32, bf16, fp32, bf16, …) so that a change in machine load hits both,
within a time budget (~3 s), and takes the smaller median. When the budget does not hold a few
rounds of the full batch (a busy CPU), the step is timed on fewer rows of the batch (same
sequence length, so the same matrix shapes apart from the row count); `rows` says how many.

The measurement leaves no trace: gradients come from `torch.autograd.grad` (no `.grad` is
written, no optimizer runs) and the random state (dropout) is restored afterwards.

A clear decision (the faster precision won nearly every round) is cached in a small JSON file,
$DISTILL_CACHE_DIR/precision.json, else ~/.cache/distill-playground/precision.json, keyed by
the machine (CPU model or GPU name), torch version, thread count, and the shapes of the
student, the teacher and the batch. An unclear one (one round, or a split) is used for the run
and measured again next time, so a noisy minute on a shared machine is not remembered.
"""

from __future__ import annotations

import datetime
import json
import statistics
import time
from pathlib import Path

import torch

from distill_core.files import atomic_write_json
from distill_core.kd.losses import kd_loss
from distill_core.machine import machine_name
from distill_core.models import next_token_logits
from distill_core.user_cache import default_cache_dir

__all__ = ["CACHE_FILE", "bf16_supported", "cache_key", "choose_precision", "clear_win",
           "measure_steps", "model_shape", "pick", "read_cache", "write_cache"]

CACHE_FILE = "precision.json"
PRECISIONS = ("fp32", "bf16")


# ---------------------------------------------------------------- what runs here


def bf16_supported(device) -> bool:
    """Can bf16 autocast run here at all? (A capability check, not a speed guess.)"""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            a = torch.ones(4, 4, device=device)
            return (a @ a).dtype == torch.bfloat16
    except (RuntimeError, ValueError, TypeError):
        return False


def model_shape(model) -> dict:
    """The shape a timing depends on: architecture, layers, width, heads, output rows."""
    cfg = model.config
    return {"architecture": (cfg.architectures or [type(model).__name__])[0],
            "layers": cfg.num_hidden_layers, "width": cfg.hidden_size,
            "heads": cfg.num_attention_heads,
            "vocab_rows": model.get_output_embeddings().weight.shape[0]}


def cache_key(student, teacher, batch: torch.Tensor, device) -> str:
    """What the decision depends on: machine, torch, threads, model and batch shapes."""
    device = torch.device(device)
    parts = {"machine": machine_name(device), "device": device.type,
             "torch": torch.__version__, "threads": torch.get_num_threads(),
             "student": model_shape(student),
             "teacher": model_shape(teacher) if teacher is not None else None,
             "batch": list(batch.shape)}
    return json.dumps(parts, sort_keys=True)


# ---------------------------------------------------------------- the measurement


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)  # fp32, even inside a caller's autocast


def _vocab(student, teacher, vocab):
    if vocab or teacher is None:
        return vocab
    rows = (m.get_output_embeddings().weight.shape[0] for m in (student, teacher))
    return min(rows)


def _step(student, teacher, x, vocab, precision, device) -> None:
    """One training step's work, minus the optimizer: teacher forward, student forward, loss,
    backward (into fresh tensors, not `.grad`)."""
    params = [p for p in student.parameters() if p.requires_grad]
    t_logits, alpha = None, 0.0
    if teacher is not None:
        with torch.inference_mode(), _autocast(device, precision):
            t_logits = next_token_logits(teacher, x, vocab)  # (B, T-1, V)
        t_logits, alpha = t_logits.clone(), 0.5  # out of inference mode, as the loop does
    with _autocast(device, precision):
        s_logits = next_token_logits(student, x, vocab)  # (B, T-1, V)
        total, _ = kd_loss(s_logits, t_logits, x[:, 1:], alpha=alpha, temperature=1.0)
    torch.autograd.grad(total, params, allow_unused=True)
    _sync(device)


def _timed(timer, fn) -> float:
    start = timer()
    fn()
    return timer() - start


def measure_steps(student, teacher, batch: torch.Tensor, *, device, budget_s: float = 3.0,
                  vocab: int | None = None, timer=time.perf_counter, max_rounds: int = 9,
                  rows: int | None = None) -> dict:
    """Median seconds of a training step (teacher forward + student forward, loss, backward) in
    fp32 and in bf16 autocast: {"fp32": s, "bf16": s, "rows": rows timed, "rounds": n,
    "fp32_runs": [s, …], "bf16_runs": [s, …]} (the runs in the order timed).

    A cold step and a timed step on one row per precision give a cost per row; the rows timed
    are as many of the batch's as fit four rounds into what is left of `budget_s` (a warm-up
    round at that shape, then timed rounds while the budget lasts: at least one, at most
    `max_rounds`). Steps alternate fp32, bf16, fp32, bf16, … On a slow or busy machine
    the budget may hold only one row; then the one-row steps are the measurement, and the
    total can pass the budget by about one round. `rows` fixes the rows timed instead (a
    benchmark that wants the whole batch).
    """
    device = torch.device(device)
    x = batch.to(device)
    vocab = _vocab(student, teacher, vocab)
    start = timer()
    rng_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        def run(p, n):  # one step of precision p on the first n rows
            return lambda: _step(student, teacher, x[:n], vocab, p, device)

        for p in PRECISIONS:  # cold: kernels, thread pool, autocast caches
            run(p, 1)()
        times = {p: [_timed(timer, run(p, 1))] for p in PRECISIONS}  # warm, one row: cost per row
        if rows is None:
            left = budget_s - (timer() - start)
            rows = int(max(1, min(x.shape[0], left / (4 * sum(t[0] for t in times.values())))))
        rows = max(1, min(rows, x.shape[0]))
        if rows > 1:  # time a bigger slice: warm at that shape, then start counting afresh
            for p in PRECISIONS:
                run(p, rows)()
            times = {p: [] for p in PRECISIONS}
        while len(times["fp32"]) < max_rounds:
            round_s = sum(t[-1] for t in times.values()) if times["fp32"] else 0.0
            if times["fp32"] and timer() - start + round_s > budget_s:
                break
            for p in PRECISIONS:
                times[p].append(_timed(timer, run(p, rows)))
    medians = {p: statistics.median(t) for p, t in times.items()}
    return {**medians, "rows": rows, "rounds": len(times["fp32"]),
            "fp32_runs": times["fp32"], "bf16_runs": times["bf16"]}


def clear_win(winner_runs: list[float], loser_runs: list[float]) -> bool:
    """Is the win clear enough to remember? At least 3 interleaved rounds, and the winner was
    faster in all but at most a quarter of them. One round on a busy machine is not: such a
    decision is used for the run but measured again next time."""
    rounds = min(len(winner_runs), len(loser_runs))
    losses = sum(w >= lo for w, lo in zip(winner_runs, loser_runs))
    return rounds >= 3 and losses <= rounds // 4


def pick(fp32_s: float, bf16_s: float, device_type: str) -> str:
    """The faster precision. A tie goes to the device's usual choice: bf16 on a GPU (it also
    halves activation memory), fp32 on a CPU."""
    if device_type == "cuda":
        return "bf16" if bf16_s <= fp32_s else "fp32"
    return "bf16" if bf16_s < fp32_s else "fp32"


# ---------------------------------------------------------------- the cache


def read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache(path: Path, key: str, entry: dict) -> None:
    """Add one entry, atomically (files.atomic_write_json). Two processes writing at once may
    drop one entry: it is measured again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**read_cache(path), key: entry})
    except OSError:  # a read-only home is no reason to fail a run: measure again next time
        pass


# ---------------------------------------------------------------- the decision


def choose_precision(student, teacher, batch: torch.Tensor, *, device, cache_dir=None,
                     budget_s: float = 3.0, vocab: int | None = None, measure=measure_steps,
                     timer=time.perf_counter) -> dict:
    """fp32 or bf16 for `precision=auto`, by timing both here (see the module doc).

    Returns {"precision": "fp32" | "bf16", "fp32_step_s", "bf16_step_s" (median seconds per
    step on `rows` rows of the batch; None when bf16 cannot run here and nothing was timed),
    "cached" (reused from an earlier measurement), "measured_on" (CPU model or GPU name),
    "measured_at" (UTC date), "rows" (batch rows timed), "rounds", "clear" (see `clear_win`;
    only a clear decision is cached)}. `measure` (default `measure_steps`) and `timer` are
    seams for tests.
    """
    device = torch.device(device)
    where = machine_name(device)
    if not bf16_supported(device):
        return {"precision": "fp32", "fp32_step_s": None, "bf16_step_s": None, "cached": False,
                "measured_on": where, "measured_at": None, "rows": None}
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = path / CACHE_FILE
    key = cache_key(student, teacher, batch, device)
    entry = read_cache(path).get(key)
    if isinstance(entry, dict) and entry.get("precision") in PRECISIONS:
        return {**entry, "cached": True}
    times = measure(student, teacher, batch, device=device, budget_s=budget_s, vocab=vocab,
                    timer=timer)
    choice = pick(times["fp32"], times["bf16"], device.type)
    other = "bf16" if choice == "fp32" else "fp32"
    clear = clear_win(times[f"{choice}_runs"], times[f"{other}_runs"])
    entry = {"precision": choice, "fp32_step_s": times["fp32"], "bf16_step_s": times["bf16"],
             "measured_on": where,
             "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
             "rows": times["rows"], "rounds": times["rounds"], "clear": clear}
    if clear:
        write_cache(path, key, entry)
    return {**entry, "cached": False}
