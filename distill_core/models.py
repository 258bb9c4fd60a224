"""Teacher and student models: specs, the pair registry, safe loading, students made from teachers,
and the tokenizer compatibility check.

A model spec is one string:
- `builtin:teacher` (the shipped tinytales GPT-2) or `builtin:teacher-early` (its early snapshot);
- `builtin:tiny`, `builtin:small`, `builtin:half`: student presets made from the built-in
  teacher's config (`half` keeps the width and copies alternating teacher layers);
- a local directory holding a Hugging Face model folder;
- a Hugging Face hub id such as `distilbert/distilgpt2`.

Loading reads safetensors only and never runs code from a model repository. Before any weight
is read, a model over the configured parameter limit or too large for the free memory is refused
(memory.require_loadable).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from distill_core import memory
from distill_core.errors import InputError

ASSETS = Path(os.environ.get("DISTILL_ASSETS", Path(__file__).resolve().parent.parent / "assets"))
BUILTIN_DIRS = {"teacher": "builtin/teacher", "teacher-early": "builtin/teacher-early"}

# Student presets: shape relative to the built-in teacher. init "teacher_layers" copies
# alternating teacher layers (DistilBERT's recipe), which needs the teacher's width.
PRESETS = {
    "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2, "init": "random"},
    "small": {"n_layer": 2, "n_embd": 128, "n_head": 4, "init": "random"},
    "half": {"n_layer": None, "n_embd": None, "n_head": None, "init": "teacher_layers"},
}


@dataclass(frozen=True)
class Pair:
    name: str
    teacher: str
    student: str
    note: str
    nominal: tuple[str, str] = ("", "")  # parameter counts as the models are known, before loading


PAIRS = {p.name: p for p in (
    Pair("builtin", "builtin:teacher", "builtin:half",
         "built-in tinytales teacher -> half its layers, copied from the teacher (offline)"),
    Pair("builtin-small", "builtin:teacher", "builtin:small",
         "built-in teacher -> small random student, 2 layers, width 128 (offline)"),
    Pair("builtin-tiny", "builtin:teacher", "builtin:tiny",
         "built-in teacher -> tiny random student, 2 layers, width 64 (offline)"),
    Pair("gpt2", "openai-community/gpt2", "distilbert/distilgpt2",
         "GPT-2 -> DistilGPT2 (same tokenizer)", ("124M", "82M")),
    Pair("tinystories-3m", "roneneldan/TinyStories-33M", "roneneldan/TinyStories-3M",
         "TinyStories 33M -> 3M (GPT-Neo, GPT-2 tokenizer)", ("33M", "3M")),
    Pair("tinystories-1m", "roneneldan/TinyStories-33M", "roneneldan/TinyStories-1M",
         "TinyStories 33M -> 1M", ("33M", "1M")),
    Pair("pythia", "EleutherAI/pythia-410m", "EleutherAI/pythia-70m",
         "Pythia 410M -> 70M (same tokenizer)", ("410M", "70M")),
    Pair("smollm2", "HuggingFaceTB/SmolLM2-360M", "HuggingFaceTB/SmolLM2-135M",
         "SmolLM2 360M -> 135M (same tokenizer)", ("360M", "135M")),
)}


# ---------------------------------------------------------------------------------------------
# Resolving specs


@dataclass(frozen=True)
class Spec:
    kind: str  # "builtin", "preset", "local", "hub"
    name: str  # what the user wrote
    path: str  # a folder, a hub id, or the preset name

    @property
    def offline_ok(self) -> bool:
        return self.kind != "hub"


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve(spec: str) -> Spec:
    """Turn a model spec string into a `Spec`, or raise InputError saying what is wrong."""
    spec = (spec or "").strip()
    if not spec:
        raise InputError("model spec is empty: give builtin:teacher, a preset, a folder or a hub id")
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name in BUILTIN_DIRS:
            path = ASSETS / BUILTIN_DIRS[name]
            if not (path / "config.json").exists():
                raise InputError(f"built-in model '{spec}' is missing from {path}; rebuild it "
                                 "with `python -m distill_core.build_builtin`")
            return Spec("builtin", spec, str(path))
        if name in PRESETS:
            return Spec("preset", spec, name)
        known = ", ".join(f"builtin:{n}" for n in [*BUILTIN_DIRS, *PRESETS])
        raise InputError(f"unknown built-in model '{spec}'; known: {known}")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise InputError(f"folder '{spec}' has no config.json: not a Hugging Face model folder")
        return Spec("local", spec, str(path.resolve()))
    if spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1:
        raise InputError(f"no model folder at '{spec}'")
    if not _HUB_ID.match(spec):
        raise InputError(f"'{spec}' is not a valid model id (expected owner/name or a folder)")
    return Spec("hub", spec, spec)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------------
# Loading


def _refuse_pickles(folder: Path) -> None:
    if folder.is_dir() and not any(folder.glob("*.safetensors")):
        pickles = [p.name for p in folder.iterdir()
                   if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
        if pickles:
            raise InputError(f"'{folder}' has only pickle weights ({', '.join(pickles)}); "
                             "pickles can run code when loaded, so they are refused: "
                             "convert the model to safetensors first")
        raise InputError(f"'{folder}' has no model.safetensors weights")


def _hub_error(spec: Spec, err: Exception) -> InputError:
    text = str(err)
    if hub_offline() or "offline" in text.lower() or "connect" in text.lower():
        return InputError(
            f"model '{spec.name}' is not in the local Hugging Face cache and the hub cannot be "
            f"reached (offline); download it once while online (`hf download {spec.name}`) or "
            "use a built-in model such as builtin:teacher")
    if "safetensors" in text.lower():
        return InputError(f"model '{spec.name}' has no safetensors weights; pickle weights are "
                          "refused because they can run code when loaded")
    if "not found" in text.lower() or "404" in text or "repository" in text.lower():
        return InputError(f"no model '{spec.name}' on the Hugging Face hub; check the spelling "
                          "(owner/name)")
    return InputError(f"could not load model '{spec.name}': {text.splitlines()[0][:200]}")


def load_tokenizer(spec: str | Spec, teacher_spec: str = "builtin:teacher"):
    """The tokenizer of a spec (a preset uses the built-in teacher's)."""
    from transformers import AutoTokenizer

    s = resolve(spec) if isinstance(spec, str) else spec
    if s.kind == "preset":
        return load_tokenizer(teacher_spec)
    try:
        return AutoTokenizer.from_pretrained(s.path, trust_remote_code=False,
                                             local_files_only=s.offline_ok or hub_offline())
    except (OSError, ValueError) as err:
        raise _hub_error(s, err) from None


def load_pretrained(spec: str | Spec, dtype=torch.float32):
    """A causal LM from a folder or the hub, safetensors only, in eval mode."""
    from transformers import AutoModelForCausalLM

    s = resolve(spec) if isinstance(spec, str) else spec
    if s.kind == "preset":
        raise InputError(f"'{s.name}' is a student preset: make it with make_student(teacher, …)")
    if s.kind != "hub":
        _refuse_pickles(Path(s.path))
    memory.require_loadable(s.kind, s.path, s.name, dtype.itemsize)  # before any weight is read
    try:
        model = AutoModelForCausalLM.from_pretrained(
            s.path, dtype=dtype, use_safetensors=True, trust_remote_code=False,
            local_files_only=s.offline_ok or hub_offline())
    except (OSError, ValueError) as err:
        raise _hub_error(s, err) from None
    return model.eval()


def load_teacher(spec: str = "builtin:teacher", dtype=torch.float32):
    """(teacher, tokenizer): frozen, eval mode."""
    model = load_pretrained(spec, dtype)
    model.requires_grad_(False)
    return model, load_tokenizer(spec)


def load_student(spec: str, teacher=None, *, seed: int = 0, dtype=torch.float32):
    """A student in train mode: a preset made from `teacher`, or a pretrained model."""
    s = resolve(spec)
    if s.kind == "preset":
        if teacher is None:
            teacher = load_pretrained("builtin:teacher", dtype)
        p = PRESETS[s.path]
        model = make_student(teacher, n_layer=p["n_layer"], n_embd=p["n_embd"],
                             n_head=p["n_head"], init=p["init"], seed=seed)
    else:
        model = load_pretrained(s, dtype)
    return model.train()


# ---------------------------------------------------------------------------------------------
# Students made from a teacher


def _layers_key(name: str):
    """('h', 3) for 'transformer.h.3.attn…' style names; None for non-layer weights."""
    m = re.search(r"\.(h|layers|layer|blocks)\.(\d+)\.", name)
    return (m.group(1), int(m.group(2)), m.span(2)) if m else None


def make_student(teacher, *, n_layer=None, n_embd=None, n_head=None, init="random", seed=0):
    """A smaller model of the teacher's architecture.

    `n_layer`, `n_embd` (width) and `n_head` default to the teacher's (n_layer to half of it).
    init="random": fresh weights (seeded). init="teacher_layers": embeddings, final norm and head
    copied from the teacher, layer i from teacher layer i * L_teacher // L_student (every other
    layer when halving, as DistilBERT did); needs the teacher's width.
    """
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(teacher.config)
    t_layers, t_width = cfg.num_hidden_layers, cfg.hidden_size
    n_layer = n_layer or max(1, t_layers // 2)
    n_embd = n_embd or t_width
    n_head = n_head or cfg.num_attention_heads
    if n_layer < 1 or n_embd < 1 or n_head < 1:
        raise InputError("student layers, width and heads must be at least 1")
    if n_embd % n_head:
        raise InputError(f"student width {n_embd} is not divisible by its {n_head} heads")
    if init not in ("random", "teacher_layers"):
        raise InputError(f"init must be 'random' or 'teacher_layers', not '{init}'")
    if init == "teacher_layers" and (n_embd != t_width or n_layer > t_layers):
        raise InputError(f"copying teacher layers needs the teacher's width ({t_width}) and at "
                         f"most its {t_layers} layers; got width {n_embd}, {n_layer} layers")
    cfg.num_hidden_layers, cfg.num_attention_heads = n_layer, n_head
    if n_embd != t_width:
        cfg.hidden_size = n_embd
        for name in ("intermediate_size", "n_inner"):
            if getattr(cfg, name, None):
                setattr(cfg, name, getattr(cfg, name) * n_embd // t_width)
        if getattr(cfg, "num_key_value_heads", None):
            cfg.num_key_value_heads = n_head
        if getattr(cfg, "head_dim", None):
            cfg.head_dim = n_embd // n_head
    torch.manual_seed(seed)
    student = AutoModelForCausalLM.from_config(cfg, dtype=next(teacher.parameters()).dtype)
    if init == "teacher_layers":
        mapping = [i * t_layers // n_layer for i in range(n_layer)]
        source = teacher.state_dict()
        target = student.state_dict()
        for name in target:
            key = _layers_key(name)
            src = name
            if key:
                _, i, (a, b) = key
                src = name[:a] + str(mapping[i]) + name[b:]
            if src in source and source[src].shape == target[name].shape:
                target[name] = source[src].clone()
        student.load_state_dict(target)
    return student.train()


# ---------------------------------------------------------------------------------------------
# Facts about a model


def describe(model) -> dict:
    """Parameters, shape and fp32/bf16 size of a loaded model."""
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    return {
        "parameters": params,
        "layers": cfg.num_hidden_layers,
        "width": cfg.hidden_size,
        "heads": cfg.num_attention_heads,
        "vocab_rows": model.get_output_embeddings().weight.shape[0],
        "context": getattr(cfg, "max_position_embeddings", None),
        "size_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6,
        "architecture": (cfg.architectures or [type(model).__name__])[0],
    }


def size_on_disk(folder: str | Path) -> int:
    """Bytes of the safetensors weights in a model folder."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


# ---------------------------------------------------------------------------------------------
# Tokenizer compatibility


@dataclass
class Compatibility:
    ok: bool
    verdict: str  # identical | padded_rows | special_tokens_differ | different_vocabulary
    message: str
    vocab_size: int = 0  # logits positions both models share (real tokens)
    details: dict = field(default_factory=dict)


def _specials(tok) -> dict:
    return {k: getattr(tok, k, None) for k in ("eos_token", "bos_token", "pad_token", "unk_token")}


def check_compatibility(teacher_tok, student_tok, teacher_rows: int | None = None,
                        student_rows: int | None = None) -> Compatibility:
    """Can these two models be distilled token by token? A specific verdict either way.

    Distillation compares next-token distributions position by position, so both models must
    give the same token the same id. Embedding rows past the real vocabulary (models pad them
    to a round number, e.g. 152,064 vs 151,936) do not matter: logits are compared on the real
    tokens only.
    """
    tv, sv = teacher_tok.get_vocab(), student_tok.get_vocab()
    n = len(tv)
    if tv != sv:
        missing = sum(1 for t, i in tv.items() if sv.get(t) != i)
        return Compatibility(
            False, "different_vocabulary",
            f"tokenizers differ: {missing:,} of the teacher's {len(tv):,} tokens are missing "
            f"from the student's {len(sv):,}-token vocabulary or have other ids; distillation "
            "needs one shared vocabulary, so pick a student from the teacher's family",
            0, {"teacher_tokens": len(tv), "student_tokens": len(sv), "mismatched": missing})
    details = {"tokens": n, "teacher_rows": teacher_rows, "student_rows": student_rows}
    st, ss = _specials(teacher_tok), _specials(student_tok)
    if st != ss:
        diff = {k: (st[k], ss[k]) for k in st if st[k] != ss[k]}
        return Compatibility(
            True, "special_tokens_differ",
            f"same vocabulary ({n:,} tokens) but different special tokens {diff}; the "
            "teacher's special tokens are used for the data", n, details | {"specials": diff})
    if teacher_rows and student_rows and teacher_rows != student_rows:
        return Compatibility(
            True, "padded_rows",
            f"same tokenizer ({n:,} tokens); embedding rows are padded differently "
            f"({teacher_rows:,} vs {student_rows:,}), so logits are compared on the {n:,} "
            "real tokens", n, details)
    return Compatibility(True, "identical", f"identical tokenizers ({n:,} tokens)", n, details)


def require_compatible(teacher_tok, student_tok, teacher_rows=None, student_rows=None):
    """`check_compatibility`, raising InputError with its message when the pair cannot work."""
    verdict = check_compatibility(teacher_tok, student_tok, teacher_rows, student_rows)
    if not verdict.ok:
        raise InputError(verdict.message)
    return verdict


# ---------------------------------------------------------------------------------------------
# The registry, as a table


def _cached(spec: Spec) -> bool:
    if spec.kind != "hub":
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(spec.path, "config.json"), str)


def pair_info(pair: Pair) -> dict:
    """Parameter counts and tokenizer verdict of a registry pair, measured where it is on disk.

    Built-in pairs are loaded and counted. Hub pairs show their nominal sizes unless both models
    are in the local cache; their tokenizers are checked when both are cached.
    """
    t_spec, s_spec = resolve(pair.teacher), resolve(pair.student)
    available = _cached(t_spec) and _cached(s_spec)
    info = {"teacher_params": pair.nominal[0] or "?", "student_params": pair.nominal[1] or "?",
            "available": "yes" if available else "download needed",
            "compatibility": "not checked (not cached)"}
    if not available:
        return info
    try:
        teacher, t_tok = load_teacher(pair.teacher)
        student = load_student(pair.student, teacher)
        s_tok = load_tokenizer(s_spec, pair.teacher)
        verdict = check_compatibility(t_tok, s_tok,
                                      teacher.get_output_embeddings().weight.shape[0],
                                      student.get_output_embeddings().weight.shape[0])
    except InputError as err:
        info["compatibility"] = str(err)
        return info
    info.update(teacher_params=f"{describe(teacher)['parameters']:,}",
                student_params=f"{describe(student)['parameters']:,}",
                compatibility=verdict.verdict)
    return info
