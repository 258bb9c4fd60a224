"""What this server allows: the classroom limits, read from environment variables or a file.

    limits = load_limits(root)          # env vars win over <root>/classroom.toml
    check_steps(config, limits)         # InputError when a run asks for more than allowed

Every limit has a default that suits one person on their own machine; a teacher hosting the app
for a class sets lower ones. Each setting can come from an environment variable or from a TOML
file: $DISTILL_CLASSROOM_CONFIG if set, else `classroom.toml` in the runs root. A variable that
is set wins over the file.

    setting                 variable                          default
    max_concurrent          DISTILL_MAX_CONCURRENT            half the CPU cores, at least 1
                                                              ("cores": one run per core, each
                                                              on one thread; docs/classroom.toml)
    max_together            DISTILL_MAX_TOGETHER              8 (waiting runs that share teacher
                                                              and batches, trained side by side
                                                              in one process: store/groups.py)
    max_queued_per_session  DISTILL_MAX_QUEUED_PER_SESSION    3 (waiting or training)
    max_waiting             DISTILL_MAX_WAITING               100 (all sessions together)
    max_steps               DISTILL_MAX_STEPS                 none (the config's own 1,000,000)
    max_model_params        DISTILL_MAX_MODEL_PARAMS          none (e.g. 50M, 1.5B)
    max_memory_gb           DISTILL_MAX_MEMORY_GB             none (what the machine has free)
    max_data_mb             DISTILL_MAX_DATA_MB               50 (a data file or an upload)
    model_dirs              DISTILL_MODEL_DIRS                none (os.pathsep-separated)
    data_dirs               DISTILL_DATA_DIRS                 none (os.pathsep-separated)
    allow_hub               DISTILL_ALLOW_HUB                 on (off: the app fetches nothing
                                                              from the Hugging Face hub)

This module only reads settings and compares numbers; it loads no model and starts nothing.
The app reads them once per script run and the CLI once per command, and pass them down.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import fields
from pathlib import Path

from distill_core.errors import InputError
from distill_core.policy import Limits, env_name

CONFIG_ENV = "DISTILL_CLASSROOM_CONFIG"
CONFIG_NAME = "classroom.toml"
_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def config_path(root=None) -> Path:
    """Where the limits file is looked for (it need not exist). Creates no folder."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    from distill_core.store.runs import runs_root

    return runs_root(root, create=False) / CONFIG_NAME


def load_limits(root=None) -> Limits:
    """The limits in force for the runs root `root`: defaults, then the file, then env vars."""
    values = {}
    path = config_path(root)
    if path.is_file() or os.environ.get(CONFIG_ENV):
        for key, value in _read_toml(path).items():
            values[key] = _parse(key, value, f"{key} in {path}")
    for f in fields(Limits):
        raw = os.environ.get(env_name(f.name), "").strip()
        if raw:
            values[f.name] = _parse(f.name, raw, env_name(f.name))
    return Limits(**values)


def data_cap_bytes(root=None) -> int:
    """The largest data file a run may read, or the app may take as an upload, in bytes."""
    return int(load_limits(root).max_data_mb * 1e6)


# ---------------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise InputError(f"reading {path} needs Python 3.11 or later; set the limits with "
                         "DISTILL_* environment variables instead") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"limits file {path} ({CONFIG_ENV}) does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read limits file {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"limits file {path} is not valid TOML: {err}") from None
    known = [f.name for f in fields(Limits)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(known)
            raise InputError(f"unknown setting '{key}' in {path}; {hint}")
    return data


def _parse(name: str, value, where: str):
    """`value` (a TOML value or an env var's text) converted for setting `name`."""
    if name == "allow_hub":
        return _switch(value, where)
    if name in ("model_dirs", "data_dirs"):
        if isinstance(value, str):
            value = [p for p in value.split(os.pathsep) if p.strip()]
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise InputError(f"{where} must be a list of folders (got {value!r})")
        return tuple(str(Path(p.strip()).expanduser()) for p in value)
    if name in ("max_memory_gb", "max_data_mb"):
        number = _number(value)
        if number is None or not math.isfinite(number) or number <= 0:
            unit = "GB" if name == "max_memory_gb" else "MB"
            raise InputError(f"{where} must be a number of {unit} above 0 (got {value!r})")
        return number
    if name == "max_concurrent" and str(value).strip().lower() == "cores":
        return os.cpu_count() or 1  # one run per core: each run trains on one thread (jobs.py)
    number = _number(value, suffixes=name == "max_model_params")
    if number is None or number != int(number) or number < 1:
        raise InputError(f"{where} must be a whole number of at least 1 (got {value!r})")
    return int(number)


def _switch(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, str) and text in _ON + _OFF:
        return text in _ON
    raise InputError(f"{where} must be on or off (true/false, 1/0) (got {value!r})")


def _number(value, suffixes: bool = False) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMbBgG]?)\s*", str(value))
    if not match or (match.group(2) and not suffixes):
        return None
    number = float(match.group(1).replace("_", "").replace(",", ""))
    return number * _SUFFIXES.get(match.group(2).lower(), 1)
