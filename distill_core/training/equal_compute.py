"""The baseline at equal compute: did distillation beat training without a teacher for the same
cost? A KD step costs the teacher's forward more than a baseline step, so after the run the
baseline (when there is one) trains on, on the same batch order, past `steps`:

    equal FLOPs   until its training FLOPs reach the distilled student's (6·N_student per token
                  for each; the student's also 2·N_teacher per token for the teacher's forward,
                  counted even when it is read from the teacher cache, which cost that forward
                  once, and 2·N_student per token it wrote itself on-policy)
    equal time    until its training seconds reach the student's, both timed step by step in
                  this run (evaluation left out); recorded only for a run trained alone, since
                  side by side (side_by_side.py) the teacher's forward and the baseline are
                  shared and their seconds belong to no one run

and is evaluated at each point. Wall time depends on the machine and its load, FLOPs do not:
the verdict (app.report) is the FLOPs one, the time one is shown beside it. The baseline goes
on at the learning rate its schedule ended at (it is a continuation, not a run re-planned for
the longer budget, which would decay more slowly); the baseline saved with the run, and
`baseline_ppl`, stay those at `steps`.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from distill_core.training import evaluate, throughput
from distill_core.training.prepared import batch_order
from distill_core.training.run_state import RunState

__all__ = ["MAX_FACTOR", "extend_baseline", "step_flops", "timed", "trained_alone"]

MAX_FACTOR = 8  # the baseline trains on to at most this many times `steps`


def timed(s: RunState, key: str, compute):
    """`compute()` (student `key`'s optimiser step), its seconds added to s.key_seconds[key]."""
    started = time.perf_counter()
    out = compute()
    s.key_seconds[key] = s.key_seconds.get(key, 0.0) + time.perf_counter() - started
    return out


def trained_alone(s: RunState) -> bool:
    """Whether the run's seconds are its own: not side by side with other runs."""
    return not s.shared and getattr(s.source, "memo", None) is None


def step_flops(s: RunState) -> dict:
    """{"student": the distilled student's training FLOPs in all, "baseline": one baseline
    step's}; see the module doc for what they count."""
    tokens = s.config.batch_size * s.config.seq_len  # per step
    n_student = throughput.matmul_params(s.student())
    teacher = s.config.alpha > 0 or s.hidden is not None
    student = s.config.steps * tokens * throughput.flops_per_token(
        n_student, throughput.matmul_params(s.teacher), teacher)
    student += 2 * n_student * s.generated_tokens
    return {"student": student, "baseline": 6 * n_student * tokens}


def extend_baseline(s: RunState, step_fn, lr: float) -> dict:
    """Train the baseline on (`step_fn(step, lr)`, one optimiser step at index `step` of the
    batch order) to the student's FLOPs and time; the summary's equal-compute figures. The
    baseline's weights and optimiser are put back as they were at `steps` afterwards."""
    if "baseline" not in s.students or "baseline_val_loss" not in s.evals:
        return {}
    config, steps = s.config, s.config.steps
    flops = step_flops(s)
    alone = trained_alone(s)
    kd_s, spent = s.key_seconds.get("student", 0.0), s.key_seconds.get("baseline", 0.0)
    targets = {"flops": max(steps, math.ceil(flops["student"] / flops["baseline"] - 1e-9))}
    # runs side by side that share their baseline (and so its FLOPs target) extend it once
    memo, key = s.shared.get("baseline"), ("equal_compute", targets["flops"])
    if memo is not None and key in memo:
        return dict(memo[key])
    out = {"student_train_flops": flops["student"], "baseline_step_flops": flops["baseline"],
           "student_train_s": kd_s if alone else None,
           "baseline_train_s": spent if alone else None}
    points = {}
    if alone and spent >= kd_s:  # the baseline was already the slower: equal at `steps`
        points["time"] = _point(s, steps)
    if targets["flops"] == steps:
        points["flops"] = _point(s, steps)
    limit = MAX_FACTOR * steps
    wanted = {"flops"} | ({"time"} if alone else set())
    if wanted - set(points):
        s.emit({"type": "notice", "message": "training the baseline on past step "
                f"{steps} to the distilled student's FLOPs{' and time' if alone else ''}"})
        _train_on(s, step_fn, lr, limit, targets["flops"], kd_s, spent, points, wanted)
    for kind in ("flops", "time"):
        out.update(_figures(s, kind, points.get(kind), kind in wanted, limit))
    if memo is not None:
        memo[key] = dict(out)
    return out


def _train_on(s: RunState, step_fn, lr: float, limit: int, flops_steps: int, kd_s: float,
              spent: float, points: dict, wanted: set) -> None:
    """The continuation itself, from `steps` to where every wanted point is reached (or
    `limit`), on the seed's batch order extended; the baseline put back afterwards."""
    config, order = s.config, s.order
    model, opt = s.student("baseline"), s.optimizers["baseline"]
    saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()))
    s.order = batch_order(len(s.train_blocks), config.batch_size, limit, config.seed)
    try:
        step = config.steps
        while wanted - set(points) and step < limit:
            started = time.perf_counter()
            step_fn(step, lr)
            step += 1
            seconds = torch.tensor([time.perf_counter() - started], device=s.acc.device)
            spent += s.acc.reduce(seconds, reduction="mean").item()  # the same on every process
            if "flops" not in points and step >= flops_steps:
                points["flops"] = _point(s, step)
            if "time" in wanted and "time" not in points and spent >= kd_s:
                points["time"] = _point(s, step)
    finally:
        s.order = order
        model.load_state_dict(saved[0])
        opt.load_state_dict(saved[1])


def _point(s: RunState, step: int) -> dict:
    """The baseline now, at `step`: its validation loss (nats per token) and bits per byte."""
    point = {"step": step}
    if s.main:
        base = evaluate.compare(s.student("baseline"), None, s.val_blocks, vocab=s.vocab)
        point["loss"] = base["student_loss"]
        point.update(evaluate.per_byte({"": base["student_loss"]}, s.prepared.val_text_size()))
    s.acc.wait_for_everyone()
    return point


def _figures(s: RunState, kind: str, point: dict | None, wanted: bool, limit: int) -> dict:
    """equal_{kind}_baseline_ppl, _steps and _gap_closed_pct (None where not reached)."""
    prefix = f"equal_{kind}_baseline"
    if point is None or "loss" not in point:
        return {f"{prefix}_ppl": None, f"{prefix}_steps": limit if wanted else None,
                f"equal_{kind}_gap_closed_pct": None}
    per_byte = getattr(s.prepared, "cross", None) is not None  # the run's own unit
    teacher, student = (s.evals.get("teacher_val_bpb"), s.evals.get("val_bpb")) if per_byte \
        else (s.evals["teacher_val_loss"], s.evals["val_loss"])
    base = point.get("_bpb") if per_byte else point["loss"]
    gap = base - teacher if base is not None and teacher is not None else None
    return {f"{prefix}_ppl": math.exp(point["loss"]), f"{prefix}_steps": point["step"],
            f"equal_{kind}_gap_closed_pct": 100 * (base - student) / gap if gap else None}
