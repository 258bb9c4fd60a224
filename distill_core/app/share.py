"""The app's state as URL query parameters, so a link reopens the same view.

    params = encode({"temperature": 4.0, "alpha": 0.9, "prompt": "The sky was"})
    # {"T": "4", "alpha": "0.9", "prompt": "The sky was"}
    state, problems = decode(params)

Query parameters are strings only. `decode` never raises: each value that cannot be used
(T = "hot", alpha = 3, a loss that does not exist, step = "²") is left out and described in one
line in `problems`, so a page can show what it ignored and still open. Given the server's
limits, `decode` also holds a link's teacher and student to what the app may load
(app.model_policy: shared folders only, hub ids only while allow_hub is on), the same checks a
page's widgets get. No Streamlit here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from distill_core.app.model_policy import allowed_model
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.losses import KINDS
from distill_core.policy import Limits
from distill_core.store.runs import validate_run_id

__all__ = ["FIELDS", "URL_NAMES", "decode", "encode"]

# state field -> its name in the URL
URL_NAMES = {"teacher": "teacher", "student": "student", "prompt": "prompt",
             "temperature": "T", "alpha": "alpha", "loss": "loss", "runs": "runs",
             "present": "present", "lesson": "step"}
FIELDS = tuple(URL_NAMES)
MAX_TEXT = 500  # characters of a model spec or prompt taken from a link
MAX_RUNS = 20
MAX_STEP = 99
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
BOUNDS = DistillConfig.field_bounds()  # a link's T and alpha are held to what a run allows


def _number(text: str, name: str, low: float, high: float, low_open: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    too_low = value <= low if low_open else value < low
    if not (value == value) or too_low or value > high:  # NaN fails the first test
        bound = f"more than {low:g}" if low_open else f"at least {low:g}"
        raise InputError(f"{name} must be a number {bound} and at most {high:g} (got {text!r})")
    return value


def _text(text: str, name: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise InputError(f"{name} must be 1 to {MAX_TEXT} characters (got {len(text)})")
    if "\x00" in text:
        raise InputError(f"{name} must not contain a NUL character")
    return text


def _model(text: str, name: str) -> str:
    text = _text(text, name)
    if not text.isprintable():
        raise InputError(f"{name} must be a model spec on one line, without control characters")
    return text


def _runs(text: str) -> list[str]:
    ids = [i.strip() for i in text.split(",") if i.strip()]
    if len(ids) > MAX_RUNS:
        raise InputError(f"runs lists {len(ids)} runs; a link can carry at most {MAX_RUNS}")
    return [validate_run_id(i) for i in ids]


def _loss(text: str) -> str:
    if text.strip().lower() not in KINDS:
        raise InputError(f"loss must be one of {', '.join(KINDS)} (got {text!r})")
    return text.strip().lower()


def _flag(text: str) -> bool:
    if text.strip().lower() in TRUE + FALSE:
        return text.strip().lower() in TRUE
    raise InputError(f"present must be 1 or 0 (got {text!r})")


def _step(text: str) -> int:
    digits = text.strip()  # ASCII digits only: "²".isdigit() is true, and int("²") raises
    if not re.fullmatch(r"[0-9]{1,4}", digits) or not 1 <= int(digits) <= MAX_STEP:
        raise InputError(f"step must be a whole number from 1 to {MAX_STEP} (got {text!r})")
    return int(digits)


PARSERS = {
    "teacher": lambda s: _model(s, "teacher"),
    "student": lambda s: _model(s, "student"),
    "prompt": lambda s: _text(s, "prompt"),
    "temperature": lambda s: _number(s, "T", *BOUNDS["temperature"]),
    "alpha": lambda s: _number(s, "alpha", *BOUNDS["alpha"]),
    "loss": _loss,
    "runs": _runs,
    "present": _flag,
    "lesson": _step,
}


def _format(field: str, value) -> str:
    if field == "runs":
        return ",".join(value)
    if field == "present":
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def encode(state: Mapping) -> dict[str, str]:
    """URL query parameters for the known, non-empty fields of `state` (others are skipped)."""
    return {URL_NAMES[f]: _format(f, state[f]) for f in FIELDS
            if state.get(f) is not None and state.get(f) != [] and state.get(f) != ""}


def decode(params: Mapping, limits: Limits | None = None, root=None) -> tuple[dict, list[str]]:
    """(state, problems) from query parameters; unknown parameters are not ours and are skipped.

    A parameter given twice arrives as a list; its last value counts (as in the browser). With
    `limits`, a teacher or student the app may not load (under the runs root `root`) is a
    problem too.
    """
    state, problems = {}, []
    for field in FIELDS:
        raw = params.get(URL_NAMES[field])
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        if raw is None:
            continue
        try:
            value = PARSERS[field](str(raw))
            if limits is not None and field in ("teacher", "student"):
                value = allowed_model(value, field, limits, root)
            state[field] = value
        except InputError as err:
            problems.append(f"The link's {URL_NAMES[field]} was ignored: {err}")
    return state, problems
