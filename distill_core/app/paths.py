"""Which local files the app may read for its users: nothing outside the folders it shares.

The command line runs on its user's own machine and reads any path it is given. The app serves
other people, so where it accepts a path (a model folder typed on the Pair or Distill page, a
link's ?teacher=…, a data file) the path must lie, after following symlinks, inside

    the runs root (runs, their students, uploads), the built-in assets,
    a folder in `model_dirs` (models) or `data_dirs` (data files) — see limits.py.

Hugging Face ids (models here through app.model_policy, data sets here) need `allow_hub` on.

Anything else is refused with the same message whether it exists or not, so the app never tells
a visitor what is on the server's disk. Built-in specs and Hugging Face ids are not paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill_core.errors import InputError
from distill_core.paths import looks_like_path
from distill_core.policy import Limits, check_hub, env_name
from distill_core.store.limits import load_limits


def shared_folders(kind: str, root, limits: Limits | None = None) -> list[Path]:
    """The folders the app may read `kind` ("model" or "data") from, symlinks resolved."""
    from distill_core.models import ASSETS
    from distill_core.store.runs import runs_root

    limits = limits or load_limits(root)
    extra = limits.model_dirs if kind == "model" else limits.data_dirs
    return [Path(os.path.realpath(p)) for p in (runs_root(root, create=False), ASSETS, *extra)]


def is_shared(path, folders: list[Path]) -> bool:
    real = Path(os.path.realpath(os.path.expanduser(str(path))))
    return any(real == folder or folder in real.parents for folder in folders)


def require_shared_model(spec: str, role: str, root=None, limits: Limits | None = None) -> None:
    """InputError unless `spec` is a built-in, a hub id or a folder the app shares."""
    if looks_like_path(spec) and not is_shared(spec.strip(), shared_folders("model", root, limits)):
        raise InputError(f"{role}: no model folder at '{spec.strip()}' that this app may read: "
                         "in the app, local models must be under the runs root or a folder in "
                         f"{env_name('model_dirs')}; use a built-in model or a Hugging Face id")


def require_shared_data(spec: str, root=None, limits: Limits | None = None) -> None:
    """InputError unless the dataset `spec` is a built-in corpus, a shared file or a hub id
    (while the limits' allow_hub is on)."""
    from distill_core.data.corpora import BUILTIN_CORPORA, corpus_route

    spec = spec.strip()
    if spec in BUILTIN_CORPORA:
        return
    if corpus_route(spec) == "hub":
        check_hub(spec, "dataset", limits or load_limits(root))
        return
    if not is_shared(spec, shared_folders("data", root, limits)):
        raise InputError(f"no data file at '{spec}' that this app may read: upload the file, or "
                         f"ask for its folder to be shared with {env_name('data_dirs')}")
