"""The app's state as URL query parameters, so a link reopens the same view.

    params = encode({"temperature": 4.0, "alpha": 0.9, "prompt": "The sky was"})
    # {"T": "4", "alpha": "0.9", "prompt": "The sky was"}
    state, problems = decode(params)

Query parameters are strings only. `decode` never raises: each value that cannot be used
(T = "hot", alpha = 3, a loss that does not exist) is left out and described in one line in
`problems`, so a page can show what it ignored and still open. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.losses import KINDS
from distill_core.store.runs import validate_run_id

__all__ = ["FIELDS", "URL_NAMES", "decode", "encode"]

# state field -> its name in the URL
URL_NAMES = {"teacher": "teacher", "student": "student", "prompt": "prompt",
             "temperature": "T", "alpha": "alpha", "loss": "loss", "runs": "runs",
             "present": "present", "lesson": "step"}
FIELDS = tuple(URL_NAMES)
MAX_TEXT = 500  # characters of a model spec or prompt taken from a link
MAX_RUNS = 20
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
    if not text.strip().isdigit() or not 1 <= int(text) <= 99:
        raise InputError(f"step must be a whole number from 1 (got {text!r})")
    return int(text)


PARSERS = {
    "teacher": lambda s: _text(s, "teacher"),
    "student": lambda s: _text(s, "student"),
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


def decode(params: Mapping) -> tuple[dict, list[str]]:
    """(state, problems) from query parameters; unknown parameters are not ours and are skipped.

    A parameter given twice arrives as a list; its last value counts (as in the browser).
    """
    state, problems = {}, []
    for field in FIELDS:
        raw = params.get(URL_NAMES[field])
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        if raw is None:
            continue
        try:
            state[field] = PARSERS[field](str(raw))
        except InputError as err:
            problems.append(f"The link's {URL_NAMES[field]} was ignored: {err}")
    return state, problems
