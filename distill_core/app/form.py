"""The Distill page's settings form, described as data, and the checks made before a run starts.

`form_fields()` turns every DistillConfig field into the name of a Streamlit widget and its
keyword arguments (label, help text with the allowed range, bounds, default), so the page only
has to call `getattr(st, f["widget"])(**f["kwargs"])`: the help text and the limits live in
config.py, in one place. This module does not import Streamlit.

`check_before_launch(config)` catches, in well under a second, the mistakes that would otherwise
only show up after a background run has started and failed: a model spec that is misspelt, a
model folder that does not exist, a hub model that is not downloaded while offline, a missing
data file, a sequence longer than the teacher's context, models over this server's parameter
limit or a run too large for the free memory (estimated from the models' files, nothing loaded).
It also refuses paths outside the folders the app shares (app_paths): it is the app's check.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from distill_core.app import paths as app_paths
from distill_core import models
from distill_core.models import memory
from distill_core.config import DistillConfig
from distill_core.data.corpora import BUILTIN_CORPORA, FILE_KINDS, read_text_file, corpus_route
from distill_core.errors import InputError
from distill_core.models.estimate import training_memory_mb
from distill_core.policy import Limits, check_model_params
from distill_core.store.limits import load_limits

# Fields in the order the page shows them. The data fields are laid out by the page's data
# source choice; runs_dir is not a widget: the app always uses its runs root, so the run list
# and the Compare page find every run it starts.
GROUPS = {
    "models": ("teacher", "student"),
    "data": ("dataset", "text_column", "dataset_config", "dataset_split", "train_docs"),
    "loss": ("alpha", "temperature", "loss", "beta"),
    "training": ("steps", "batch_size", "grad_accum", "seq_len", "lr", "warmup",
                 "weight_decay", "grad_clip", "precision", "seed", "teacher_cache", "top_k"),
    "evaluation": ("eval_every", "eval_blocks", "checkpoint_every", "baseline", "name"),
}
NOT_IN_FORM = ("runs_dir",)
SLIDERS = {"alpha": 0.05, "beta": 0.05, "weight_decay": 0.01}  # field: slider step
NUMBER_STEPS = {"temperature": 0.5, "lr": 1e-4, "grad_clip": 0.5}
NUMBER_FORMATS = {"lr": "%.1e", "temperature": "%.2f", "grad_clip": "%.2f"}
LABELS = {"alpha": "alpha (α)", "temperature": "temperature (T)", "beta": "beta (β)",
          "lr": "learning rate", "seq_len": "sequence length (tokens)",
          "dataset": "Hugging Face dataset id", "train_docs": "training stories",
          "dataset_config": "dataset config",
          "dataset_split": "split", "grad_accum": "gradient accumulation",
          "grad_clip": "gradient clipping", "name": "run name (optional)"}
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
                low = SMALLEST_ABOVE_ZERO if f.name == "temperature" else None
            kwargs.update(value=cast(default), step=cast(NUMBER_STEPS.get(f.name, 1)),
                          min_value=None if low is None else cast(low),
                          max_value=None if meta["high"] is None else cast(meta["high"]))
            if f.name in NUMBER_FORMATS:
                kwargs["format"] = NUMBER_FORMATS[f.name]
        else:
            widget, kwargs["value"] = "text_input", "" if default is None else str(default)
        out[f.name] = {"widget": widget, "kwargs": kwargs, "group": group_of.get(f.name)}
    return out


def check_before_launch(config: DistillConfig, limits: Limits | None = None) -> None:
    """Raise InputError for a mistake that would make the run fail as soon as it starts, or
    for something this app does not allow (a path it does not share, a model over its limit)."""
    limits = limits or load_limits(config.runs_dir)
    app_paths.require_shared_model(config.teacher, "teacher", config.runs_dir, limits)
    app_paths.require_shared_model(config.student, "student", config.runs_dir, limits)
    app_paths.require_shared_data(config.dataset, config.runs_dir, limits)
    teacher = _check_model(config.teacher, "teacher")
    student = _check_model(config.student, "student")
    _check_tokenizers(teacher, student)
    if config.dataset not in BUILTIN_CORPORA and corpus_route(config.dataset) == "file":
        path = Path(config.dataset).expanduser()
        if not path.is_file():
            raise InputError(f"no data file at {path}: check the path or upload the file")
        _check_data_file(path, config.text_column, int(limits.max_data_mb * 1e6))
    if teacher.kind in ("builtin", "local"):
        context = _context_length(Path(teacher.path))
        if context and config.seq_len > context:
            raise InputError(f"sequence length {config.seq_len} is longer than the teacher's "
                             f"context of {context} tokens: choose {context} or less")
    _check_memory(config, teacher, student, limits)


def _check_memory(config: DistillConfig, teacher: models.Spec, student: models.Spec,
                  limits: Limits) -> None:
    """Refuse models over the parameter limit, and a run whose estimated memory (see estimate.py)
    is over what is free. A preset student is counted as large as its teacher (it is at most
    that). Models not downloaded yet are not checked here (loading checks them)."""
    t_shape, t_params = _shape(teacher), _params(teacher)
    if t_shape is None or t_params is None:
        return
    check_model_params(t_params, teacher.name, limits)
    s_shape, s_params = t_shape, t_params
    if student.kind != "preset":
        s_shape, s_params = _shape(student), _params(student)
        if s_shape is None or s_params is None:
            return
        check_model_params(s_params, student.name, limits)
    parts = training_memory_mb(t_params, s_params, config.micro_batch, config.seq_len,
                               s_shape["vocab"], s_shape["layers"], s_shape["width"],
                               n_head=s_shape["heads"])
    need = parts["total"]
    if config.baseline:  # a second student trains beside the first, without teacher logits
        need += parts["student_states"] + parts["activations"] + parts["logits"] / 2
    memory.require_fits(
        need * 1e6, f"this run ({teacher.name} teacher, {student.name} student, "
        f"{config.micro_batch} x {config.seq_len} tokens per pass)", limits,
        "lower batch_size or seq_len, raise grad_accum, or pick smaller models")


def _model_folder(spec: models.Spec) -> Path | None:
    if spec.kind in ("builtin", "local"):
        return Path(spec.path)
    if spec.kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(spec.path, "config.json")
        return Path(config).parent if isinstance(config, str) else None
    return None


def _params(spec: models.Spec) -> int | None:
    if spec.kind == "hub":
        return memory.hub_params(spec.path, offline=True)
    folder = _model_folder(spec)
    return memory.folder_params(folder) if folder else None


def _shape(spec: models.Spec) -> dict | None:
    """Layers, width, heads and vocabulary rows from a model's config.json (no weights read)."""
    folder = _model_folder(spec)
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return None

    def pick(*keys) -> int:
        return next((cfg[k] for k in keys if isinstance(cfg.get(k), int)), 0)

    shape = {"layers": pick("num_hidden_layers", "n_layer", "num_layers"),
             "width": pick("hidden_size", "n_embd", "d_model"),
             "heads": pick("num_attention_heads", "n_head"), "vocab": pick("vocab_size")}
    return shape if shape["layers"] and shape["width"] and shape["vocab"] else None


def _check_data_file(path: Path, column: str, cap: int) -> None:
    """The file's size, encoding and (for .jsonl/.csv) text column, as the run will see them."""
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"unsupported file type {path.suffix or '(none)'!r} for {path.name}: "
                         f"supported are {', '.join(FILE_KINDS)}")
    text = read_text_file(path, cap)  # empty, over the cap, binary, not UTF-8: one line each
    first = next((line for line in text.splitlines() if line.strip()), "")
    if kind == "csv":
        columns = next(csv.reader([first]), [])
    elif kind == "json":
        try:
            record = json.loads(first)
        except ValueError:
            raise InputError(f"{path.name} is not JSON lines: its first line is not a JSON "
                             "object") from None
        columns = list(record) if isinstance(record, dict) else []
    else:
        return
    if column not in columns:
        raise InputError(f"{path.name} has no column {column!r}; its columns are "
                         f"{', '.join(map(str, columns)) or 'none'}: pick one as the text column")


def _check_model(spec: str, role: str) -> models.Spec:
    try:
        resolved = models.resolve(spec)
        if resolved.kind in ("builtin", "local"):
            models.refuse_pickles(Path(resolved.path))  # safetensors only
    except InputError as err:
        raise InputError(f"{role}: {err}") from None
    if resolved.kind != "hub" or _in_hub_cache(resolved.path):
        return resolved
    if models.hub_offline():
        raise InputError(f"{role}: model '{spec}' is not in the local Hugging Face cache and the "
                         "hub is offline: download it once while online (`hf download "
                         f"{spec}`) or pick a built-in model such as builtin:teacher")
    _check_on_hub(spec, role)
    return resolved


def _check_tokenizers(teacher: models.Spec, student: models.Spec) -> None:
    """Both models must share one vocabulary (a preset student has its teacher's tokenizer)."""
    if student.kind == "preset" or teacher.name == student.name:
        return
    models.require_compatible(models.load_tokenizer(teacher), models.load_tokenizer(student))


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _check_on_hub(repo_id: str, role: str) -> None:
    """A quick look-up on the hub (online only): does this model exist?"""
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        model_info(repo_id, timeout=10)
    except GatedRepoError:
        raise InputError(f"{role}: model '{repo_id}' is gated: accept its licence on the hub and "
                         "log in (`hf auth login`) first") from None
    except RepositoryNotFoundError:
        raise InputError(f"{role}: no model '{repo_id}' on the Hugging Face hub (or it is "
                         "private): check the spelling, owner/name") from None
    except Exception as err:  # noqa: BLE001 - no network, timeouts (the hub's own error types)
        raise InputError(f"{role}: could not reach the Hugging Face hub to find '{repo_id}' "
                         f"({type(err).__name__}): check the connection") from None


def _context_length(folder: Path) -> int | None:
    """The longest sequence a model folder's config.json allows, if it says."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cfg.get("n_positions") or cfg.get("max_position_embeddings")
