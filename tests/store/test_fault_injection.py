"""Fault injection: 20 short runs, each SIGKILLed at a seeded random moment of training,
evaluation, checkpointing or finishing, then inspected and resumed. Every run must end
finished with all its files, or resume to the same numbers as a run never interrupted.

The kills come from inside each run's process (tests/store/fault_child.py counts the events
of its phase and SIGKILLs itself at the k-th), so every phase is hit, and at a moment the seed
picks. A kill always lands after the run's first checkpoint: before it there is no work to
keep, and a new run is the way on.
"""

import math
import multiprocessing
import random
import signal

import pytest

from distill_core.config import DistillConfig
from distill_core.store import jobs
from distill_core.store.runs import Run
from tests.conftest import save_small_teacher

RUNS = 20
SEED = 19
STEPS, CHECKPOINT_EVERY, EVAL_EVERY = 6, 2, 3
# k ranges per phase: 3 checkpoint events (torch.save, 2 x os.replace) per checkpoint, the
# first complete before any kill; eval: the forward calls of the evaluations after step 2.
K_RANGE = {"train": (CHECKPOINT_EVERY + 1, STEPS), "eval": (1, 40),
           "checkpoint": (4, 3 * (STEPS // CHECKPOINT_EVERY)), "finish": (1, 14)}
NUMBERS = ("student_ppl", "agreement", "teacher_ppl", "steps", "tokens")
STUDENT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory, small_tokenizer):
    """A 2-layer GPT-2 with a 24-token context: its speed figures time 12 new tokens."""
    return save_small_teacher(tmp_path_factory.mktemp("tiny_teacher"), small_tokenizer,
                              n_positions=24)


@pytest.fixture(scope="module")
def server():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.store.fault_child"])
    return context


def _in_child(server, *args) -> int:
    """Run fault_child.train(*args) in a process of its own; its exit code (-9: SIGKILLed)."""
    from tests.store import fault_child

    proc = server.Process(target=fault_child.train, args=args)
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode is not None, f"{args} hung"
    return proc.exitcode


def _finished_with_all_files(run: Run) -> bool:
    summary = run.summary()
    return (run.status().get("state") == "done" and summary is not None
            and all((run.student_dir / name).is_file() for name in STUDENT_FILES)
            and not (run.checkpoint_dir / "state.pt").exists())


def _same_numbers(run: Run, reference: dict) -> bool:
    summary = run.summary() or {}
    return all(math.isclose(summary.get(k, math.nan), reference[k], rel_tol=1e-6)
               for k in NUMBERS)


@pytest.mark.slow
def test_runs_killed_at_random_moments_finish_or_resume_to_the_same_numbers(
        tiny_teacher, tmp_path, server, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "cache"))
    config = DistillConfig(teacher=str(tiny_teacher), student="builtin:half",
                           train_docs=100, steps=STEPS, batch_size=2, seq_len=16, warmup=1,
                           eval_every=EVAL_EVERY, eval_blocks=2, checkpoint_every=CHECKPOINT_EVERY,
                           precision="fp32", compile="off", runs_dir=str(tmp_path))
    reference_run = Run.create(tmp_path, config.to_dict(), name="reference")
    assert _in_child(server, str(tmp_path), reference_run.id, "train", 10 ** 9) == 0
    reference = reference_run.summary()
    assert _finished_with_all_files(reference_run)

    rng = random.Random(SEED)
    phases = [fault_phase for fault_phase in ("train", "eval", "checkpoint", "finish")
              for _ in range(RUNS // 4)]
    outcome = {"killed": 0, "finished": 0, "resumed": 0, "lost": []}
    killed_in = set()
    for i, phase in enumerate(phases):
        run = Run.create(tmp_path, config.to_dict(), name=f"{phase}-{i}")
        k = rng.randint(*K_RANGE[phase])
        code = _in_child(server, str(tmp_path), run.id, phase, k)
        assert code in (0, -signal.SIGKILL), (phase, k, code, run.status())
        if code == -signal.SIGKILL:
            outcome["killed"] += 1
            killed_in.add(phase)
            # its process is gone: the run says so, or it had finished (a kill after "done")
            assert jobs.stalled(run.status()) or _finished_with_all_files(run), run.status()
        if _finished_with_all_files(run) and _same_numbers(run, reference):
            outcome["finished"] += 1
            continue
        resumed = _in_child(server, str(tmp_path), run.id)
        if resumed == 0 and _finished_with_all_files(run) and _same_numbers(run, reference):
            outcome["resumed"] += 1
        else:
            outcome["lost"].append((phase, k, resumed, run.status(), run.summary()))
    print(f"fault injection: {outcome['killed']} kills survived, {outcome['finished']} runs "
          f"finished, {outcome['resumed']} resumed, runs lost: {len(outcome['lost'])}")
    assert outcome["lost"] == []
    assert killed_in == {"train", "eval", "checkpoint", "finish"}  # every phase was hit
    assert outcome["killed"] >= RUNS * 3 // 4
