"""Where this app keeps what it can rebuild: its folder in the user's cache.

    user_cache_dir()       $XDG_CACHE_HOME/distill-playground, else ~/.cache/distill-playground
    default_cache_dir()    measurements (precision choices, compile records): $DISTILL_CACHE_DIR,
                           else user_cache_dir()
    default_models_dir()   fetched and converted models: $DISTILL_MODELS_DIR,
                           else user_cache_dir()/models

The teacher cache also honours $DISTILL_CACHE_DIR (training.teacher_cache.cache_root); without
it, it lives beside the runs it serves. Every function that uses one of these folders also takes
it as an argument.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "MODELS_DIR_ENV", "default_cache_dir", "default_models_dir",
           "user_cache_dir"]

CACHE_DIR_ENV = "DISTILL_CACHE_DIR"
MODELS_DIR_ENV = "DISTILL_MODELS_DIR"
APP_FOLDER = "distill-playground"


def user_cache_dir() -> Path:
    """This app's folder in the user's cache: $XDG_CACHE_HOME/distill-playground, else
    ~/.cache/distill-playground."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / APP_FOLDER


def _from_env(name: str, fallback: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else fallback


def default_cache_dir() -> Path:
    """Cached measurements: $DISTILL_CACHE_DIR, else `user_cache_dir()`."""
    return _from_env(CACHE_DIR_ENV, user_cache_dir())


def default_models_dir() -> Path:
    """The models cache: $DISTILL_MODELS_DIR, else `user_cache_dir()`/models."""
    return _from_env(MODELS_DIR_ENV, user_cache_dir() / "models")
