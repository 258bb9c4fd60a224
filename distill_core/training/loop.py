"""The distillation loop: `distill(config) -> RunResult`, on Accelerate.

One optimiser step:
    for each micro-batch (B/world/accum sequences of seq_len tokens):
        teacher logits under inference_mode (frozen, eval mode)
        total, parts = kd_loss(student logits, teacher logits, next tokens, alpha, T, kind)
        backward(total / accum)
    clip, AdamW step, warmup + cosine learning rate.
With `baseline=True` a copy of the initial student trains on the very same micro-batches with
alpha = 0 (no teacher), so "KD against no KD" is a fair comparison.

The global order of training blocks depends only on the seed, so 1x16 and 4x4 accumulation, or 1
and 2 processes, see the same sequences in each step and give the same update up to rounding.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from distill_core.training import evaluate, probes, teacher_cache, throughput
from distill_core import models
from distill_core.training.checkpoints import load_checkpoint, save_checkpoint
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.losses import kd_loss
from distill_core.store.runs import Run, runs_root


@dataclass
class RunResult:
    summary: dict
    student: torch.nn.Module
    run: Run | None = None
    history: list = field(default_factory=list)


class Cancelled(Exception):
    """Raised inside the loop when the run is asked to stop (SIGTERM)."""


def lr_at(step: int, *, peak: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warmup to `peak`, then cosine decay to `floor * peak`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def mixed_precision(precision: str) -> str:
    """Accelerate's mixed_precision for our precision setting."""
    if precision == "fp32":
        return "no"
    if precision == "bf16":
        return "bf16"
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    if torch.backends.mps.is_available():
        return "no"
    return "bf16" if torch.cpu._is_avx512_bf16_supported() else "no"


def load_blocks(config: DistillConfig, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) token blocks (N, seq_len) for the config's dataset."""
    import datasets

    from distill_core.data.corpora import blocks_as_tensor, load_corpus, pack_blocks

    datasets.disable_progress_bars()
    extra = ({"train_stories": config.train_docs, "validation_stories": 500}
             if config.dataset == "tinytales" else {})
    corpus = load_corpus(config.dataset, text_column=config.text_column,
                         config=config.dataset_config, split=config.dataset_split,
                         seed=config.seed, **extra)
    train = blocks_as_tensor(pack_blocks(corpus["train"], tokenizer, config.seq_len))
    val = blocks_as_tensor(pack_blocks(corpus["validation"], tokenizer, config.seq_len))
    return train, val


@dataclass
class Prepared:
    """What a run loads before training, reusable by runs that share teacher and data (a sweep).

    The teacher cache, when used, is opened on first use and kept here too.
    """

    teacher: torch.nn.Module
    tokenizer: object
    train_blocks: torch.Tensor
    val_blocks: torch.Tensor
    key: tuple
    caches: dict = field(default_factory=dict)
    teacher_tokens_per_s: float | None = None


def prepare(config: DistillConfig, reuse: Prepared | None = None) -> Prepared:
    """Load the teacher, tokenizer and token blocks for `config` (or reuse those of `reuse`)."""
    key = (config.teacher, config.dataset, config.text_column, config.dataset_config,
           config.dataset_split, config.train_docs, config.seq_len, config.seed)
    if reuse is not None and reuse.key == key:
        return reuse
    teacher, tokenizer = models.load_teacher(config.teacher)
    check_context(teacher, config.seq_len, "teacher")
    train_blocks, val_blocks = load_blocks(config, tokenizer)
    return Prepared(teacher, tokenizer, train_blocks, val_blocks, key)


def batch_order(n_blocks: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """(steps, batch_size) block indices: seeded epochs of random permutations."""
    g = torch.Generator().manual_seed(seed)
    need = steps * batch_size
    epochs = [torch.randperm(n_blocks, generator=g) for _ in range(-(-need // n_blocks))]
    return torch.cat(epochs)[:need].view(steps, batch_size)


def micro_batches(indices: torch.Tensor, world: int, rank: int, accum: int) -> list[torch.Tensor]:
    """This process's `accum` micro-batches of one global batch of block indices."""
    per_micro = len(indices) // (world * accum)
    mine = indices.view(accum, world, per_micro)[:, rank]  # (accum, per_micro)
    return list(mine)


def _optimizer(model, config: DistillConfig):
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=config.lr, betas=(0.9, 0.95))


def check_context(model, seq_len: int, role: str) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and seq_len > limit:
        raise InputError(f"seq_len {seq_len} is longer than the {role}'s context of {limit} "
                         "tokens; choose a smaller seq_len")


def distill(config: DistillConfig, on_event=None, run: Run | None = None,
            store: bool = True, prepared: Prepared | None = None,
            resume: bool = False) -> RunResult:
    """Train `config.student` from `config.teacher`; log to a run directory; return the result.

    `on_event(event: dict)` is called on the main process with {"type": "start" | "step" |
    "eval" | "done", ...}. `run` is an existing run to fill (the app queues runs first);
    otherwise, with `store`, a new run is created under `config.runs_dir`. `prepared` (from
    `prepare`) reuses an already loaded teacher and data: a sweep loads them once. `resume`
    continues `run` from its checkpoint (see `resume_run`).
    """
    from accelerate import Accelerator

    from accelerate.state import AcceleratorState

    # Accelerate keeps one state per process; a second run in the same process (tests, notebooks)
    # may use another precision. The process group itself (PartialState) is kept.
    AcceleratorState._reset_state()
    on_cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    # cpu=True also lets Accelerate join a multi-process CPU group (gloo) under torchrun.
    acc = Accelerator(mixed_precision=mixed_precision(config.precision), cpu=on_cpu)
    main = acc.is_main_process
    if main and run is None and store:
        run = Run.create(runs_root(config.runs_dir), config.to_dict(), name=config.name)
    stop = {"asked": False}

    def on_term(signum, frame):
        stop["asked"] = True

    old_handler = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        if run is not None:
            run.set_status("running", pid=os.getpid())
        prepared = prepare(config, prepared)
        result = _train(config, acc, run, on_event or (lambda e: None), stop, prepared, resume)
        if run is not None:
            run.set_status("done")
        return result
    except Cancelled:
        if run is not None:
            run.set_status("cancelled")
        raise
    except BaseException as err:
        if run is not None:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            if isinstance(err, MemoryError) or "allocate memory" in message:
                message = (f"out of memory ({message}): lower batch_size or seq_len, or raise "
                           "grad_accum")
            run.set_status("failed", error=f"{type(err).__name__}: {message}")
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def _train(config: DistillConfig, acc, run: Run | None, emit, stop, prepared: Prepared,
           resume: bool = False) -> RunResult:
    started = time.time()
    world, rank, main = acc.num_processes, acc.process_index, acc.is_main_process
    micro = config.batch_size // (world * config.grad_accum)
    if micro * world * config.grad_accum != config.batch_size:
        raise InputError(f"batch_size {config.batch_size} must divide evenly over {world} "
                         f"processes x {config.grad_accum} accumulation steps")

    teacher, tokenizer = prepared.teacher, prepared.tokenizer
    student = models.load_student(config.student, teacher, seed=config.seed)
    verdict = models.require_compatible(
        tokenizer, models.load_tokenizer(config.student, config.teacher),
        teacher.get_output_embeddings().weight.shape[0],
        student.get_output_embeddings().weight.shape[0])
    vocab = verdict.vocab_size if verdict.verdict == "padded_rows" else None
    check_context(student, config.seq_len, "student")
    train_blocks = prepared.train_blocks
    val_blocks = prepared.val_blocks[:config.eval_blocks]
    order = batch_order(len(train_blocks), config.batch_size, config.steps, config.seed)
    teacher = teacher.to(acc.device).eval()
    caches = _open_caches(config, acc, prepared, val_blocks, vocab) \
        if config.teacher_cache else None

    torch.manual_seed(config.seed)
    students = {"student": student}
    if config.baseline:
        students["baseline"] = copy.deepcopy(student)  # same initial weights
    optimizers = {k: _optimizer(m, config) for k, m in students.items()}
    for k in students:
        students[k], optimizers[k] = acc.prepare(students[k], optimizers[k])

    emit({"type": "start", "steps": config.steps, "train_blocks": len(train_blocks),
          "val_blocks": len(val_blocks), "processes": world, "precision": acc.mixed_precision,
          "teacher_mode": "cached" if caches else "live"})
    history, evals, teacher_eval = [], {}, {}
    state = {"step": 0, "tokens": 0, "train_s": 0.0, "elapsed_s": 0.0}
    if resume:
        state = load_checkpoint(run.checkpoint_dir, acc, students, optimizers)
        evals, teacher_eval = state["evals"], state["teacher_eval"]
        run.truncate_metrics(state["step"])  # lines logged after the checkpoint are redone
        history = run.metrics()
    tokens, train_s, t0 = state["tokens"], state["train_s"], time.time() - state["elapsed_s"]
    if main and run is not None and not resume:  # the scrubber starts from the untrained student
        probes.record(run, 0, acc.unwrap_model(students["student"]), teacher, tokenizer)
    for step in range(state["step"], config.steps):
        if stop["asked"]:
            if main and run is not None:  # keep the student as it is, and where it got to
                save_student(acc.unwrap_model(students["student"]), tokenizer, run.student_dir,
                             config, {})
                save_checkpoint(run.checkpoint_dir, acc, students, optimizers, step, tokens,
                                train_s, time.time() - t0, evals, teacher_eval)
            raise Cancelled("cancelled")
        step_start = time.time()
        lr = lr_at(step, peak=config.lr, warmup=config.warmup, total=config.steps)
        logs = {}
        for key, model in students.items():
            opt = optimizers[key]
            for g in opt.param_groups:
                g["lr"] = lr
            alpha = config.alpha if key == "student" else 0.0
            sums = torch.zeros(3, device=acc.device)
            batches = micro_batches(order[step], world, rank, config.grad_accum)
            for i, idx in enumerate(batches):
                x = train_blocks[idx].to(acc.device)  # (b, T)
                t_logits = None
                if alpha > 0 and caches:  # sparse targets from disk; the teacher runs only
                    caches["train"].fill(teacher, train_blocks, idx, acc.autocast, vocab=vocab)
                    t_logits = caches["train"].targets(idx, acc.device)  # on blocks not cached
                elif alpha > 0:
                    with torch.inference_mode(), acc.autocast():
                        t_logits = teacher(input_ids=x).logits[:, :-1]
                    t_logits = t_logits.clone()  # leave inference mode: autograd may save it
                syncing = i == len(batches) - 1
                with (acc.no_sync(model) if not syncing else contextlib.nullcontext()), acc.autocast():
                    s_logits = model(input_ids=x).logits[:, :-1]  # (b, T-1, V)
                    if vocab:
                        s_logits = s_logits[..., :vocab]
                        if isinstance(t_logits, torch.Tensor):  # (a TopK is cut already)
                            t_logits = t_logits[..., :vocab]
                    total, parts = kd_loss(s_logits, t_logits, x[:, 1:], alpha=alpha,
                                           temperature=config.temperature, kind=config.loss,
                                           beta=config.beta)
                    acc.backward(total / len(batches))
                sums += torch.stack([total.detach(), parts["kd"].detach(),
                                     parts["ce"].detach()]).float() / len(batches)
            if config.grad_clip > 0:
                acc.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss, kd, ce = acc.reduce(sums, reduction="mean").tolist()
            if not all(math.isfinite(v) for v in (loss, kd, ce)):
                raise FloatingPointError(f"{key} loss became {loss} at step {step + 1}; "
                                         "lower the learning rate or the temperature")
            logs[key] = (loss, kd, ce)
        tokens += config.batch_size * config.seq_len
        train_s += time.time() - step_start  # training only: evaluation time is left out
        elapsed = time.time() - t0
        record = {"step": step + 1, "tokens": tokens, "elapsed_s": round(elapsed, 3),
                  "loss": logs["student"][0], "kd": logs["student"][1],
                  "ce": logs["student"][2], "lr": lr, "tokens_per_s": tokens / train_s}
        if "baseline" in logs:
            record["baseline_loss"] = logs["baseline"][0]
        last = step + 1 == config.steps
        if last or (config.eval_every and (step + 1) % config.eval_every == 0):
            if main:
                evals = _evaluate(acc, students, teacher, val_blocks, vocab, teacher_eval, caches)
                record.update(evals)
                if run is not None:  # the student's bars on fixed prompts, for the scrubber
                    probes.record(run, step + 1, acc.unwrap_model(students["student"]), teacher,
                                  tokenizer)
            acc.wait_for_everyone()
        if main:
            if run is not None:
                run.log_metrics(record)
            history.append(record)
            emit({"type": "eval" if "val_loss" in record else "step", **record})
            if run is not None and config.checkpoint_every and not last \
                    and (step + 1) % config.checkpoint_every == 0:
                save_checkpoint(run.checkpoint_dir, acc, students, optimizers, step + 1, tokens,
                                train_s, time.time() - t0, evals, teacher_eval)

    summary = {}
    if main:
        summary = _finish(config, acc, students, teacher, tokenizer, val_blocks, evals, run,
                          tokens, started, world, caches, prepared, history)
        emit({"type": "done", "summary": summary})
    acc.wait_for_everyone()
    return RunResult(summary, acc.unwrap_model(students["student"]), run, history)


def _open_caches(config, acc, prepared: Prepared, val_blocks, vocab) -> dict:
    """The teacher caches for the training and validation blocks (opened once per Prepared)."""
    rows = vocab or prepared.teacher.get_output_embeddings().weight.shape[0]
    k = min(config.top_k, rows)
    root = teacher_cache.cache_root(config.runs_dir)
    caches = {}
    for part, blocks in (("train", prepared.train_blocks), ("val", val_blocks)):
        key = (part, k, acc.mixed_precision, len(blocks))
        if key not in prepared.caches:
            prepared.caches[key] = teacher_cache.open_cache(
                root, prepared.teacher, prepared.tokenizer, blocks, k, acc.mixed_precision, rows)
        caches[part] = prepared.caches[key]
        caches[part].computed = 0  # counted per run
    caches["val"].fill(prepared.teacher, val_blocks, torch.arange(len(val_blocks)), acc.autocast,
                       vocab=vocab)
    return caches


def _evaluate(acc, students, teacher, blocks, vocab, teacher_eval, caches=None) -> dict:
    """Validation metrics; the teacher's own loss is computed once per run."""
    student = acc.unwrap_model(students["student"])
    if caches:
        out = evaluate.compare_cached(student, caches["val"], blocks, vocab=vocab)
    else:
        out = evaluate.compare(student, teacher, blocks, vocab=vocab)
    teacher_eval.setdefault("loss", out["teacher_loss"])
    record = {"val_loss": out["student_loss"], "val_ppl": out["student_ppl"],
              "teacher_val_loss": teacher_eval["loss"],
              "teacher_val_ppl": math.exp(teacher_eval["loss"]),
              "agreement": out["agreement"], "kl": out["kl"]}
    if "baseline" in students:
        base = evaluate.compare(acc.unwrap_model(students["baseline"]), None, blocks, vocab=vocab)
        record.update(baseline_val_loss=base["student_loss"], baseline_val_ppl=base["student_ppl"])
    return record


def _teacher_bytes(spec: str, teacher) -> int:
    s = models.resolve(spec)
    if s.kind in ("builtin", "local"):
        return models.size_on_disk(s.path)
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(s.path, "model.safetensors")
        if isinstance(path, str):
            return Path(path).stat().st_size
    except ImportError:
        pass
    return sum(p.numel() * p.element_size() for p in teacher.parameters())


def _finish(config, acc, students, teacher, tokenizer, val_blocks, evals, run, tokens, started,
            world, caches, prepared: Prepared, history) -> dict:
    student = acc.unwrap_model(students["student"])
    speed_batch = val_blocks[:8]
    student_tps = evaluate.inference_speed(student, speed_batch)
    if prepared.teacher_tokens_per_s is None:  # measured once per loaded teacher
        prepared.teacher_tokens_per_s = evaluate.inference_speed(teacher, speed_batch)
    teacher_tps = prepared.teacher_tokens_per_s
    live = config.alpha > 0 and not caches
    flops_token = throughput.flops_per_token(throughput.matmul_params(student),
                                             throughput.matmul_params(teacher), live,
                                             students=len(students))
    train_tps = history[-1]["tokens_per_s"] if history else 0.0
    student_bytes = sum(p.numel() * p.element_size() for p in student.parameters())
    if run is not None:
        save_student(student, tokenizer, run.student_dir, config, evals)
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)  # finished: nothing to resume
        student_bytes = models.size_on_disk(run.student_dir)
        if "baseline" in students:
            save_student(acc.unwrap_model(students["baseline"]), tokenizer, run.baseline_dir,
                         config.replace(alpha=0.0), {"val_ppl": evals.get("baseline_val_ppl")})
    t_loss, s_loss = evals["teacher_val_loss"], evals["val_loss"]
    b_loss = evals.get("baseline_val_loss")
    gap = b_loss - t_loss if b_loss is not None else None
    summary = {
        "teacher_ppl": evals["teacher_val_ppl"], "student_ppl": evals["val_ppl"],
        "baseline_ppl": evals.get("baseline_val_ppl"),
        "teacher_loss": t_loss, "student_loss": s_loss, "baseline_loss": b_loss,
        "agreement": evals["agreement"], "kl": evals["kl"],
        "retention_pct": 100 * evals["teacher_val_ppl"] / evals["val_ppl"],
        "gap_closed_pct": 100 * (b_loss - s_loss) / gap if gap else None,
        "speedup": student_tps / teacher_tps,
        "student_tokens_per_s": student_tps, "teacher_tokens_per_s": teacher_tps,
        "size_ratio": student_bytes / _teacher_bytes(config.teacher, teacher),
        "student_params": sum(p.numel() for p in student.parameters()),
        "teacher_params": sum(p.numel() for p in teacher.parameters()),
        "steps": config.steps, "tokens": tokens, "wall_seconds": time.time() - started,
        "processes": world, "precision": acc.mixed_precision,
        "teacher_mode": "cached" if caches else "live",
        "train_tokens_per_s": train_tps, "flops_per_token": flops_token,
        "mfu": throughput.mfu(train_tps, flops_token, acc.mixed_precision),
    }
    if caches:
        caches["train"].flush()
        summary.update(caches["train"].report(config.batch_size))
    if run is not None:
        run.write_summary(summary)
    return summary


def resume_run(run: Run, on_event=None) -> RunResult:
    """Continue a cancelled, failed or orphaned run from its last checkpoint, same settings."""
    from distill_core.store.jobs import stalled

    status = run.status()
    if status.get("state") not in ("cancelled", "failed") and not stalled(status):
        raise InputError(f"run {run.id} is {status.get('state')}; only a cancelled or failed "
                         "run can be resumed")
    if not (run.checkpoint_dir / "state.pt").exists():
        raise InputError(f"run {run.id} has no checkpoint to resume from (start runs with "
                         "--checkpoint-every N to save one every N steps)")
    config = DistillConfig.from_dict(run.config())
    return distill(config, on_event=on_event, run=run, resume=True)


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
