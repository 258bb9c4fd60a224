"""What a finished run leaves: its students as Hugging Face folders with a model card, and the
numbers of summary.json (perplexities, retention, speed, size, throughput; losses in nats)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.training import on_policy, speed, throughput
from distill_core.training.cross_tokenizer import ids_both_read
from distill_core.training.run_state import RunState


def finish(s: RunState) -> dict:
    """Measure speeds, save the students and write summary.json; returns the summary. Main
    process only. The run's checkpoint stays: it is the way back should any of this fail, and
    goes once the run is marked done (loop.distill)."""
    # Accelerate's mixed-precision wrapper comes off first: deployment runs the plain model,
    # in the same number format as the teacher it is compared with
    student = s.acc.unwrap_model(s.students["student"], keep_fp32_wrapper=False)
    blocks = s.val_blocks if s.prepared.cross is None else \
        ids_both_read(s.val_blocks, s.teacher, student)  # across tokenizers: timing only
    speeds = speed_figures(s.prepared, student, blocks)
    teacher_live = (s.config.alpha > 0 or s.hidden is not None) and s.source.mode == "live"
    flops_token = throughput.flops_per_token(throughput.matmul_params(student),
                                             throughput.matmul_params(s.teacher), teacher_live,
                                             students=len(s.students))
    student_bytes = sum(p.numel() * p.element_size() for p in student.parameters())
    if s.run is not None:
        student_bytes = _save_students(s)
    summary = {**_summary(s, student_bytes, flops_token), **speeds,
               "precision_choice": s.precision_choice, **s.compiler.report(),
               **s.equal_compute}
    summary.update(s.source.report(s.config.batch_size))
    if s.run is not None:
        s.run.write_summary(summary)
    return summary


def _save_students(s: RunState) -> int:
    """Save the student (and baseline) folders; returns the student's bytes on disk."""
    save_student(s.student(), s.prepared.student_tokenizer, s.run.student_dir, s.config, s.evals)
    student_bytes = models.size_on_disk(s.run.student_dir)
    if s.hidden is not None:  # beside the student's folder, not in it: not part of the model
        s.hidden.save(s.run.path)
    if "baseline" in s.students:
        save_student(s.student("baseline"), s.prepared.student_tokenizer, s.run.baseline_dir,
                     baseline_config(s.config), {"val_ppl": s.evals.get("baseline_val_ppl")})
    return student_bytes


def baseline_config(config: DistillConfig) -> DistillConfig:
    """The settings the baseline student trained with: no teacher (alpha 0), so nothing
    on-policy either: it reads the real text of the same micro-batches, never writes its own;
    and no hidden-state part."""
    return config.replace(alpha=0.0, on_policy=0.0, hidden_weight=0.0)


def speed_figures(prepared, student, val_blocks) -> dict:
    """What deployment buys, measured once per student shape and teacher (a sweep's cells share
    it): forward speed-up timed interleaved on 8 validation blocks (speed.forward_speedup), and
    ms per new token generating 64 tokens after a 64-token prompt at batch 1 with the KV cache
    (teacher and student interleaved)."""
    shape = tuple(models.describe(student)[k] for k in ("architecture", "layers", "width",
                                                         "heads", "vocab_rows", "parameters"))
    if shape not in prepared.speeds:
        fwd = speed.forward_speedup(prepared.teacher, student, val_blocks[:8])
        context = min(c for c in (models.context_length(prepared.teacher.config),
                                  models.context_length(student.config), 128) if c)
        prompt = val_blocks[0, :min(64, context // 2)]  # 64 + 64 tokens where the models allow
        new = min(64, context - len(prompt))
        gen = speed.generation_latencies({"teacher": prepared.teacher, "student": student},
                                         prompt, new)
        t_gen, s_gen = gen["teacher"], gen["student"]
        prepared.speeds[shape] = {
            "speedup": fwd["speedup"], "speedup_spread": list(fwd["spread"]),
            "speedup_repeats": fwd["repeats"],
            "student_tokens_per_s": fwd["student_tokens_per_s"],
            "teacher_tokens_per_s": fwd["teacher_tokens_per_s"],
            "teacher_ms_per_token": t_gen["ms_per_token"],
            "student_ms_per_token": s_gen["ms_per_token"],
            "latency_speedup": t_gen["ms_per_token"] / s_gen["ms_per_token"]}
    return prepared.speeds[shape]


def _summary(s: RunState, student_bytes: int, flops_token: int) -> dict:
    evals, student, precision = s.evals, s.student(), s.acc.mixed_precision
    t_loss, s_loss = evals["teacher_val_loss"], evals["val_loss"]
    b_loss = evals.get("baseline_val_loss")
    train_tps = s.history[-1]["tokens_per_s"] if s.history else 0.0
    return {
        "teacher_ppl": evals["teacher_val_ppl"], "student_ppl": evals["val_ppl"],
        "baseline_ppl": evals.get("baseline_val_ppl"),
        "teacher_bpb": evals.get("teacher_val_bpb"), "student_bpb": evals.get("val_bpb"),
        "teacher_bpc": evals.get("teacher_val_bpc"), "student_bpc": evals.get("val_bpc"),
        "baseline_bpb": evals.get("baseline_val_bpb"),
        "teacher_loss": t_loss, "student_loss": s_loss, "baseline_loss": b_loss,
        "agreement": evals["agreement"], "kl": evals["kl"],
        **retention(evals, per_byte=s.prepared.cross is not None),
        "size_ratio": student_bytes / teacher_bytes(s.config.teacher, s.teacher),
        "student_params": sum(p.numel() for p in student.parameters()),
        "teacher_params": sum(p.numel() for p in s.teacher.parameters()),
        "steps": s.config.steps, "tokens": s.tokens, "wall_seconds": time.time() - s.started,
        "processes": s.acc.num_processes, "precision": precision,
        "teacher_mode": s.source.mode,
        "on_policy": s.config.on_policy, "generated_tokens": s.generated_tokens,
        "on_policy_realized": on_policy.realized_fraction(s.generated_tokens, s.step, s.config),
        "generation_s": s.generation_s,
        "train_tokens_per_s": train_tps, "flops_per_token": flops_token,
        "mfu": throughput.mfu(train_tps, flops_token, precision, device=s.acc.device),
    }


def retention(evals: dict, per_byte: bool = False) -> dict:
    """Retention (teacher / student perplexity, in %) and gap closed vs the baseline (in % of
    the baseline's gap to the teacher), from nats per token, or with `per_byte` (the tokenizers
    differ, so per-token figures do not compare) from bits per byte: retention 100 × 2^(teacher
    bpb − student bpb), the ratio of per-byte perplexities. "retention_unit" says which."""
    keys = ("teacher_val_bpb", "val_bpb", "baseline_val_bpb") if per_byte else \
        ("teacher_val_loss", "val_loss", "baseline_val_loss")
    t, s, b = (evals.get(k) for k in keys)
    if t is None or s is None:
        return {"retention_pct": None, "gap_closed_pct": None, "retention_unit": None}
    gap = b - t if b is not None else None
    return {"retention_pct": 100 * (2.0 if per_byte else math.e) ** (t - s),
            "gap_closed_pct": 100 * (b - s) / gap if gap else None,
            "retention_unit": "bits per byte" if per_byte else "nats per token"}


def teacher_bytes(spec: str, teacher) -> int:
    """The teacher's safetensors bytes on disk (its folder, or its snapshot in the hub cache);
    its parameters' bytes in memory when no folder is found."""
    folder = models.model_folder(models.resolve(spec))
    on_disk = models.size_on_disk(folder) if folder is not None else 0
    return on_disk or sum(p.numel() * p.element_size() for p in teacher.parameters())


def save_student(model, tokenizer, folder: Path, config: DistillConfig, evals: dict) -> None:
    """A normal Hugging Face folder (safetensors) with a generated model card."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    ppl = evals.get("val_ppl")
    (folder / "README.md").write_text("\n".join([
        "# Student distilled with Distillation Playground", "",
        f"Teacher `{config.teacher}`, student spec `{config.student}`, data `{config.dataset}`.",
        f"alpha = {config.alpha}, temperature = {config.temperature}, loss `{config.loss}`, "
        f"{config.steps} steps of {config.batch_size} x {config.seq_len} tokens, "
        f"seed {config.seed}.", "",
        f"Validation perplexity (nats-based): {ppl:.3f}" if ppl else "Validation perplexity: n/a",
        "", "Load with `AutoModelForCausalLM.from_pretrained(folder)`; no project code needed.",
        ""]))
