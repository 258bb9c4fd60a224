"""What a server allows, as values: the `Limits` a run is checked against, and the checks.

Reading them from the environment or a classroom.toml is `store.limits`' job; every layer below
the store receives a `Limits` (or None: no limits) as an argument and never reads policy itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from distill_core.errors import InputError


def default_concurrency() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True)
class Limits:
    max_concurrent: int = default_concurrency()  # runs training at once, all sessions together
    max_together: int = 8  # compatible waiting runs one training process trains side by side
    max_queued_per_session: int = 3  # runs one session may have waiting or training
    max_waiting: int = 100  # runs waiting for a slot, all sessions together
    max_steps: int | None = None  # steps of one run (None: the config's own range)
    max_model_params: int | None = None  # parameters of any model a run loads
    max_memory_gb: float | None = None  # memory one run may plan to use (None: what is free)
    max_data_mb: float = 50.0  # size of a data file a run reads, or of an upload
    model_dirs: tuple[str, ...] = ()  # local model folders the app may read (besides the root)
    data_dirs: tuple[str, ...] = ()  # local data folders the app may read (besides the root)
    allow_hub: bool = True  # the app may fetch models and data sets from the Hugging Face hub


def env_name(setting: str) -> str:
    return "DISTILL_" + setting.upper()


def check_steps(steps: int, limits: Limits) -> None:
    if limits.max_steps is not None and steps > limits.max_steps:
        raise InputError(f"steps {steps:,} is over this server's limit of {limits.max_steps:,} "
                         f"steps per run ({env_name('max_steps')}): choose {limits.max_steps:,} "
                         "or fewer")


def check_model_params(params: int, name: str, limits: Limits) -> None:
    if limits.max_model_params is not None and params > limits.max_model_params:
        raise InputError(f"model '{name}' has {params:,} parameters, over this server's limit of "
                         f"{limits.max_model_params:,} ({env_name('max_model_params')}): pick a "
                         "smaller model")


def check_hub(name: str, what: str, limits: Limits) -> None:
    """InputError when `name`, a Hugging Face id, may not be fetched: allow_hub is off."""
    if not limits.allow_hub:
        raise InputError(f"{what} '{name}' is on the Hugging Face hub, and this server does not "
                         f"fetch from the hub ({env_name('allow_hub')} is off): pick a built-in "
                         "one or a local folder this app shares")
