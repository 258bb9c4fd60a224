"""The checks made before a run or a sweep starts from the app, and the sweep's background start.

`check_before_launch(config)` catches, in well under a second, the mistakes that would otherwise
only show up after a background run has started and failed: a model spec that is misspelt, a
model folder that does not exist, a hub model that is not downloaded while offline, a missing
data file, a sequence longer than the teacher's context, models over this server's parameter
limit or a run too large for the free memory (estimated from the models' files, nothing loaded).
It also refuses paths outside the folders the app shares (app_paths), and a pretrained model
not fetched yet (the app fetches it on request, with its progress shown): it is the app's check.

`start_run(values, session)` is the Distill form's Start: the settings (and an uploaded file)
become a config, checked, then queued. `launch_sweep(base, alphas, temperatures)` makes the
same checks, plans the sweep (training.sweep) and trains it in one background process;
`launch_experiment(name)` does the same for one of the experiments (training.experiments). No
Streamlit here.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from distill_core import models
from distill_core.app import paths as app_paths
from distill_core.app.uploads import save_upload
from distill_core.config import DistillConfig
from distill_core.data.corpora import BUILTIN_CORPORA, FILE_KINDS, corpus_route, read_text_file
from distill_core.errors import InputError
from distill_core.models import memory
from distill_core.models.estimate import training_memory_mb
from distill_core.policy import Limits, check_model_params, check_steps
from distill_core.store import jobs
from distill_core.store.limits import load_limits
from distill_core.store.runs import Run, runs_root
from distill_core.training import experiments, sweep
from distill_core.training.cross_tokenizer import cross_kind, one_tokenizer

__all__ = ["check_before_launch", "launch_experiment", "launch_sweep", "start_run"]


def check_before_launch(config: DistillConfig, limits: Limits | None = None) -> None:
    """Raise InputError for a mistake that would make the run fail as soon as it starts, or
    for something this app does not allow (a path it does not share, a model over its limit)."""
    limits = limits or load_limits(config.runs_dir)
    app_paths.require_shared_model(config.teacher, "teacher", config.runs_dir, limits)
    app_paths.require_shared_model(config.student, "student", config.runs_dir, limits)
    app_paths.require_shared_data(config.dataset, config.runs_dir, limits)
    teacher = _check_model(config.teacher, "teacher")
    student = _check_model(config.student, "student")
    _check_tokenizers(teacher, student, config)
    if config.dataset not in BUILTIN_CORPORA and corpus_route(config.dataset) == "file":
        path = Path(config.dataset).expanduser()
        if not path.is_file():
            raise InputError(f"no data file at {path}: check the path or upload the file")
        _check_data_file(path, config.text_column, int(limits.max_data_mb * 1e6))
    context = models.context_length(models.folder_config(models.model_folder(teacher)) or {})
    if context and config.seq_len > context:
        raise InputError(f"sequence length {config.seq_len} is longer than the teacher's "
                         f"context of {context} tokens: choose {context} or less")
    _check_memory(config, teacher, student, limits)


def start_run(values: dict, session: str | None = None,
              upload: tuple[str, bytes] | None = None, fresh: bool = False,
              limits: Limits | None = None) -> Run:
    """Queue a run of the form's `values` in the app's runs root, checked first; an uploaded
    file (name, bytes) is stored there and becomes the run's dataset. The classroom queue's
    limits apply to `session`. Returns the run: one with the same settings already done or under
    way (`run.attached`) unless `fresh`, else a new one. `limits`: the server's, as the app read
    them for this script run (else read here, once)."""
    root = runs_root()
    limits = limits or load_limits(root)
    if upload is not None:
        cap = int(limits.max_data_mb * 1e6)
        values = {**values, "dataset": str(save_upload(*upload, root, max_bytes=cap))}
    config = DistillConfig(**values, runs_dir=str(root))
    check_before_launch(config, limits)
    return jobs.launch(config, session=session, limits=limits, fresh=fresh)


def launch_sweep(base: DistillConfig, alphas, temperatures, root=None,
                 limits: Limits | None = None) -> str:
    """Plan the sweep and queue it for a background process (the app's way); returns its id.

    The server's limits apply (steps per run, runs waiting; the same checks as a single run's
    Start). The sweep waits in the run queue as one entry and, when a slot is free, one
    process (`distill sweep --sweep-id`, started by jobs.pump) holds that slot while it trains
    its cells in turn.
    """
    root = runs_root(root or base.runs_dir)
    limits = limits or load_limits(root)  # once: the checks, the queue and its process
    check_steps(base.steps, limits)
    check_before_launch(base.replace(runs_dir=str(root)), limits)
    return jobs.enqueue(root, lambda: sweep.plan(base, alphas, temperatures, root)[0], limits)


def launch_experiment(name: str, size: str = "default", root=None,
                      limits: Limits | None = None) -> Path:
    """Start experiment `name` (training.experiments) in a background process, `distill
    experiment NAME --out DIR`, and return its result folder. One experiment at a time per runs
    root: each is many runs, and a second beside it would slow both down."""
    root = runs_root(root)
    experiments.get(name)
    experiments.size_named(size)
    for folder in experiments.list_results(root):
        if experiments.load_result(folder)["status"]["state"] in ("queued", "running"):
            raise InputError(f"experiment {folder.name} is still running; start the next one "
                             "when it is done")
    folder = experiments.new_folder(name, root)
    folder.mkdir(parents=True)
    experiments.write_status(folder, "queued", pid=None)
    cmd = [sys.executable, "-m", "distill_core.cli", "experiment", name, "--size", size,
           "--out", str(folder), "--runs-dir", str(root)]
    pid = jobs.spawn(cmd, folder / "log.txt", jobs.training_env(limits or load_limits(root)))
    if experiments.load_result(folder)["status"]["state"] == "queued":  # not yet "running"
        experiments.write_status(folder, "queued", pid=pid)
    return folder


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


def _params(spec: models.Spec) -> int | None:
    if spec.kind == "hub":
        return memory.hub_params(spec.path, offline=True)
    folder = models.model_folder(spec)
    return memory.folder_params(folder) if folder else None


def _shape(spec: models.Spec) -> dict | None:
    """Layers, width, heads and vocabulary rows from a model's config.json (no weights read)."""
    cfg = models.folder_config(models.model_folder(spec))
    return models.config_shape(cfg) if cfg else None


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
    if resolved.kind == "pretrained" and models.model_folder(resolved) is None:
        raise InputError(f"{role}: {spec.strip()} is not on this machine yet: fetch it first "
                         f"(the Pair page offers it, or run `distill fetch {spec.strip()}`)")
    if resolved.kind != "hub" or models.model_folder(resolved):  # in the local cache
        return resolved
    if models.hub_offline():
        raise InputError(f"{role}: model '{spec}' is not in the local Hugging Face cache and the "
                         "hub is offline: download it once while online (`hf download "
                         f"{spec}`) or pick a built-in model such as builtin:teacher")
    _check_on_hub(spec, role)
    return resolved


def _check_tokenizers(teacher: models.Spec, student: models.Spec,
                      config: DistillConfig) -> str | None:
    """Two tokenizers that differ train across them (training/cross_tokenizer.py), with the
    settings that allows; one tokenizer refuses a cross_tokenizer loss named outright. Never
    fetches: a pretrained model not fetched yet was refused by `_check_model` (a fetch here
    would hold the page for a minute with nothing shown); should one get here, the run itself
    checks the tokenizers once it has the model."""
    if (student.kind == "preset" and not student.base) or teacher.name == student.name:
        return one_tokenizer(config)
    if any(s.kind == "pretrained" and models.model_folder(s) is None
           for s in (teacher, student, *([models.resolve(student.base)] if student.base else []))):
        return None
    return cross_kind(config, models.load_tokenizer(teacher),
                      models.load_tokenizer(student, teacher.name))


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
