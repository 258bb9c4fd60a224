"""Model specs: what a spec string names, where its folder is, and facts read from its config.

A model spec is one string:
- `builtin:teacher` (the shipped tinytales GPT-2) or `builtin:teacher-early` (its early snapshot);
- `builtin:tiny`, `builtin:small`, `builtin:half`, `builtin:half-ends`: student presets made
  from the teacher's config (`half` keeps the width and copies alternating teacher layers;
  `half-ends` copies the teacher's first layers and its last ones, dropping a block between);
- `MODEL:PRESET` (`smollm2-135m:few-ends`, `builtin:teacher:small`): a preset cut from a
  pretrained or built-in model other than the teacher, with that model's tokenizer (a
  cross-tokenizer student when the two tokenizers differ);
- a pretrained model we fetch and convert on first use (`smollm2-135m`, see pretrained.py): a
  folder in the models cache once converted;
- a local directory holding a Hugging Face model folder;
- a Hugging Face hub id such as `distilbert/distilgpt2`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from distill_core.errors import InputError
from distill_core.models.pretrained import PRETRAINED, is_fetched, pretrained_folder
from distill_core.paths import looks_like_path

ASSETS = Path(os.environ.get("DISTILL_ASSETS", Path(__file__).resolve().parents[2] / "assets"))
BUILTIN_DIRS = {"teacher": "builtin/teacher", "teacher-early": "builtin/teacher-early"}

# Student presets: shape relative to the teacher. init "teacher_layers" copies alternating
# teacher layers (DistilBERT's recipe), "teacher_ends" its first and last layers (a block between
# dropped); both need the teacher's width (students.py). `large` copies 3 of the built-in
# teacher's 4 layers: a student between half and the teacher, for the capacity experiment.
PRESETS = {
    "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2, "init": "random"},
    "small": {"n_layer": 2, "n_embd": 128, "n_head": 4, "init": "random"},
    "half": {"n_layer": None, "n_embd": None, "n_head": None, "init": "teacher_layers"},
    "half-ends": {"n_layer": None, "n_embd": None, "n_head": None, "init": "teacher_ends"},
    "large": {"n_layer": 3, "n_embd": None, "n_head": None, "init": "teacher_layers"},
    "few-ends": {"n_layer": 4, "n_embd": None, "n_head": None, "init": "teacher_ends"},
}


@dataclass(frozen=True)
class Spec:
    kind: str  # "builtin", "preset", "pretrained", "local", "hub"
    name: str  # what the user wrote
    path: str  # a folder (for "pretrained": where it is, or will be once fetched), a hub id,
    #            or the preset name
    base: str = ""  # a preset cut from another model than the teacher ("smollm2-135m:few-ends")

    @property
    def offline_ok(self) -> bool:
        return self.kind != "hub"


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve(spec: str) -> Spec:
    """Turn a model spec string into a `Spec`, or raise InputError saying what is wrong."""
    spec = (spec or "").strip()
    if not spec:
        raise InputError("model spec is empty: give builtin:teacher, a preset, a folder or a hub id")
    base, _, preset = spec.rpartition(":")
    if preset in PRESETS and (base in PRETRAINED or base.removeprefix("builtin:") in BUILTIN_DIRS):
        resolve(base)  # a student cut from another model than the teacher: that model exists
        return Spec("preset", spec, preset, base=base)
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name in BUILTIN_DIRS:
            path = ASSETS / BUILTIN_DIRS[name]
            if not (path / "config.json").exists():
                raise InputError(f"built-in model '{spec}' is missing from {path}; rebuild it "
                                 "with `python -m distill_core.training.build_builtin`")
            return Spec("builtin", spec, str(path))
        if name in PRESETS:
            return Spec("preset", spec, name)
        known = ", ".join(f"builtin:{n}" for n in [*BUILTIN_DIRS, *PRESETS])
        raise InputError(f"unknown built-in model '{spec}'; known: {known}")
    if spec in PRETRAINED:
        return Spec("pretrained", spec, str(pretrained_folder(spec)))
    try:
        path = Path(os.path.expanduser(spec))  # ~nobody/x stays as typed (Path's would raise)
        is_dir = path.is_dir()
    except OSError:  # e.g. a name too long for the file system: not a folder
        is_dir = False
    if is_dir:
        if not (path / "config.json").exists():
            raise InputError(f"folder '{spec}' has no config.json: not a Hugging Face model folder")
        return Spec("local", spec, str(path.resolve()))
    if looks_like_path(spec):
        raise InputError(f"no model folder at '{spec}'")
    if not _HUB_ID.match(spec):
        raise InputError(f"'{spec}' is not a valid model id (expected owner/name or a folder)")
    return Spec("hub", spec, spec)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")



def model_folder(spec: Spec) -> Path | None:
    """The folder holding a spec's files: built-in and local folders, a pretrained model's
    converted folder, or a hub model's snapshot in the local Hugging Face cache (None when it is
    not fetched or not cached yet, and for presets)."""
    if spec.kind in ("builtin", "local"):
        return Path(spec.path)
    if spec.kind == "pretrained":
        return Path(spec.path) if is_fetched(spec.name, Path(spec.path).parent) else None
    if spec.kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(spec.path, "config.json")
        return Path(config).parent if isinstance(config, str) else None
    return None


CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length",
                  "seq_length", "max_seq_len")


def context_length(config) -> int | None:
    """The longest sequence a model reads, from its config (an object or a config.json dict);
    None when the config does not say."""
    get = config.get if isinstance(config, dict) else (lambda k: getattr(config, k, None))
    return next((v for v in map(get, CONTEXT_FIELDS) if isinstance(v, int) and v > 0), None)


def folder_config(folder) -> dict | None:
    """A model folder's config.json as a dict (None when missing or unreadable)."""
    try:
        return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return None


def config_shape(cfg: dict) -> dict | None:
    """Layers, width, heads, vocabulary rows and context from a config.json dict."""
    def pick(*keys) -> int:
        return next((cfg[k] for k in keys if isinstance(cfg.get(k), int)), 0)

    shape = {"layers": pick("num_hidden_layers", "n_layer", "num_layers"),
             "width": pick("hidden_size", "n_embd", "d_model"),
             "heads": pick("num_attention_heads", "n_head"), "vocab": pick("vocab_size"),
             "context": context_length(cfg)}
    return shape if shape["layers"] and shape["width"] and shape["vocab"] else None
