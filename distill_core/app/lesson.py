"""The guided lesson: five steps, each an idea in a few sentences, the widget that shows it and a
"try this" setting. The words and settings live here as data; the numbers are computed by the
functions below from the loaded models (the page only draws). No Streamlit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from distill_core import models
from distill_core.app.presets import FIT_TO_SLIDERS, short_run
from distill_core.config import DistillConfig
from distill_core.kd.explore import TEMPERATURES, soft_label_view
from distill_core.kd.losses import entropy
from distill_core.policy import Limits
from distill_core.store import jobs
from distill_core.store.runs import compare, list_runs, load_run
from distill_core.training import evaluate
from distill_core.training import loop as train

__all__ = ["FIT_LINK", "FROM_LINK", "IMPERFECT_TEACHERS", "SESSION_DEFAULTS", "STEPS", "capacity",
           "entropies", "finished_runs", "imperfect_teacher_configs", "imperfect_teacher_results",
           "start_imperfect_teacher_runs", "teacher_against_early", "teacher_view",
           "validation_blocks"]


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    try_this: str  # what the button says it will show
    settings: dict = field(default_factory=dict)  # lesson widget key -> value


STEPS = (
    Step("A teacher and a student",
         "The **teacher** is a model that already predicts text well; the **student** is a "
         "smaller one we want to make nearly as good. The smaller the student, the cheaper it is "
         "to run, and the wider the **capacity gap**: fewer parameters to store what the "
         "teacher knows. The built-in students are made from the built-in teacher: *half* keeps "
         "every other teacher layer, *small* and *tiny* start from random weights at a fraction "
         "of its width.",
         "pick the tiniest student and see how far it is from the teacher",
         {"lesson_student": "builtin:tiny"}),
    Step("Soft labels against hard labels",
         "Ordinary training tells a model only which token came next: a **hard label**, all "
         "probability on one token. The teacher gives a **soft label**: a probability for every "
         "token. Where several continuations are fine (a name, a drink), the soft label says "
         "which ones and how much, and that is what the student can learn from.",
         "a prompt where many next words make sense",
         {"lesson_prompt": "They ate cake and drank"}),
    Step("Temperature",
         "Dividing the teacher's scores by a **temperature T** before the softmax flattens its "
         "distribution when T > 1: the top token loses probability, the runners-up gain it, so "
         "the student sees the teacher's second and third guesses more clearly. The order of "
         "the tokens never changes. **Entropy** (in nats) measures how spread the distribution "
         "is; e to the entropy is the number of tokens it is effectively choosing between.",
         "heat the teacher up to T = 4",
         {"lesson_temperature": 4.0}),
    Step("Tuning α and T",
         "Training mixes the two targets: **α** weighs the soft labels (at temperature T, times "
         "T² to keep their pull the same size) and 1 − α the hard label. α = 0 is training "
         "without a teacher, α = 1 learns from the teacher alone. Which α and T work best is an "
         "empirical question: a small grid of runs (a sweep) answers it for a given pair.",
         "the classic setting of the original distillation paper",
         {"lesson_alpha": 0.9, "lesson_temperature": 4.0}),
    Step("Limits, and what it buys",
         "A student is smaller and faster but rarely as good: the trade is size and speed against "
         "quality. And it can only be as good as what it copies. An **imperfect teacher** (here "
         "an early snapshot of the built-in teacher's own training, stopped after 300 steps) "
         "spreads its probability more loosely and predicts worse; a student distilled from it "
         "inherits that.",
         "distil the same student from each teacher, side by side", {}),
)

LESSON_STUDENTS = ("builtin:half", "builtin:small", "builtin:tiny")
LESSON_PROMPTS = ("Once upon a time there was a little", "They ate cake and drank",
                  "Suddenly, a big")
IMPERFECT_TEACHERS = ("builtin:teacher", "builtin:teacher-early")
# The page's session keys and their first values (kept while other steps show), and the shared
# link's fields each widget takes, fitted to it.
SESSION_DEFAULTS = {"lesson_student": "builtin:half", "lesson_prompt": LESSON_PROMPTS[0],
                    "lesson_temperature": 1.0, "lesson_alpha": 0.5, "lesson_runs": []}
FROM_LINK = {"lesson": "lesson_step", "prompt": "lesson_prompt",
             "temperature": "lesson_temperature", "alpha": "lesson_alpha"}
FIT_LINK = {**FIT_TO_SLIDERS, "lesson": lambda n: min(n, len(STEPS))}


def capacity(teacher, student) -> dict:
    """Parameters, layers, width and fp32 size of both models, and the ratios between them."""
    t, s = models.describe(teacher), models.describe(student)
    return {"teacher": t, "student": s, "param_ratio": s["parameters"] / t["parameters"],
            "times_smaller": t["parameters"] / s["parameters"]}


def teacher_view(logits: torch.Tensor, tokenizer, temperature: float, k: int = 8) -> dict:
    """The teacher's top-k tokens at T with their probabilities and the rest (soft_label_view
    keys; its student side is the teacher again, so only the teacher keys are kept), plus its
    entropy in nats and the effective number of choices."""
    view = soft_label_view(logits, logits, tokenizer, temperature, k=k)
    h = float(entropy(logits, temperature))
    return {key: view[key] for key in ("tokens", "ids", "teacher", "teacher_rest", "temperature",
                                       "vocab")} | {"entropy": h, "choices": math.exp(h)}


def entropies(logits: torch.Tensor, temperatures=TEMPERATURES) -> list[float]:
    """Entropy (nats) of softmax(logits / T) for each T."""
    return [float(entropy(logits, t)) for t in temperatures]


def teacher_against_early(teacher, early, blocks: torch.Tensor) -> dict:
    """Both teachers on the same validation blocks: perplexities, how often the early one's top
    token is the trained one's, and KL(trained‖early) at T = 1, in nats per token."""
    out = evaluate.compare(early, teacher, blocks)
    return {"teacher_ppl": out["teacher_ppl"], "early_ppl": out["student_ppl"],
            "agreement": out["agreement"], "kl": out["kl"], "tokens": out["tokens"]}


def validation_blocks(tokenizer, n_blocks: int = 16) -> torch.Tensor:
    """The first `n_blocks` validation blocks (N, seq_len) of the lesson's runs' data (tinytales;
    100 training stories, since only the validation split is used)."""
    config = imperfect_teacher_configs()[0].replace(train_docs=100)
    return train.load_blocks(config, tokenizer)[1][:n_blocks]


def imperfect_teacher_configs(student: str = "builtin:half", steps: int = 150,
                              **overrides) -> list[DistillConfig]:
    """Two runs that differ only in the teacher: the trained one and its early snapshot."""
    base = short_run(steps, student=student, **overrides)
    return [base.replace(teacher=t, name=f"lesson-{t.split(':')[1]}") for t in IMPERFECT_TEACHERS]


def imperfect_teacher_results(run_ids, root=None) -> list[dict]:
    """One row per run (in the order given): teacher, state and, once done, the student's and
    teacher's perplexity and agreement from its summary."""
    rows, states = [], {r["id"]: r["state"] for r in list_runs(root)}
    for run_id in run_ids:
        if run_id not in states:
            continue
        run = load_run(run_id, root)
        summary = run.summary() or {}
        rows.append({"run": run_id, "teacher": run.config().get("teacher"),
                     "state": states[run_id], "teacher_ppl": summary.get("teacher_ppl"),
                     "student_ppl": summary.get("student_ppl"),
                     "agreement": summary.get("agreement")})
    return rows


def start_imperfect_teacher_runs(student: str, session: str | None = None,
                                 limits: Limits | None = None) -> list[str]:
    """Queue both imperfect-teacher runs for `student` in the app's runs root (the classroom
    queue's `limits` apply to `session`); their run ids, trained teacher first."""
    return [jobs.launch(config, session=session, limits=limits).id
            for config in imperfect_teacher_configs(student)]


TRADE_OFF = ("id", "student", "retention_pct", "speedup", "size_ratio")


def finished_runs(root=None, n: int = 6) -> list[dict]:
    """The trade-off of the `n` newest finished runs: quality kept, speed-up and size, each as
    measured at the end of its run (one row per run, keys TRADE_OFF)."""
    done = [r["id"] for r in list_runs(root) if r["state"] == "done"][:n]
    return [{key: row[key] for key in TRADE_OFF} for row in compare(done, root)]
