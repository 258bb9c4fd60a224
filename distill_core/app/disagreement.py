"""The Disagreement view's data: a text as tokens, each model's logits along it, the per-token
numbers (kd.disagreement), the models a run offers, and the coloured text. No Streamlit here.

    read = read_text(tokenizer, "Once upon a time…", text_limit(teacher, student))
    t = text_logits(teacher, read["ids"], vocab)        # (n-1, V), once per model and text
    v = view(t, text_logits(student, read["ids"], vocab), read["ids"], temperature=2.0)
    html = token_spans(read["tokens"], v["kl"], scale=max(v["kl"]))

Token i (i >= 1) is coloured by the disagreement *about* it: the two models' distributions for
the token after tokens 0 … i-1. The first token has nothing before it and stays plain.
`disagree(run_id, text)` does all of it for the command line, with the runs' models loaded.
"""

from __future__ import annotations

import html

import torch

from distill_core import models
from distill_core.data.corpora import load_corpus
from distill_core.errors import InputError
from distill_core.kd.disagreement import most_disagreeing, token_disagreement
from distill_core.kd.explore import soft_label_view, visible
from distill_core.kd.losses import soften
from distill_core.model_mode import eval_mode
from distill_core.store.limits import load_limits
from distill_core.store.runs import Run, load_run

__all__ = ["MEASURE_NAMES", "bars_view", "colour_caption", "disagree", "read_text", "run_students", "text_limit",
           "text_logits", "token_spans", "top_tokens", "validation_passages", "view",
           "vocab_of", "worst_tokens"]

MEASURE_NAMES = {"kl": "KL(teacher‖student) at T",
                 "ce_diff": "loss difference: student CE − teacher CE (T = 1)"}
MAX_TOKENS = 256  # a text is cut here: the page colours it whole and keeps every model's logits
RED, BLUE = (214, 39, 40), (31, 119, 180)  # more disagreement / the student does better
STRONGEST = 0.8  # background opacity at the scale's top: dark text stays legible on it


def text_limit(*loaded) -> int:
    """The longest text (in tokens) every model reads: MAX_TOKENS or less."""
    contexts = [models.context_length(m.config) for m in loaded]
    return min([MAX_TOKENS, *[c for c in contexts if c]])


def vocab_of(tokenizer, *loaded) -> int:
    """The real tokens every model scores (embedding rows past the tokenizer's are padding)."""
    return min(len(tokenizer), *[m.get_output_embeddings().weight.shape[0] for m in loaded])


def read_text(tokenizer, text: str, limit: int = MAX_TOKENS) -> dict:
    """{"ids": (n,) token ids, "tokens": their texts, "cut": whether the text was shortened}."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the text is empty; paste a few sentences")
    ids = tokenizer(text, return_tensors="pt")["input_ids"][0]  # (n,)
    if len(ids) < 2:
        raise InputError("the text is a single token; give at least two so one can be predicted")
    cut = len(ids) > limit
    ids = ids[:limit]
    return {"ids": ids, "tokens": [tokenizer.decode([i]) for i in ids.tolist()], "cut": cut}


@torch.inference_mode()
def text_logits(model, ids: torch.Tensor, vocab: int) -> torch.Tensor:
    """(n-1, vocab) float32: `model`'s next-token logits after each prefix of `ids` (n,)."""
    with eval_mode(model):
        device = next(model.parameters()).device
        logits = models.next_token_logits(model, ids[None].to(device), vocab)[0]
    return logits.float().cpu().clone()  # a normal tensor outside inference mode


def view(teacher_logits, student_logits, ids: torch.Tensor, temperature: float) -> dict:
    """kd.token_disagreement's numbers (n-1,) for the tokens ids[1:], with the student's logits
    (for its bars) and the temperature."""
    out = token_disagreement(teacher_logits, student_logits, ids[1:], temperature)
    return {**out, "student_logits": student_logits, "temperature": float(temperature)}


def run_students(run: Run, teacher, limits=None) -> dict:
    """{label: model}: the run's student before, then after distillation. Before is its baseline
    (trained on the same batches without the teacher) when it has one, else the student as it
    was before any training (the run's spec and seed: the very same initial weights)."""
    if not (run.student_dir / "config.json").exists():
        raise InputError(f"run {run.id} has no saved student yet (it has not finished)")
    config = run.config()
    if (run.baseline_dir / "config.json").exists():
        before = ("baseline (trained without the teacher)",
                  models.load_student(str(run.baseline_dir), limits=limits))
    else:
        before = ("before training", models.load_student(
            config["student"], teacher, seed=config.get("seed", 0), limits=limits))
    return {before[0]: before[1],
            "after distillation": models.load_student(str(run.student_dir), limits=limits)}


def validation_passages(dataset: str = "tinytales", seed: int = 0, n: int = 8,
                        chars: int = 700) -> list[str]:
    """The first `n` validation documents of a corpus, each cut to about `chars` characters."""
    extra = {"train_stories": 1, "validation_stories": n} if dataset == "tinytales" else {}
    texts = load_corpus(dataset, seed=seed, **extra)["validation"]["text"][:n]
    return [t if len(t) <= chars else t[:chars].rsplit(" ", 1)[0] + " …" for t in texts]


def _background(value: float, scale: float, signed: bool) -> str:
    r, g, b = BLUE if signed and value < 0 else RED
    strength = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    return f"rgba({r},{g},{b},{STRONGEST * strength:.3f})"


def colour_caption(scale: float, measure: str, cut_at: int | None = None) -> str:
    """What the colours of `token_spans` mean, in one line under the text."""
    signed = (" (red: the student pays more than the teacher for the real token; blue: less)"
              if measure == "ce_diff" else "")
    cut = f". The text was cut at {cut_at} tokens." if cut_at else "."
    return ("Each token is coloured by how much the student's guess for it differs from the "
            "teacher's, given the text before it (hover a token for its number); full colour = "
            f"{scale:.2f} nats{signed}{cut}")


def token_spans(tokens: list[str], values, scale: float, signed: bool = False,
                unit: str = "nats") -> str:
    """HTML: the text, token i >= 1 on a background as strong as values[i-1] / scale (red; blue
    where a `signed` value is below 0), dark on white whatever the app's theme, value on hover."""
    parts = [html.escape(tokens[0])]
    for token, value in zip(tokens[1:], [float(v) for v in values]):
        parts.append(f'<span title="{html.escape(visible(token))}: {value:+.3f} {unit}" '
                     f'style="background:{_background(value, scale, signed)};'
                     f'border-radius:3px">{html.escape(token)}</span>')
    return ('<div style="background:#fff;color:#111;font-size:1.2rem;line-height:1.9;'
            'padding:0.6rem 0.8rem;border:1px solid #ddd;border-radius:6px;'
            f'white-space:pre-wrap">{"".join(parts)}</div>')


def top_tokens(logits: torch.Tensor, tokenizer, temperature: float, k: int = 3) -> str:
    """A distribution's k likeliest tokens at T, as "tok 0.41, tok 0.12, …"."""
    p = soften(logits, temperature)
    top = torch.topk(p, min(k, p.shape[-1]))
    return ", ".join(f"{visible(tokenizer.decode([int(i)]))} {float(q):.2f}"
                     for q, i in zip(top.values, top.indices))


def worst_tokens(read: dict, teacher_logits, v: dict, tokenizer, measure: str = "kl",
                 k: int = 10) -> list[dict]:
    """The k tokens with the largest `measure`, largest first: position, token, both numbers and
    both models' likeliest next tokens at the view's T."""
    if measure not in MEASURE_NAMES:
        raise InputError(f"measure must be one of {', '.join(MEASURE_NAMES)}, got {measure!r}")
    t = v["temperature"]
    return [{"position": i + 1, "token": visible(read["tokens"][i + 1]),
             "kl": float(v["kl"][i]), "ce_diff": float(v["ce_diff"][i]),
             "teacher_top": top_tokens(teacher_logits[i], tokenizer, t),
             "student_top": top_tokens(v["student_logits"][i], tokenizer, t)}
            for i in most_disagreeing(v[measure], k)]


def disagree(run_id: str, text: str, temperature: float = 1.0, measure: str = "kl", k: int = 10,
             before: bool = False, root=None) -> dict:
    """The command line's view of one text: {"run", "student" (label), "rows" (worst_tokens),
    "tokens", "cut", "mean_kl", "mean_ce_diff"} for the run's student after distillation, or
    before it with `before`."""
    run, limits = load_run(run_id, root), load_limits(root)
    teacher, tokenizer = models.load_teacher(run.config()["teacher"], limits=limits)
    label, student = list(run_students(run, teacher, limits).items())[0 if before else 1]
    read = read_text(tokenizer, text, text_limit(teacher, student))
    vocab = vocab_of(tokenizer, teacher, student)
    t_logits = text_logits(teacher, read["ids"], vocab)
    v = view(t_logits, text_logits(student, read["ids"], vocab), read["ids"], temperature)
    return {"run": run.id, "student": label, "tokens": len(read["ids"]), "cut": read["cut"],
            "mean_kl": float(v["kl"].mean()), "mean_ce_diff": float(v["ce_diff"].mean()),
            "rows": worst_tokens(read, t_logits, v, tokenizer, measure, k)}


def bars_view(teacher_logits, v: dict, position: int, tokenizer) -> dict:
    """explore.soft_label_view for the token at `position` (>= 1): both distributions at T."""
    return soft_label_view(teacher_logits[position - 1], v["student_logits"][position - 1],
                           tokenizer, v["temperature"])
