"""torch.compile for the students' training steps, where it pays.

`compile` "on" compiles after the first (eager) step and "off" never. "auto" (the default) decides by
measurement, after timing the run's second eager step: with this machine's record for the same
student, batch, precision and torch (compile.json in the precision cache's folder: the eager
and compiled step times and the compile time measured when it last compiled), it compiles
when the steps left would save more than the compile costs; with no record yet, only when
the steps left would take over COLD_PAYS_S eagerly (a first compile costs tens of seconds on
a 2-core CPU; see docs/speed.md for what it saves there).

Only the training forward and backward go through the compiled module: evaluation,
generation and saving use the same parameters uncompiled, so nothing else recompiles.
Compiled kernels persist across processes in `kernel_dir()`, so a later run of the same
shapes loads them instead of compiling again. A compile that fails falls back to eager: one
line says so, the step is redone eagerly and the run goes on. The time the first compiled
step took beyond an eager one is `compile_s`, reported apart from training time.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from distill_core.machine import machine_name
from distill_core.training.precision import model_shape, read_cache, write_cache
from distill_core.user_cache import default_cache_dir

COLD_PAYS_S = 180.0  # auto, no record: compile when the eager steps left take longer than this
CACHED_GUESS_S = 5.0  # auto: a recompile of cached kernels, until one has been measured
DECIDE_AFTER = 2  # auto: steps timed eagerly first (the first one pays for warm-up)
BACKEND = "inductor"
RECORD_FILE = "compile.json"


def kernel_dir() -> Path:
    """Where compiled kernels persist: $DISTILL_COMPILE_CACHE, else beside the other caches."""
    env = os.environ.get("DISTILL_COMPILE_CACHE")
    return Path(env).expanduser() if env else default_cache_dir() / "inductor"


def record_key(student, batch_shape: tuple, precision: str, students: int, device) -> str:
    """What a compile's cost and gain depend on: machine, torch, threads, shapes, precision."""
    return json.dumps({"machine": machine_name(device), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "student": model_shape(student),
                       "batch": list(batch_shape), "precision": precision,
                       "students": students}, sort_keys=True)


@dataclass
class Compiler:
    """One run's compile state: which students are compiled, what it cost and saved."""

    mode: str  # auto | on | off
    key: str = ""  # record_key of this run
    state: str = "eager"  # eager | compiling (first compiled step) | timing | compiled | failed
    compiled: dict = field(default_factory=dict)  # student key -> compiled module
    eager_step_s: float | None = None  # the last eager step's seconds
    compiled_step_s: float | None = None  # the second compiled step's seconds
    compile_s: float = 0.0  # seconds the first compiled step took beyond an eager step
    reason: str = ""

    def due(self, step: int, steps: int) -> bool:
        """Whether to compile before training step `step` (0-based) of `steps`."""
        if self.state != "eager" or self.mode == "off":
            return False
        if self.mode == "on":  # after one eager step, the basis of compile_s
            return self.eager_step_s is not None
        if step != DECIDE_AFTER or self.eager_step_s is None:
            return False
        left = (steps - step) * self.eager_step_s
        record = read_cache(default_cache_dir() / RECORD_FILE).get(self.key)
        if isinstance(record, dict) and record.get("eager_step_s"):
            gain = 1 - record["compiled_step_s"] / record["eager_step_s"]
            cost = record.get("cached_compile_s", CACHED_GUESS_S)
            pays = left * gain > cost
            self.reason = (f"{'compiled' if pays else 'not compiled'}: {steps - step} steps "
                           f"would save {left * gain:.0f} s ({gain:.0%} a step, measured here "
                           f"{record['measured_at']}) against a {cost:.0f} s compile")
            return pays
        pays = left > COLD_PAYS_S
        self.reason = (f"{'compiled' if pays else 'not compiled'}: no record for this shape "
                       f"here; {steps - step} steps at {self.eager_step_s:.2f} s take "
                       f"{left:.0f} s, {'over' if pays else 'under'} {COLD_PAYS_S:.0f} s")
        return pays

    def start(self, students: dict) -> None:
        """Wrap each student for training; the compile itself happens on its first call."""
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(kernel_dir()))
        self.compiled = {k: torch.compile(m, backend=BACKEND) for k, m in students.items()}
        self.state = "compiling"

    def model(self, key: str, model):
        """The module a training step calls for student `key`."""
        return self.compiled.get(key, model)

    def stepped(self, step_s: float) -> float:
        """Note a training step's seconds; returns the part that was training (the first
        compiled step's time beyond an eager step is compiling)."""
        if self.state == "eager":
            self.eager_step_s = step_s
        elif self.state == "compiling":
            self.compile_s = max(0.0, step_s - (self.eager_step_s or 0.0))
            self.state = "timing"
            return step_s - self.compile_s
        elif self.state == "timing":
            self.compiled_step_s, self.state = step_s, "compiled"
            self._write_record()
        return step_s

    def _write_record(self) -> None:
        if not self.eager_step_s:  # compiled from the first step: nothing to compare with
            return
        path = default_cache_dir() / RECORD_FILE
        old = read_cache(path).get(self.key)
        entry = {"eager_step_s": self.eager_step_s, "compiled_step_s": self.compiled_step_s,
                 "measured_at": datetime.date.today().isoformat()}
        if isinstance(old, dict):  # its kernels were cached by then: this compile was a reload
            entry.update(first_compile_s=old.get("first_compile_s"),
                         cached_compile_s=self.compile_s)
        else:
            entry["first_compile_s"] = self.compile_s
        write_cache(path, self.key, entry)

    def fail(self, err: BaseException) -> str:
        """Give up compiling; returns the one line to show."""
        self.state, self.compiled = "failed", {}
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        self.reason = f"torch.compile failed ({type(err).__name__}: {first[:160]}); " \
                      "training eagerly"
        return self.reason

    def report(self) -> dict:
        return {"compile": self.mode, "compiled": self.state in ("timing", "compiled"),
                "compile_s": round(self.compile_s, 2), "compile_note": self.reason or None,
                "eager_step_s": self.eager_step_s, "compiled_step_s": self.compiled_step_s}
