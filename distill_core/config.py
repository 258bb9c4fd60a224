"""DistillConfig: every setting of a distillation run, in one validated dataclass.

Each field carries its own documentation in `metadata`: "help" (plain words), "range" (what is
allowed, as text) and "choices" (a tuple, or None). The CLI builds its --flags from
`DistillConfig.fields_help()` and the app shows the same help text, so a setting is described
in exactly one place.

    config = DistillConfig(alpha=0.7, loss="jsd")
    config = DistillConfig.load("run.yaml")          # or .json
    config.to_yaml("run.yaml")
    config.replace(steps=1000)                       # a validated copy

Every bad value raises InputError with one line naming the field, what is allowed and what was
given. Validation runs on construction and again on `validate()` (the object is not frozen).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from distill_core.errors import InputError
from distill_core.kd.checks import TEMPERATURE_RANGE, check_beta
from distill_core.kd.cross_tokenizer import CROSS_HELP, CROSS_SETTINGS
from distill_core.kd.hidden import HIDDEN_LOSSES, layer_pairs, pairs_text
from distill_core.kd.losses import KINDS

PRECISIONS = ("auto", "fp32", "bf16")
COMPILE_MODES = ("auto", "on", "off")
# Accelerate's trackers (accelerate.utils.LoggerType), as `Accelerator(log_with=...)` spells them
TRACKERS = ("none", "tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive",
            "swanlab", "trackio", "all")
TINYTALES_STORIES = 300  # training stories when train_docs is empty
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SUFFIXES = (".json", ".yaml", ".yml")
# Temperatures outside this range only overflow: logits / 1e-40 are inf, and the loss is nan.
TEMPERATURE_LOW, TEMPERATURE_HIGH = TEMPERATURE_RANGE  # the loss's own bound, one source


def on_policy_rows(batch: int, fraction: float) -> int:
    """How many of `batch` sequences the student writes at on-policy fraction λ: λ·b rounded
    half up (the whole batch's count; training.on_policy spreads them over micro-batches)."""
    return min(batch, int(fraction * batch + 0.5))


def _num(x) -> str:
    """A number as people write it: 1,000,000 for ints, 0.001 / 1e-05 for floats."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _field(default, help, low=None, high=None, above=False, choices=None, range=None):
    """A dataclass field documented in metadata. `above`: the low bound itself is not allowed."""
    if range is None and choices is not None:
        range = "one of " + ", ".join(choices)
    if range is None and low is not None:
        range = (f"more than {_num(low)}, at most {_num(high)}" if above
                 else f"{_num(low)} to {_num(high)}")
    meta = {"help": help, "range": range, "choices": choices,
            "low": low, "high": high, "above": above}
    return field(default=default, metadata=meta)


@dataclass
class DistillConfig:
    # what to distil
    teacher: str = _field(
        "builtin:teacher",
        "The big model whose predictions the student learns from: builtin:teacher, "
        "a Hugging Face model id, or a local folder.")
    student: str = _field(
        "builtin:half",
        "The smaller model being trained: a preset (builtin:tiny, builtin:small, builtin:half), "
        "a Hugging Face model id, or a local folder.")
    dataset: str = _field(
        "tinytales",
        "The text to train on: a built-in corpus (tinytales, python-docs), a .txt/.jsonl/.csv "
        "file, or a Hugging Face dataset id.")
    text_column: str = _field(
        "text", "Name of the column that holds the text (for .jsonl, .csv and Hugging Face data).")
    dataset_config: str | None = _field(
        None, "Configuration name of a Hugging Face dataset, if it has several; empty = none.")
    dataset_split: str | None = _field(
        None, "Which split of a Hugging Face dataset to train on; empty = its train split.")
    train_docs: int | None = _field(
        None, f"Training documents: tinytales generates N stories (empty = {TINYTALES_STORIES}: "
        "soft labels help most where data is scarce, docs/results.md); other corpora keep their "
        "first N (empty = all). The held-out documents do not change with N.", low=1,
        high=10_000_000, range="1 to 10,000,000, or empty for the default")
    # the distillation loss
    alpha: float = _field(
        0.5, "How much the student listens to the teacher's soft labels: 0 = ordinary training "
        "on the real next tokens, 1 = pure distillation.", low=0.0, high=1.0)
    temperature: float = _field(
        2.0, "Softening temperature T: above 1 flattens both models' predictions so the student "
        "also sees which wrong answers the teacher finds likely.", low=TEMPERATURE_LOW,
        high=TEMPERATURE_HIGH)
    loss: str = _field(
        "forward_kl", "How to measure the gap between teacher and student predictions.",
        choices=KINDS)
    beta: float = _field(
        0.5, "Mixing weight used by the jsd and skew_kl losses (ignored by the others).",
        low=0.0, high=1.0, range="0 to 1; jsd: strictly between 0 and 1; skew_kl: below 1")
    cross_tokenizer: str = _field("auto", CROSS_HELP, choices=CROSS_SETTINGS)
    teacher_cache: bool = _field(
        False, "Train from the teacher's stored top-k predictions instead of running the teacher "
        "every step. The first run over some data computes and stores them; later runs on the "
        "same teacher and data (a sweep, say) skip the teacher entirely.")
    top_k: int = _field(
        64, "With teacher_cache: how many of the teacher's most likely next tokens are stored "
        "per position (the rest of its probability is kept as one bucket).", low=1, high=1_000_000)
    on_policy: float = _field(
        0.0, "On-policy distillation (GKD's lambda): the fraction of each batch's sequences the "
        "student writes itself, continuing the start of a training sequence; the teacher then "
        "grades every token it wrote. 0 = the student only ever reads real text. Needs a live "
        "teacher (no teacher_cache) and alpha above 0.", low=0.0, high=1.0)
    on_policy_temperature: float = _field(
        1.0, "With on_policy: the temperature the student samples its continuations at (1 = its "
        "own distribution, lower = safer, higher = wilder).", low=TEMPERATURE_LOW,
        high=TEMPERATURE_HIGH)
    on_policy_prefix: int | None = _field(
        None, "With on_policy: how many tokens of the training sequence the student continues "
        "from; empty = half of seq_len.", low=1, range="1 to seq_len - 1, or empty for half")
    hidden_weight: float = _field(
        0.0, "Hidden-state distillation: the weight of a loss part that pulls the outputs of the "
        "student's layers towards the teacher's at paired layers (through a learned projection "
        "where the widths differ). 0 = off. Needs a live teacher (no teacher_cache).",
        low=0.0, high=100.0)
    hidden_loss: str = _field(
        "mse", "With hidden_weight: the distance between paired states, per position. mse = "
        "squared error over the teacher vector's own square (0 = equal, 1 = as far off as "
        "zeros); cosine = 1 - cosine similarity, direction only.", choices=HIDDEN_LOSSES)
    hidden_layers: str | None = _field(
        None, "With hidden_weight: which layers to pair, student:teacher numbered from 0; empty "
        "= the teacher layers a copied student came from, else evenly spaced.",
        range="pairs like 0:1,1:3, or empty")
    # optimisation
    steps: int = _field(150, "How many optimiser steps to train for.", low=1, high=1_000_000)
    batch_size: int = _field(
        16, "Sequences per optimiser step (the whole batch, over all devices).", low=1, high=4096)
    grad_accum: int = _field(
        1, "Split each batch into this many smaller pieces to save memory; batch_size must be "
        "divisible by it. Results are the same, only slower.", low=1, high=1024)
    seq_len: int = _field(128, "Tokens per training sequence.", low=8, high=8192)
    lr: float = _field(
        1e-3, "Peak learning rate: how big a step the optimiser takes.", low=0.0, high=1.0,
        above=True)
    warmup: int | None = _field(
        None, "Steps over which the learning rate rises linearly from 0 to its peak, before it "
        "decays along a cosine curve; empty = a tenth of the steps (rounded).", low=0,
        range="0 to steps, or empty for a tenth of steps")
    weight_decay: float = _field(
        0.01, "Pulls weights gently towards zero each step (AdamW weight decay).",
        low=0.0, high=1.0)
    grad_clip: float = _field(
        1.0, "Largest allowed gradient norm; bigger gradients are scaled down. 0 turns this off.",
        low=0.0, high=1000.0)
    # evaluation and saving
    eval_every: int = _field(
        50, "Measure validation loss every this many steps; 0 = only at the end.",
        low=0, high=1_000_000)
    eval_blocks: int = _field(
        64, "How many validation sequences each evaluation uses.", low=1, high=100_000)
    checkpoint_every: int = _field(
        0, "Save a checkpoint you can resume from every this many steps; 0 = never.",
        low=0, high=1_000_000)
    seed: int = _field(
        0, "Random seed: the same seed and settings give the same run.", low=0, high=2**31 - 1)
    precision: str = _field(
        "auto", "Number format for training: auto times a few steps of this student in fp32 and "
        "in bf16 on this machine (at most ~3 s, remembered per machine and model shape) and "
        "takes the faster.", choices=PRECISIONS)
    compile: str = _field(
        "auto", "torch.compile for the students' training steps: on, off, or auto = time the "
        "second eager step and compile when the steps left would save more than the compile "
        "costs (as measured on this machine before), or, with no measurement yet, when they "
        "would take over 3 minutes eagerly (compiled kernels are cached across runs on this "
        "machine). A failed compile falls back to eager with one line.", choices=COMPILE_MODES)
    baseline: bool = _field(
        False, "Also train the same student without the teacher (alpha = 0) on the same "
        "batches, for a fair comparison.")
    runs_dir: str = _field("runs", "Folder where runs are stored.")
    report_to: str = _field(
        "none", "Also send the metrics to a tracker that Accelerate supports (tensorboard, "
        "wandb, mlflow, ...; 'all' = every one installed), logged under the run's folder. The "
        "run folder keeps them either way.", choices=TRACKERS)
    name: str | None = _field(
        None, "Optional run name: letters, digits, '.', '_' or '-', up to 64 characters.",
        range="1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")

    def __post_init__(self):
        self.validate()

    @property
    def micro_batch(self) -> int:
        """Sequences per forward/backward pass."""
        return self.batch_size // self.grad_accum

    @property
    def warmup_steps(self) -> int:
        """The warmup in steps: `warmup`, or 10 % of `steps` rounded (300 -> 30) when unset."""
        return self.warmup if self.warmup is not None else (self.steps + 5) // 10

    @property
    def on_policy_prefix_tokens(self) -> int:
        """Tokens of a block the student continues from: `on_policy_prefix`, or seq_len // 2."""
        return self.on_policy_prefix if self.on_policy_prefix is not None else self.seq_len // 2

    # ------------------------------------------------------------------ validation

    def validate(self) -> DistillConfig:
        """Check every field (converting 300.0 -> 300, stripping strings); raise InputError."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check(f, getattr(self, f.name)))
        if self.batch_size % self.grad_accum:
            raise InputError(f"batch_size must be divisible by grad_accum "
                             f"(got batch_size={self.batch_size}, grad_accum={self.grad_accum})")
        if self.warmup is not None and self.warmup > self.steps:
            raise InputError(f"warmup must be between 0 and steps={_num(self.steps)} "
                             f"(got {_num(self.warmup)})")
        self._validate_on_policy()
        if self.hidden_layers is not None:  # one spelling: "0:1,1:3"
            self.hidden_layers = pairs_text(layer_pairs(self.hidden_layers))
        if self.hidden_weight > 0 and self.teacher_cache:
            raise InputError("hidden_weight needs a live teacher: the teacher cache stores only "
                             "its top-k predictions, no hidden states; turn teacher_cache off "
                             f"or set hidden_weight to 0 (got {_num(self.hidden_weight)})")
        check_beta(self.loss, self.beta)  # the loss's own rule and message (jsd, skew_kl)
        return self

    def _validate_on_policy(self) -> None:
        if self.on_policy_prefix is not None and self.on_policy_prefix >= self.seq_len:
            raise InputError(f"on_policy_prefix must be between 1 and seq_len - 1 = "
                             f"{_num(self.seq_len - 1)} (got {_num(self.on_policy_prefix)})")
        if self.on_policy == 0:
            return
        if self.teacher_cache:
            raise InputError("on_policy needs a live teacher: it grades the continuations the "
                             "student writes during training, which no teacher cache holds; "
                             "turn teacher_cache off or set on_policy to 0 "
                             f"(got on_policy={_num(self.on_policy)}, teacher_cache=true)")
        if self.alpha == 0:
            raise InputError("on_policy needs alpha above 0: the tokens the student writes "
                             "itself are learnt from the teacher only (got alpha=0)")
        if on_policy_rows(self.batch_size, self.on_policy) == 0:
            least = math.ceil(0.5 / self.batch_size * 10_000) / 10_000
            raise InputError(f"on_policy must let the student write at least one sequence of "
                             f"the batch: at least {least:g} for batch_size "
                             f"{_num(self.batch_size)}, or 0 to turn it off (got on_policy="
                             f"{_num(self.on_policy)}, which rounds to 0 sequences)")

    # ------------------------------------------------------------------ dicts, copies, help

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d) -> DistillConfig:
        if not isinstance(d, dict):
            raise InputError(f"a config must be a mapping of field: value (got {type(d).__name__})")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = (f"did you mean '{close[0]}'?" if close
                        else "known fields: " + ", ".join(known))
                raise InputError(f"unknown config field {str(key)!r}; {hint}")
        return cls(**d)

    def replace(self, **changes) -> DistillConfig:
        """A validated copy with some fields changed."""
        return self.from_dict({**self.to_dict(), **changes})

    @classmethod
    def fields_help(cls) -> list[dict]:
        """One dict per field, in order: name, type, default, help, range, choices."""
        return [{"name": f.name, "type": f.type, "default": f.default, "help": f.metadata["help"],
                 "range": f.metadata["range"], "choices": f.metadata["choices"]}
                for f in dataclasses.fields(cls)]

    @classmethod
    def field_bounds(cls) -> dict[str, tuple]:
        """{field: (low, high, above)} for each number field that declares a range, as validation
        applies it: `high` None = no upper bound; `above` True = the low bound itself is not
        allowed (temperature > 0). Other checks (warmup <= steps, beta for jsd) are not here."""
        return {f.name: (f.metadata["low"], f.metadata["high"], f.metadata["above"])
                for f in dataclasses.fields(cls) if f.metadata["low"] is not None}

    # ------------------------------------------------------------------ JSON and YAML

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, path_or_text) -> DistillConfig:
        text, where = _source(path_or_text)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON{where} at line {e.lineno}, column {e.colno}: {e.msg}")
        except ValueError as e:  # a number of over 4,300 digits
            raise InputError(f"invalid JSON{where}: {' '.join(str(e).split())}") from None
        return cls.from_dict(_mapping(d, where))

    def to_yaml(self, path=None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path_or_text) -> DistillConfig:
        text, where = _source(path_or_text)
        try:
            d = yaml.load(text, Loader=_YamlLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            why = getattr(e, "problem", None) or str(e)
            raise InputError(f"invalid YAML{where}{at}: {' '.join(str(why).split())}")
        except ValueError as e:  # a number of over 4,300 digits
            raise InputError(f"invalid YAML{where}: {' '.join(str(e).split())}") from None
        return cls.from_dict(_mapping(d, where))

    @classmethod
    def load(cls, path) -> DistillConfig:
        """Read a .json, .yaml or .yml config file."""
        suffix = Path(path).suffix.lower()
        if suffix not in SUFFIXES:
            raise InputError("config file must end in .json, .yaml or .yml "
                             f"(got '{_one_line(path)}')")
        return cls.from_json(Path(path)) if suffix == ".json" else cls.from_yaml(Path(path))


def load(path) -> DistillConfig:
    return DistillConfig.load(path)


# ---------------------------------------------------------------------- helpers


def _check(f: dataclasses.Field, value):
    """`value` checked and converted for field `f`, or InputError."""
    name, meta = f.name, f.metadata
    kind = f.type.replace(" | None", "")
    optional = f.type.endswith("| None")
    got = f"(got {value!r})"
    allowed = f" {meta['range']}" if meta["range"] else ""

    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{name} must be true or false {got}")
        return value

    if kind == "str":
        if isinstance(value, str):
            value = value.strip()
        if optional and value in (None, ""):
            return None
        if not isinstance(value, str):
            empty = ", or empty for none" if optional else ""
            raise InputError(f"{name} must be a string{empty} {got}")
        if not value:
            raise InputError(f"{name} must be a non-empty string {got}")
        if meta["choices"]:
            if value.lower() not in meta["choices"]:
                raise InputError(f"{name} must be{allowed} {got}")
            value = value.lower()
        if name == "name" and (not NAME_PATTERN.fullmatch(value) or ".." in value):
            raise InputError(f"name must be{allowed}, with no '/' or '..' {got}")
        return value

    if optional and (value is None or (isinstance(value, str) and not value.strip())):
        return None  # an optional number left empty: its property decides (warmup_steps)
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 300.0 from JSON or YAML
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"{name} must be a whole number,{allowed} {got}")
        value = int(value)
    else:  # float
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InputError(f"{name} must be a number,{allowed} {got}")
        try:
            value = float(value)
        except OverflowError:  # an int of hundreds of digits
            value = math.inf
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number,{allowed} {got}")

    low, high = meta["low"], meta["high"]
    too_low = value <= low if meta["above"] else value < low
    if too_low or (high is not None and value > high):
        if high is None:
            raise InputError(f"{name} must be at least {_num(low)} (got {_num(value)})")
        bounds = (f"more than {_num(low)} and at most {_num(high)}" if meta["above"]
                  else f"between {_num(low)} and {_num(high)}")
        raise InputError(f"{name} must be {bounds} (got {_num(value)})")
    return value


def _one_line(path) -> str:
    """A path as text for a one-line message: control characters escaped as repr does."""
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


def _source(path_or_text) -> tuple[str, str]:
    """(text, " in FILE" or "").

    A Path, or a one-line string ending in .json/.yaml/.yml, is a file; anything else is the text.
    """
    is_path = isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and path_or_text.strip().lower().endswith(SUFFIXES))
    if not is_path:
        return str(path_or_text), ""
    path = Path(path_or_text)
    if not path.is_file():
        raise InputError(f"config file not found: {_one_line(path)}")
    try:
        return path.read_text(encoding="utf-8"), f" in {_one_line(path)}"
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read config file {path}: {e}")


def _mapping(d, where: str) -> dict:
    if not isinstance(d, dict):
        got = "nothing" if d is None else type(d).__name__
        raise InputError(f"config{where} must be a mapping of field: value (got {got})")
    return d


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads 1e-3 as a float (plain YAML 1.1 would give the string '1e-3')."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
