"""The distillation loop: `distill(config) -> RunResult`, on Accelerate.

    prepare        (prepared.py) the teacher, tokenizer, token blocks; the precision to train in
    setup          load the student, open the teacher source (live | cached), wrap for Accelerate
    for each step:
        _train_step      one optimiser step of each student (and the baseline) on one batch:
          _optimizer_step  for each micro-batch (B/world/accum sequences of seq_len tokens):
            _rollout         with on_policy > 0: the student writes part of the batch itself
                             (on_policy.py: GKD; the teacher grades those tokens, no CE on them)
            _loss_step       targets = source.targets(batch)   teacher Head (live) | top-k
                             total, parts = fused_kd_loss(student Head, targets, labels, ...)
                             backward(total / accum)
                           clip, AdamW step, warmup + cosine learning rate
        _after_step      evaluate, probes, log, checkpoint (and a SIGTERM cancels before a step)
    equal_compute  with a baseline: it trains on past `steps` to the student's FLOPs and time
    summary.finish  save the students, write summary.json; the run is marked done, and only
                    then is its checkpoint (taken after the last step too) removed

The run's state (students, optimisers, counters, last evaluation) is one `RunState`, and its
checkpoint is that state as one dictionary (`RunState.checkpoint()`, checkpoints.py). With
`baseline=True` a copy of the initial student trains on the very same micro-batches with
alpha = 0 (no teacher), so "KD against no KD" is a fair comparison (it never writes its own
batches: on-policy sequences are the distilled student's alone). With `report_to` the records
also go to Accelerate's trackers (TensorBoard, ...), logged under the run's folder.

The global order of training blocks depends only on the seed, so 1x16 and 4x4 accumulation, or 1
and 2 processes, see the same sequences in each step and give the same update up to rounding.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import signal
import time
from dataclasses import dataclass, field

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.fused import fused_kd_loss
from distill_core.store.limits import load_limits
from distill_core.store.jobs import claim
from distill_core.store.processes import identity
from distill_core.store.runs import Run, runs_root
from distill_core.training import (compiling, equal_compute, hidden_states, on_policy,
                                   probes, teacher_source)
from distill_core.training.checkpoints import (drop_checkpoint, load_checkpoint,
                                              recover_checkpoint, save_checkpoint)
from distill_core.training.cross_tokenizer import student_vocab
from distill_core.training.prepared import (Prepared, batch_order, check_context,
                                             decide_precision, load_blocks, micro_batches,
                                             mixed_precision, prepare)
from distill_core.training.run_state import RunState, StopRequest, failure_line
from distill_core.training.summary import finish, save_student
from distill_core.training.validation import validation_record

__all__ = ["Cancelled", "Prepared", "RunResult", "accelerator", "advance", "batch_order", "begin",
           "check_context", "decide_precision", "distill", "end", "load_blocks", "lr_at",
           "micro_batches", "mixed_precision", "prepare", "resume_run", "save_student", "setup"]


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


def _optimizer(model, config: DistillConfig, extra=()):
    params = [p for p in [*model.parameters(), *extra] if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=config.lr, betas=(0.9, 0.95))


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
    from accelerate.state import AcceleratorState

    # Accelerate keeps one state per process; a second run in the same process (tests, notebooks)
    # may use another precision. The process group itself (PartialState) is kept.
    AcceleratorState._reset_state()
    acc = accelerator("fp32" if config.precision == "auto" else config.precision)
    main = acc.is_main_process
    if main and run is None and store:  # this process's from the start: never "waiting"
        run = Run.create(runs_root(config.runs_dir), config.to_dict(), name=config.name,
                         **identity())
    if main and run is not None:  # "running", compare-and-set: jobs.Taken if not ours
        claim(run, resume=resume)
    stop = StopRequest()

    def on_term(signum, frame):
        stop.asked = True

    old_handler = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        prepared = prepare(config, prepared)
        choice = decide_precision(config, prepared, acc.device)
        reports = config.report_to != "none" and run is not None  # trackers: main process only
        if mixed_precision(choice["precision"]) != acc.mixed_precision or reports:
            AcceleratorState._reset_state()
            acc = accelerator(choice["precision"], config if reports else None, run)
        result = _train(config, acc, run, on_event or (lambda e: None), stop, prepared, resume,
                        choice)
        if run is not None:
            run.set_status("done")
            drop_checkpoint(run.checkpoint_dir)  # only now: every file of the run is written
        return result
    except Cancelled:
        if run is not None:
            run.set_status("cancelled")
        raise
    except BaseException as err:
        if run is not None:
            run.set_status("failed", error=failure_line(err))
        raise
    finally:
        if acc.trackers:
            acc.end_training()  # close the trackers (TensorBoard flushes its event file)
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def accelerator(precision: str, config: DistillConfig | None = None, run: Run | None = None):
    """An Accelerator for a decided precision, on the CPU where there is no GPU (cpu=True also
    lets Accelerate join a multi-process CPU group, gloo, under torchrun); given `config` (with
    report_to) and `run`, it also logs to `config.report_to`'s trackers, under run/trackers."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    on_cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    if config is None:
        return Accelerator(mixed_precision=mixed_precision(precision), cpu=on_cpu)
    project = ProjectConfiguration(project_dir=str(run.path),
                                   logging_dir=str(run.path / "trackers"))
    acc = Accelerator(mixed_precision=mixed_precision(precision), cpu=on_cpu,
                      log_with=config.report_to, project_config=project)
    if not acc.log_with:  # Accelerate only warns, and would log nowhere
        raise InputError(f"report_to {config.report_to}: no such tracker is installed here "
                         f"(pip install {config.report_to}, or report_to none)")
    return acc


def _train(config: DistillConfig, acc, run: Run | None, emit, stop: StopRequest,
           prepared: Prepared,
           resume: bool = False, precision: dict | None = None) -> RunResult:
    s = setup(config, acc, run, emit, stop, prepared)
    s.precision_choice = precision
    if acc.log_with:
        acc.init_trackers("distill-playground", config={
            k: v for k, v in config.to_dict().items() if v is not None})
    begin(s, resume)
    for step in range(s.step, config.steps):
        advance(s, step)
    return end(s)


def begin(s: RunState, resume: bool = False) -> None:
    """Announce the run (its start event and notices); go on from its checkpoint with
    `resume`, else record the untrained student's probes (the scrubber starts there)."""
    s.emit({"type": "start", "steps": s.config.steps, "train_blocks": len(s.train_blocks),
            "val_blocks": len(s.val_blocks), "processes": s.acc.num_processes,
            "precision": s.acc.mixed_precision, "teacher_mode": s.source.mode})
    for line in teacher_source.unfused_notes(s.student(), s.source):
        s.emit({"type": "notice", "message": line})
    s.t0 = time.time()
    if resume:
        _restore(s)
    elif s.main and s.run is not None and s.prepared.cross is None:  # probes need one tokenizer
        probes.record(s.run, 0, s.student(), s.teacher, s.tokenizer)


def advance(s: RunState, step: int) -> None:
    """Step `step` of the run: Cancelled if it was asked to stop, else compile when due,
    train one step, then evaluate, log and checkpoint as due."""
    if s.stop.asked:
        _cancel(s)
    if s.compiler.due(step, s.config.steps):
        s.compiler.start(s.students)
    _after_step(s, _train_step(s, step))


def end(s: RunState) -> RunResult:
    """The trained run: hooks off, students saved and summary written (main process)."""
    if s.hidden:
        s.hidden.close()  # the student leaves the run without its recording hooks
    last_lr = lr_at(s.config.steps - 1, peak=s.config.lr, warmup=s.config.warmup_steps,
                    total=s.config.steps)  # the baseline trains on at it, to the student's cost
    s.equal_compute = equal_compute.extend_baseline(
        s, functools.partial(_optimizer_step, s, "baseline", alpha=0.0), last_lr)
    summary = {}
    if s.main:
        summary = finish(s)
        s.emit({"type": "done", "summary": summary})
    s.acc.wait_for_everyone()
    return RunResult(summary, s.student(), s.run, s.history)


def setup(config: DistillConfig, acc, run, emit, stop: StopRequest,
           prepared: Prepared) -> RunState:
    """Load the student, check it against the teacher, open the teacher source, wrap the
    students and their optimisers for Accelerate."""
    started = time.time()
    world = acc.num_processes
    if config.batch_size % (world * config.grad_accum):
        raise InputError(f"batch_size {config.batch_size} must divide evenly over {world} "
                         f"processes x {config.grad_accum} accumulation steps")
    teacher = prepared.teacher
    student = models.load_student(config.student, teacher, seed=config.seed,
                                  limits=load_limits(config.runs_dir))
    vocab = student_vocab(prepared, teacher, student)  # tokenizers that differ: cross runs only
    check_context(student, config.seq_len, "student")
    val_blocks = prepared.val_blocks[:config.eval_blocks]
    order = batch_order(len(prepared.train_blocks), config.batch_size, config.steps, config.seed)
    teacher.to(acc.device).eval()
    source = teacher_source.open_source(config, prepared, val_blocks, acc.autocast,
                                        acc.mixed_precision, vocab)
    torch.manual_seed(config.seed)
    students = {"student": student}
    if config.baseline:
        students["baseline"] = copy.deepcopy(student)  # same initial weights
    hidden = hidden_states.open_hidden(config, student, teacher)  # None unless hidden_weight
    optimizers = {k: _optimizer(m, config, hidden.parameters() if hidden and k == "student"
                                else ()) for k, m in students.items()}
    for k in students:
        students[k], optimizers[k] = acc.prepare(students[k], optimizers[k])
    if hidden:  # the projection prepared, the teacher watched; a line says which layers pair
        source = hidden.ready(acc, source, emit)
    return RunState(config, acc, run, emit, stop, prepared, source, vocab, students, optimizers,
                    val_blocks, order, started, compiler=compiling.Compiler(
                        config.compile, compiling.record_key(
                            student, (config.micro_batch, config.seq_len), acc.mixed_precision,
                            len(students), acc.device)), hidden=hidden)


def _restore(s: RunState) -> None:
    """Go on from the run's checkpoint; metric lines logged after it are redone."""
    s.restore(load_checkpoint(s.run.checkpoint_dir, models={k: s.student(k) for k in s.students},
                              projection=s.hidden.module if s.hidden else None))
    s.run.truncate_metrics(s.step)
    s.history = s.run.metrics()
    last = s.history[-1] if s.history else {}  # the generation counters go on from there
    s.generated_tokens = last.get("generated_tokens", 0)
    s.generation_s = last.get("generation_s", 0.0)


def _train_step(s: RunState, step: int) -> dict:
    """One optimiser step of every student on the same global batch; returns its record."""
    config = s.config
    step_start = time.time()
    lr = lr_at(step, peak=config.lr, warmup=config.warmup_steps, total=config.steps)
    logs = {key: s.shared_step(key, step, functools.partial(equal_compute.timed, s, key,
            functools.partial(_compiled_or_eager, s, key, step, lr))) for key in s.students}
    s.step = step + 1
    s.tokens += config.batch_size * config.seq_len
    # training only: evaluation and (the first compiled step's extra) compile time are left out
    s.train_s += s.compiler.stepped(time.time() - step_start)
    record = {"step": step + 1, "tokens": s.tokens, "elapsed_s": round(time.time() - s.t0, 3),
              "loss": logs["student"][0], "kd": logs["student"][1], "ce": logs["student"][2],
              "lr": lr, "tokens_per_s": s.tokens / s.train_s}
    if s.hidden:  # its part of the loss, unweighted (the total has hidden_weight x it)
        record["hidden"] = s.hidden.take(s.acc)
    if "baseline" in logs:
        record["baseline_loss"] = logs["baseline"][0]
    if config.on_policy:
        record.update(generated_tokens=s.generated_tokens, generation_s=round(s.generation_s, 3))
    return record


def _compiled_or_eager(s: RunState, key: str, step: int, lr: float) -> tuple:
    """One optimiser step of student `key`; a failure of its first compiled step falls back
    to eager (one notice) and redoes the step."""
    alpha = s.config.alpha if key == "student" else 0.0
    try:
        return _optimizer_step(s, key, step, lr, alpha)
    except Exception as err:  # noqa: BLE001 - any compile failure; a real error recurs eagerly
        if s.compiler.state != "compiling":
            raise
        s.emit({"type": "notice", "message": s.compiler.fail(err)})
        s.optimizers[key].zero_grad(set_to_none=True)
        return _optimizer_step(s, key, step, lr, alpha)


def _optimizer_step(s: RunState, key: str, step: int, lr: float, alpha: float) -> tuple:
    """Accumulate the gradients of this process's micro-batches, clip, step. Returns the
    (loss, kd, ce) means over all processes."""
    acc, model, opt = s.acc, s.students[key], s.optimizers[key]
    for g in opt.param_groups:
        g["lr"] = lr
    # no teacher for the baseline, or at alpha = 0 unless the student learns its hidden states
    source = s.source if alpha > 0 or (key == "student" and s.hidden) else None
    sums = torch.zeros(3, device=acc.device)
    batches = micro_batches(s.order[step], acc.num_processes, acc.process_index,
                            s.config.grad_accum)
    for i, idx in enumerate(batches):
        x = s.train_blocks[idx].to(acc.device)  # (b, T)
        generated = None
        if source is not None and s.config.on_policy:
            x, generated = _rollout(s, model, x, step, i)
        sums += _loss_step(s, model, source, idx, x, alpha, len(batches),
                           sync=i == len(batches) - 1, generated=generated,
                           forward=s.compiler.model(key, model))
    if s.config.grad_clip > 0:
        acc.clip_grad_norm_(s.trained_parameters(key), s.config.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    loss, kd, ce = acc.reduce(sums, reduction="mean").tolist()
    if not all(math.isfinite(v) for v in (loss, kd, ce)):
        raise FloatingPointError(s.not_finite(key, loss, step, lr, alpha))
    return loss, kd, ce


def _rollout(s: RunState, model, x: torch.Tensor, step: int, micro: int):
    """(x, generated): the micro-batch with its first rows (its share of round(on_policy · B)
    over the whole batch) continued by the student from their prefix (on_policy.py), and the
    (b, T-1) mask of sampled next tokens, or None when no row is. Counts the tokens written,
    all processes, and the seconds taken."""
    config, world, prefix = s.config, s.acc.num_processes, s.config.on_policy_prefix_tokens
    plan = on_policy.rows_per_micro_batch(config.batch_size, config.on_policy,
                                          config.grad_accum * world)
    here = plan[micro * world:(micro + 1) * world]  # this micro-batch on each process
    s.generated_tokens += sum(here) * (config.seq_len - prefix)
    rows = here[s.acc.process_index]
    if rows == 0:
        return x, None
    started = time.time()
    x = on_policy.continue_blocks(
        s.acc.unwrap_model(model), x, rows, prefix, config.on_policy_temperature,
        on_policy.sampling_seed(config.seed, step, micro, s.acc.process_index),
        vocab=s.vocab or len(s.tokenizer), autocast=s.acc.autocast)
    s.generation_s += time.time() - started
    return x, on_policy.generated_positions(x, rows, prefix)


def _loss_step(s: RunState, model, source, idx, x, alpha: float, accum: int,
               sync: bool, generated: torch.Tensor | None = None, forward=None) -> torch.Tensor:
    """Student forward (through `forward`, its compiled twin, when given) to its last hidden
    states, the fused kd_loss (kd.fused) against the source's targets, backward of loss / accum;
    with `generated` (b, T-1), on_policy.gkd_loss (no CE on the tokens the student sampled).
    Returns (total, kd, ce) / accum, detached. Gradients sync across processes when `sync`."""
    acc, config, forward = s.acc, s.config, model if forward is None else forward
    targets = source.targets(idx, x) if source else None  # a teacher Head, logits or a TopK
    loss = (source.loss if source else fused_kd_loss) if generated is None else \
        functools.partial(on_policy.gkd_loss, generated=generated)
    with (contextlib.nullcontext() if sync else acc.no_sync(model)), acc.autocast():
        student = models.student_head(forward, acc.unwrap_model(model), x, s.vocab)  # or logits
        total, parts = loss(student, targets, x[:, 1:], alpha=alpha,
                            temperature=config.temperature, kind=config.loss, beta=config.beta)
        total = total + hidden_states.weighted_part(s.hidden, source, accum)
        acc.backward(total / accum)
    return torch.stack([total.detach(), parts["kd"].detach(), parts["ce"].detach()]).float() \
        / accum


def _after_step(s: RunState, record: dict) -> None:
    """Evaluate (and record the probes) when due, log the record, save a checkpoint when due."""
    config, step = s.config, record["step"]
    last = step == config.steps
    if last or (config.eval_every and step % config.eval_every == 0):
        if s.main:
            s.evals = validation_record(s)
            record.update(s.evals)
            if s.run is not None and s.prepared.cross is None:  # the scrubber's bars
                probes.record(s.run, step, s.student(), s.teacher, s.tokenizer)
        s.acc.wait_for_everyone()
    if not s.main:
        return
    if s.run is not None:
        s.run.log_metrics(record)
    if s.acc.trackers:  # report_to: TensorBoard, W&B, ... as well
        s.acc.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=step)
    s.history.append(record)
    s.emit({"type": "eval" if "val_loss" in record else "step", **record})
    # the last step's too: the way back if finishing the run fails (summary.finish)
    if s.run is not None and config.checkpoint_every \
            and (last or step % config.checkpoint_every == 0):
        save_checkpoint(s.run.checkpoint_dir, s.checkpoint())


def _cancel(s: RunState) -> None:
    """Keep the student as it is, and a checkpoint of where it got to; raise Cancelled."""
    if s.main and s.run is not None:
        save_student(s.student(), s.prepared.student_tokenizer, s.run.student_dir, s.config, {})
        save_checkpoint(s.run.checkpoint_dir, s.checkpoint())
    raise Cancelled("cancelled")


def resume_run(run: Run, on_event=None) -> RunResult:
    """Continue a cancelled, failed or orphaned run from its last checkpoint, same settings."""
    from distill_core.store.jobs import stalled

    status = run.status()
    if status.get("state") not in ("cancelled", "failed") and not stalled(status):
        raise InputError(f"run {run.id} is {status.get('state')}; only a cancelled or failed "
                         "run can be resumed")
    recover_checkpoint(run.checkpoint_dir)  # killed mid-swap: the complete one goes back
    if not (run.checkpoint_dir / "state.pt").exists():
        raise InputError(f"run {run.id} has no checkpoint to resume from (start runs with "
                         "--checkpoint-every N to save one every N steps)")
    config = DistillConfig.from_dict(run.config())
    return distill(config, on_event=on_event, run=run, resume=True)


