"""The Distill page's settings form, described as data.

`form_fields()` turns every DistillConfig field into the name of a Streamlit widget and its
keyword arguments (label, help text with the allowed range, bounds, default), so the page only
has to call `getattr(st, f["widget"])(**f["kwargs"])`: the help text and the limits live in
config.py, in one place. The checks made when the form's Start is pressed are in launch.py.
This module does not import Streamlit.
"""

from __future__ import annotations

import dataclasses

from distill_core.config import DistillConfig

# Fields in the order the page shows them. The data fields are laid out by the page's data
# source choice; runs_dir is not a widget: the app always uses its runs root, so the run list
# and the Compare page find every run it starts. A config field listed nowhere here joins the
# "training" group (see below), so a new field is on the form without an edit here.
GROUPS = {
    "models": ("teacher", "student"),
    "data": ("dataset", "text_column", "dataset_config", "dataset_split", "train_docs"),
    "loss": ("alpha", "temperature", "loss", "beta", "on_policy", "on_policy_temperature",
             "on_policy_prefix"),
    "training": ("steps", "batch_size", "grad_accum", "seq_len", "lr", "warmup",
                 "weight_decay", "grad_clip", "precision", "seed", "teacher_cache", "top_k"),
    "evaluation": ("eval_every", "eval_blocks", "checkpoint_every", "baseline", "name",
                   "report_to"),
}
NOT_IN_FORM = ("runs_dir",)
_LISTED = {name for names in GROUPS.values() for name in names} | set(NOT_IN_FORM)
GROUPS["training"] += tuple(f.name for f in dataclasses.fields(DistillConfig)
                            if f.name not in _LISTED)
SLIDERS = {"alpha": 0.05, "beta": 0.05, "weight_decay": 0.01, "on_policy": 0.05}  # field: step
NUMBER_STEPS = {"temperature": 0.5, "lr": 1e-4, "grad_clip": 0.5, "on_policy_temperature": 0.1}
NUMBER_FORMATS = {"lr": "%.1e", "temperature": "%.2f", "grad_clip": "%.2f",
                  "on_policy_temperature": "%.2f"}
LABELS = {"alpha": "alpha (α)", "temperature": "temperature (T)", "beta": "beta (β)",
          "lr": "learning rate", "seq_len": "sequence length (tokens)",
          "dataset": "Hugging Face dataset id", "train_docs": "training documents",
          "dataset_config": "dataset config",
          "dataset_split": "split", "grad_accum": "gradient accumulation",
          "grad_clip": "gradient clipping", "name": "run name (optional)",
          "on_policy": "on-policy fraction (λ)", "on_policy_temperature": "sampling temperature",
          "on_policy_prefix": "on-policy prefix (tokens)", "report_to": "also report to"}
SMALLEST_ABOVE_ZERO = 0.01  # the lowest temperature the number box offers (the range is open)


def form_fields(defaults: dict | None = None) -> dict[str, dict]:
    """{field name: {"widget", "kwargs", "group"}} for every field the form shows, in order.

    `defaults` replaces the config's defaults (e.g. the teacher and student the Pair page chose).
    """
    defaults = defaults or {}
    group_of = {name: group for group, names in GROUPS.items() for name in names}
    out = {}
    for f in dataclasses.fields(DistillConfig):
        if f.name in NOT_IN_FORM:
            continue
        meta = f.metadata
        default = defaults.get(f.name, f.default)
        kind = f.type.replace(" | None", "")
        kwargs = {"label": LABELS.get(f.name, f.name.replace("_", " ")),
                  "help": meta["help"] + (f" Allowed: {meta['range']}." if meta["range"] else ""),
                  "key": f"cfg_{f.name}"}
        if kind == "bool":
            widget, kwargs["value"] = "checkbox", bool(default)
        elif meta["choices"]:
            widget = "selectbox"
            kwargs.update(options=list(meta["choices"]), index=meta["choices"].index(default))
        elif f.name in SLIDERS:
            widget = "slider"
            kwargs.update(min_value=float(meta["low"]), max_value=float(meta["high"]),
                          value=float(default), step=SLIDERS[f.name])
        elif kind in ("int", "float"):
            widget = "number_input"
            cast = int if kind == "int" else float
            low = meta["low"]
            if meta["above"]:
                low = SMALLEST_ABOVE_ZERO if f.name.endswith("temperature") else None
            if default is None:  # an optional number: empty means its automatic value
                kwargs["placeholder"] = "automatic"
            kwargs.update(value=None if default is None else cast(default),
                          step=cast(NUMBER_STEPS.get(f.name, 1)),
                          min_value=None if low is None else cast(low),
                          max_value=None if meta["high"] is None else cast(meta["high"]))
            if f.name in NUMBER_FORMATS:
                kwargs["format"] = NUMBER_FORMATS[f.name]
        else:
            widget, kwargs["value"] = "text_input", "" if default is None else str(default)
        out[f.name] = {"widget": widget, "kwargs": kwargs, "group": group_of.get(f.name)}
    return out
