"""How long one training step of a teacher–student pair takes on this machine, from a record.

The Pair page answers at once: it asks `recorded_step` first and times steps only when asked
(`measure_step`). Two records can answer, both in the measurements cache (user_cache) and
keyed like precision.py's decisions (machine, torch, threads, both models' shapes, batch):

    step_time.json    a quick timing (models.estimate.time_per_step: teacher forward + student
                      forward and backward, scaled to B × T), written by `measure_step`
    precision.json    precision=auto's timing of a run's micro-batch (precision.py): its fp32
                      median per row, times the rows of a batch

A step timed on request is remembered with its date and machine, so the page shows it again
without timing, and says when it was measured; "measure again" replaces it.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import torch

from distill_core.machine import machine_name
from distill_core.models.estimate import time_per_step
from distill_core.training.precision import CACHE_FILE, cache_key, read_cache, write_cache
from distill_core.user_cache import default_cache_dir

__all__ = ["RECORD_FILE", "measure_step", "recorded_step"]

RECORD_FILE = "step_time.json"


def _key(teacher, student, rows: int, seq_len: int) -> str:
    shape = torch.empty((rows, seq_len), dtype=torch.long, device="meta")  # only its shape counts
    return cache_key(student, teacher, shape, "cpu")


def _folder(cache_dir) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def recorded_step(teacher, student, batch_size: int, seq_len: int, *,
                  micro_batch: int | None = None, cache_dir=None) -> dict | None:
    """This machine's record of one B × T training step of the pair, or None when there is none:
    {"seconds", "measured_at" (UTC date), "measured_on" (CPU model), "source": "timing" (a
    quick timing asked for on the Pair page) or "precision" (precision=auto's measurement of a
    run's micro_batch × seq_len batch, fp32, scaled from the rows it timed to batch_size)}."""
    folder = _folder(cache_dir)
    entry = read_cache(folder / RECORD_FILE).get(_key(teacher, student, batch_size, seq_len))
    if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)):
        return {**entry, "source": "timing"}
    rows = micro_batch or batch_size
    entry = read_cache(folder / CACHE_FILE).get(_key(teacher, student, rows, seq_len))
    if not isinstance(entry, dict) or not entry.get("fp32_step_s") or not entry.get("rows"):
        return None
    return {"seconds": entry["fp32_step_s"] / entry["rows"] * batch_size,
            "measured_at": entry.get("measured_at"), "measured_on": entry.get("measured_on"),
            "source": "precision"}


def measure_step(teacher, student, batch_size: int, seq_len: int, *, cache_dir=None,
                 timer=None) -> dict:
    """Time a few steps now (models.estimate.time_per_step, scaled to B × T) and record the
    result for this machine; returns the record as `recorded_step` would."""
    seconds = (timer or time_per_step)(teacher, student, scale_to=(batch_size, seq_len))
    entry = {"seconds": seconds,
             "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
             "measured_on": machine_name("cpu")}
    write_cache(_folder(cache_dir) / RECORD_FILE, _key(teacher, student, batch_size, seq_len),
                entry)
    return {**entry, "source": "timing"}
