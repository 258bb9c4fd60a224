"""Which runs may train side by side in one process (training/side_by_side.py): runs that read
the same batches from the same teacher, so that one teacher forward per batch serves them all.

    why_apart(a, b)          None when configs a and b may train together, else the reason
    partition(configs, most) groups of compatible configs (indices), at most `most` each
    gather(entries, most)    the queue's waiting entries with compatible runs put together

Shared (must be equal): the teacher, the student and the data (teacher, student,
cross_tokenizer, dataset, text_column, dataset_config, dataset_split, train_docs, seq_len,
seed: the same token blocks in the same order, and the same initial student), the batches
(batch_size, grad_accum, steps), the teacher signal (teacher_cache and, when cached, top_k)
and the number format (precision: one Accelerator per process). Each run's own: alpha,
temperature, loss and beta, lr, warmup, weight_decay, grad_clip, baseline, eval_every,
eval_blocks, checkpoint_every, compile, name. (Students of other shapes could share the
teacher's forward too, but another student may bring another tokenizer, hence other blocks.) A run apart from any other: on-policy (the teacher grades each student's own
sequences, so no batch is shared), hidden-state distillation (its hooks record the teacher's
layers for one student), and a run that reports to trackers (Accelerate's trackers belong to
one run's process).
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.errors import InputError

SHARED = ("teacher", "student", "cross_tokenizer", "dataset", "text_column", "dataset_config",
          "dataset_split", "train_docs", "seq_len", "seed", "batch_size", "grad_accum", "steps",
          "teacher_cache", "precision")

__all__ = ["SHARED", "alone_reason", "gather", "partition", "why_apart"]


def alone_reason(config: DistillConfig) -> str | None:
    """Why a run can train with no other (None: it can share)."""
    if config.on_policy > 0:
        return "it trains on-policy: the teacher grades each student's own sequences"
    if config.hidden_weight > 0:
        return "it distils hidden states: the teacher's layers are recorded for one student"
    if config.report_to != "none":
        return f"it reports to {config.report_to}, whose trackers belong to one run"
    return None


def why_apart(a: DistillConfig, b: DistillConfig) -> str | None:
    """None when runs `a` and `b` may train side by side, else one line saying why not."""
    for config in (a, b):
        reason = alone_reason(config)
        if reason:
            return f"{config.name or 'a run'} trains alone: {reason}"
    for name in SHARED + (("top_k",) if a.teacher_cache else ()):
        if getattr(a, name) != getattr(b, name):
            return (f"they differ in {name} ({getattr(a, name)!r} against "
                    f"{getattr(b, name)!r}), so they do not read the same batches from the "
                    "same teacher")
    return None


def partition(configs: list[DistillConfig], most: int) -> list[list[int]]:
    """The indices of `configs` in groups that may train side by side, at most `most` each
    (at least 1): each config joins the first group whose first config it is compatible with
    and that has room, else starts one. Groups in the order of their first config."""
    groups: list[list[int]] = []
    for i, config in enumerate(configs):
        for group in groups:
            if len(group) < max(1, most) and why_apart(configs[group[0]], config) is None:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def _config(run) -> DistillConfig | None:
    try:
        return DistillConfig.from_dict(run.config())
    except (InputError, ValueError, TypeError, KeyError):
        return None  # unreadable: it starts alone, and its own process says what is wrong


def gather(entries: list[list], most: int) -> list[list]:
    """The queue's line (entries of (run, status), oldest first) with each waiting run alone
    joined by the later waiting runs it may train with, up to `most` in all; a sweep's entry is
    left as it is (its own process trains its cells side by side). Order of the line kept: an
    entry stands where its oldest run stood."""
    if most <= 1:
        return entries
    out, taken = [], set()
    configs = {}
    for i, entry in enumerate(entries):
        if i in taken:
            continue
        if len(entry) != 1 or entry[0][1].get("sweep"):
            out.append(entry)
            continue
        head = configs.setdefault(i, _config(entry[0][0]))
        group = list(entry)
        for j in range(i + 1, len(entries)):
            if len(group) >= most or head is None:
                break
            other = entries[j]
            if j in taken or len(other) != 1 or other[0][1].get("sweep"):
                continue
            config = configs.setdefault(j, _config(other[0][0]))
            if config is not None and why_apart(head, config) is None:
                group += other
                taken.add(j)
        out.append(group)
    return out
