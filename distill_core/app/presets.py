"""Named loss settings a lecturer can reach in one click: α, T and the divergence together.

Each preset sets all three, so clicking one always lands in the same, known place whatever was
set before. `widget_values(name, page)` turns a preset into the values of one page's widgets
(the Soft labels explorer and the Distill form use different keys and controls); pages set
those session-state keys in a button's on_click callback, before the widgets draw. No
Streamlit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distill_core.errors import InputError
from distill_core.kd.explore import TEMPERATURES

__all__ = ["PRESETS", "Preset", "get", "nearest_temperature", "widget_values"]


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
