"""Named loss settings a lecturer can reach in one click: α, T and the divergence together.

Each preset sets all three, so clicking one always lands in the same, known place whatever was
set before. `widget_values(name, page)` turns a preset into the values of one page's widgets
(the Soft labels explorer and the Distill form use different keys and controls); pages set
those session-state keys in a button's on_click callback, before the widgets draw.

`example_prompts(teacher)` are the Soft labels explorer's examples for the chosen teacher.
`recipe_form_values(name)` puts the Distill form on a named recipe (training.recipes).
`short_run(steps, …)` is the shape of the short runs the lesson and the Sweep page start: a
few evaluations, a short warm-up. No Streamlit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distill_core.app import form
from distill_core.config import DistillConfig
from distill_core.data.corpora import BUILTIN_CORPORA
from distill_core.errors import InputError
from distill_core.kd.explore import TEMPERATURES
from distill_core.training.recipes import load_recipe

__all__ = ["ENGLISH_PROMPTS", "FIT_TO_SLIDERS", "PRESETS", "Preset", "STORY_PROMPTS",
           "example_prompts", "get", "nearest_alpha", "nearest_temperature",
           "recipe_form_values", "short_run", "widget_values"]


@dataclass(frozen=True)
class Preset:
    key: str  # for widget keys and tests: preset_<key>
    name: str
    alpha: float
    temperature: float
    loss: str
    what_to_watch: str  # one sentence: what this setting shows


PRESETS = {p.name: p for p in (
    Preset("hinton", "Hinton classic (T = 4, α = 0.9)", 0.9, 4.0, "forward_kl",
           "The recipe of the 2015 distillation paper: mostly soft labels, softened enough that "
           "the teacher's second and third choices carry a signal."),
    Preset("no_teacher", "no teacher (α = 0)", 0.0, 1.0, "forward_kl",
           "Ordinary training on the real next tokens: the teacher's probabilities weigh "
           "nothing. This is the baseline distillation has to beat."),
    Preset("pure", "pure distillation (α = 1)", 1.0, 2.0, "forward_kl",
           "The student learns only from the teacher's soft labels and never sees the real "
           "next token: it copies the teacher, mistakes included."),
    Preset("too_hot", "too hot (T = 20)", 0.9, 20.0, "forward_kl",
           "So much softening that the teacher's distribution is nearly flat: the soft labels "
           "stop saying which token is right."),
    Preset("reverse_kl", "reverse KL", 0.9, 1.0, "reverse_kl",
           "KL(student‖teacher): the student is punished for mass where the teacher has "
           "little, so it may settle on the teacher's main choice and drop the rest."),
)}

# Widget keys per page: the Soft labels explorer's own, and the Distill form's cfg_<field>.
PAGES = {"soft_labels": {"alpha": "alpha", "temperature": "temperature", "loss": "kl_direction"},
         "distill": {"alpha": "cfg_alpha", "temperature": "cfg_temperature",
                     "loss": "cfg_loss"},
         "lesson": {"alpha": "lesson_alpha", "temperature": "lesson_temperature"}}
EXPLORER_KINDS = ("forward_kl", "reverse_kl")  # the explorer's divergence toggle


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"no preset named {name!r}; choose one of: "
                         + ", ".join(PRESETS)) from None


def nearest_temperature(t: float) -> float:
    """The explorer slider's stop closest to `t` on a log scale (its stops are log-spaced)."""
    return min(TEMPERATURES, key=lambda stop: abs(math.log(stop) - math.log(t)))


def nearest_alpha(alpha: float) -> float:
    """The α slider's stop closest to `alpha` (the explorer's and the lesson's step by 0.05)."""
    return round(alpha * 20) / 20


# A shared value (a link's, or another page's) fitted to the log-spaced T and 0.05-step α sliders.
FIT_TO_SLIDERS = {"temperature": nearest_temperature, "alpha": nearest_alpha}


def widget_values(name: str, page: str) -> dict:
    """{session-state key: value} that put `page`'s widgets on preset `name`."""
    preset = get(name)
    keys = PAGES[page]
    if page in ("soft_labels", "lesson"):  # log-spaced temperature sliders
        values = {"alpha": preset.alpha, "temperature": nearest_temperature(preset.temperature)}
        if preset.loss in EXPLORER_KINDS and "loss" in keys:
            values["loss"] = preset.loss
    else:
        values = {"alpha": preset.alpha, "temperature": preset.temperature, "loss": preset.loss}
    return {keys[field]: value for field, value in values.items()}


# The explorer's example prompts. The built-in teacher only ever read tinytales stories; a real
# pretrained teacher knows facts, grammar, code and lists, where its soft labels say the most.
# smollm2-135m's top next tokens at T = 1 (measured 2026-12-02):
STORY_PROMPTS = ("Once upon a time there was a little", "One day, Lily went to the",
                 "The sky was")
ENGLISH_PROMPTS = ("The capital of France is",  # a fact: Paris .77, the .07, London .01
                   "She has lived here since",  # grammar: the .44, she .11, her .05
                   "def fibonacci(n):\n    if n",  # code: == .45, <= .30, < .21
                   "Monday, Tuesday, Wednesday,")  # a list: and .51, Friday .24, Thursday .19


def example_prompts(teacher: str) -> tuple[str, ...]:
    """The explorer's examples for `teacher`: stories for the built-in teachers, English for
    any other (a pretrained model, a hub id, a folder)."""
    return STORY_PROMPTS if teacher.strip().startswith("builtin:") else ENGLISH_PROMPTS


def recipe_form_values(name: str) -> dict:
    """{session-state key: value} that put the Distill form on recipe `name`: every field the
    form shows (the recipe's value, else DistillConfig's default) under its cfg_<field> key, and
    "corpus" when the recipe trains on a built-in corpus (the form's dataset box is then empty).
    """
    config = load_recipe(name)
    values = {}
    for field, spec in form.form_fields().items():
        value = getattr(config, field)
        if spec["widget"] == "text_input":
            value = "" if value is None else str(value)
        values[spec["kwargs"]["key"]] = value
    if config.dataset in BUILTIN_CORPORA:
        values.update(corpus=config.dataset, cfg_dataset="")
    return values


def short_run(steps: int, evals: int = 3, **fields) -> DistillConfig:
    """A short run of `steps` steps, evaluated `evals` times along the way (and at the end; 0 =
    only at the end), its learning rate warmed up over a fifth of the steps, 30 at most;
    `fields` set the rest."""
    return DistillConfig(steps=steps, eval_every=max(1, steps // evals) if evals else 0,
                         warmup=min(30, steps // 5), **fields)
