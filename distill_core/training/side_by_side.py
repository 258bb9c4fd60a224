"""Runs trained side by side: runs that read the same batches from the same teacher
(store.groups.why_apart) train in one process and one loop, and one teacher forward per batch
serves every student.

    outcomes = train_together([config_a, config_b, ...], runs=[run_a, run_b, ...])

Each run is set up, stepped and finished by the loop's own pieces (loop.setup, begin, advance,
end), so each ends as the very run folder `distill` writes (config, status, metrics, probes,
summary, students, checkpoints) with the same numbers, up to rounding. What they share:

- the loaded teacher and data (`Prepared`) and one Accelerator (one precision);
- the teacher's targets for each micro-batch (`SharedTargets`): the first student to ask in a
  step computes them (live: one teacher forward; cached: one read), the others read them;
- one baseline: runs with `baseline` whose baselines would train alike (same student, lr,
  warmup, weight decay and clip; the rest is shared by the group) train it once
  (RunState.shared_step) and each saves it in its own folder.

Each keeps its own student, optimiser, schedule, loss settings, evaluation, checkpoints and
status, and its own stop: `jobs.cancel` of one run leaves a mark in its folder (jobs.cancel_asked)
that is read before each step, so that run stops, keeping its student, and the others go on;
SIGTERM stops them all. A run that fails (a loss that became nan) is marked failed alone.

Within a step the students train one after another, each an eager (or compiled) model of its
own. Stacking students of one shape (torch.func.stack_module_state + functional_call + vmap)
is not done: it would need the fused loss and AdamW over stacked parameters, and whether it is
faster than the per-student matrix multiplies on a 2-core CPU is yet to be measured.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

import torch

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store import jobs
from distill_core.store.groups import why_apart
from distill_core.store.processes import identity, same_process
from distill_core.store.runs import Run, runs_root
from distill_core.training.checkpoints import drop_checkpoint
from distill_core.training.loop import (Cancelled, RunResult, accelerator, advance, begin,
                                        decide_precision, end, mixed_precision, prepare, setup)
from distill_core.training.run_state import RunState, StopRequest, failure_line

__all__ = ["SharedTargets", "TargetMemo", "check_together", "outcome_summary",
           "train_together"]


def check_together(configs: list[DistillConfig]) -> None:
    """InputError naming the first run that cannot train with the first one, and why."""
    if not configs:
        raise InputError("nothing to train side by side")
    for i, config in enumerate(configs[1:], start=2):
        reason = why_apart(configs[0], config)
        if reason:
            raise InputError(f"runs 1 and {i} cannot train side by side: {reason}")


@dataclass
class TargetMemo:
    """The teacher's targets of this step's micro-batches, kept for every student of a group;
    `computed` counts the times a source was asked (teacher forwards, when live)."""

    entries: dict = field(default_factory=dict)  # (vocab, block indices) -> targets
    computed: int = 0


class SharedTargets:
    """A run's teacher source whose training targets come from the group's `TargetMemo`: the
    first student to ask for a micro-batch's targets in a step computes them, the others read
    them. Everything else (evaluation, the cache's report) is the run's own source."""

    def __init__(self, source, memo: TargetMemo, vocab: int | None):
        self.source, self.memo, self.vocab = source, memo, vocab

    def targets(self, idx: torch.Tensor, x: torch.Tensor):
        key = (self.vocab, tuple(idx.tolist()))
        if key not in self.memo.entries:
            self.memo.entries[key] = self.source.targets(idx, x)
            self.memo.computed += 1
        return self.memo.entries[key]

    def __getattr__(self, name):  # mode, compare, report, unfused: the run's own source
        return getattr(self.source, name)


@dataclass
class Member:
    """One run of the group: its settings, folder, state while it trains, and how it ended
    (a RunResult, or the exception that ended it)."""

    config: DistillConfig
    run: Run | None
    state: RunState | None = None
    outcome: object = None


def train_together(configs: list[DistillConfig], runs: list | None = None, on_event=None,
                   prepared=None, store: bool = True) -> list:
    """Train runs side by side; one outcome per config: its RunResult, or the exception that
    ended it (Cancelled, jobs.Taken when another process owns it, or its failure). `runs`:
    existing (queued) runs to fill, in the order of `configs`; otherwise, with `store`, new
    runs are created. `on_event(event)` gets each run's events with its "run_id". Raises
    Cancelled at the end when the process was asked to stop (SIGTERM)."""
    from accelerate.state import AcceleratorState

    check_together(configs)
    members = [Member(c, r) for c, r in zip(configs, runs or [None] * len(configs))]
    everyone = StopRequest()
    stops = [StopRequest() for _ in members]

    def on_term(signum, frame):
        everyone.asked = True
        for stop in stops:
            stop.asked = True

    AcceleratorState._reset_state()
    acc = accelerator(configs[0].precision if configs[0].precision != "auto" else "fp32")
    old_handler = signal.signal(signal.SIGTERM, on_term) if acc.is_main_process else None
    try:
        prepared = prepare(configs[0], prepared)
        choice = decide_precision(configs[0], prepared, acc.device)
        if mixed_precision(choice["precision"]) != acc.mixed_precision:
            AcceleratorState._reset_state()
            acc = accelerator(choice["precision"])
        memo = _start_all(members, stops, acc, prepared, choice, on_event or (lambda e: None),
                          store)
        _train_all(members, configs[0].steps, memo)
        for m in _active(members):
            _finish(m)
    except BaseException as err:
        _fail_unstarted(members, err)
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
    if everyone.asked and any(isinstance(m.outcome, Cancelled) for m in members):
        raise Cancelled("cancelled")
    return [m.outcome for m in members]


def _active(members: list[Member]) -> list[Member]:
    return [m for m in members if m.state is not None and m.outcome is None]


def _start_all(members, stops, acc, prepared, choice: dict, on_event,
               store: bool) -> TargetMemo:
    """Claim, set up and announce each run in turn (one cancelled meanwhile is skipped); the
    students share the teacher's targets (the memo returned), and runs whose baselines train
    alike share one baseline."""
    memo, baselines = TargetMemo(), {}
    for member in members:  # this process's from the start: never "waiting"
        if acc.is_main_process and member.run is None and store:
            member.run = Run.create(runs_root(member.config.runs_dir), member.config.to_dict(),
                                    name=member.config.name, **identity())
    group = [m.run.id for m in members if m.run is not None] or None
    for member, stop in zip(members, stops):
        config = member.config
        try:
            if acc.is_main_process and member.run is not None:
                jobs.claim(member.run, group=group)
        except jobs.Taken as err:  # cancelled (or taken) before its turn
            member.outcome = err
            continue
        run_id = member.run.id if member.run is not None else None
        emit = (lambda e, rid=run_id: on_event({**e, "run_id": rid}))
        key = _baseline_key(config)
        lender = baselines.get(key)
        try:
            s = setup(config.replace(baseline=False) if lender else config, acc, member.run,
                      emit, stop, prepared)
            s.config, s.precision_choice = config, choice
            s.source = SharedTargets(s.source, memo, s.vocab)
            if lender is not None:  # the baseline trained once, with the first run's
                s.students["baseline"] = lender.students["baseline"]
                s.optimizers["baseline"] = lender.optimizers["baseline"]
                s.shared["baseline"] = lender.shared.setdefault("baseline", {})
            elif key is not None:
                baselines[key] = s
            member.state = s
            begin(s)
        except Exception as err:  # noqa: BLE001 - this run fails; the others go on
            _fail(member, err)
    return memo


def _baseline_key(config: DistillConfig) -> tuple | None:
    """What a baseline's training depends on beyond what the group shares (None: none)."""
    if not config.baseline:
        return None
    return (config.student, config.lr, config.warmup_steps, config.weight_decay,
            config.grad_clip, config.compile)


def _train_all(members: list[Member], steps: int, memo: TargetMemo) -> None:
    """Every step: each run still training takes its step (one teacher forward per
    micro-batch for all, SharedTargets); a run asked to stop, or failing, leaves the group."""
    pid = os.getpid()
    for step in range(steps):
        memo.entries.clear()
        for m in _active(members):
            if m.run is not None and jobs.cancel_asked(m.run, pid):
                m.state.stop.asked = True
            try:
                advance(m.state, step)
            except Cancelled as err:
                m.outcome = err
                if m.run is not None:
                    m.run.set_status("cancelled")
            except Exception as err:  # noqa: BLE001 - this run fails; the others go on
                _fail(m, err)


def _finish(member: Member) -> None:
    """Save the run's students and summary; mark it done and drop its checkpoint."""
    try:
        member.outcome = end(member.state)
    except Exception as err:  # noqa: BLE001
        _fail(member, err)
        return
    if member.run is not None:
        member.run.set_status("done")
        drop_checkpoint(member.run.checkpoint_dir)  # only now: every file of the run is written


def _fail_unstarted(members: list[Member], err: BaseException) -> None:
    """A failure of what the group shares (teacher, data, precision) fails each run that has
    not ended yet and is this process's: training, or waiting for it."""
    me = identity()
    for m in members:
        if m.run is not None and m.outcome is None:
            jobs.change_status(m.run, "failed", lambda s: s.get("state") in (
                "queued", "running") and same_process(s, me), error=failure_line(err))


def _fail(member: Member, err: BaseException) -> None:
    member.outcome = err
    if member.run is not None:
        member.run.set_status("failed", error=failure_line(err))


def outcome_summary(outcome) -> dict | None:
    """The summary of a run that finished, else None."""
    return outcome.summary if isinstance(outcome, RunResult) else None
