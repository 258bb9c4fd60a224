"""Loading models and tokenizers: safetensors only, never code from a model repository.

Before any weight is read, a model over the parameter limit or too large for the free memory is
refused (memory.require_loadable); the limits come from the caller. A pretrained spec
(`smollm2-135m`) is fetched and converted on first use (pretrained.py), then loads as the local
folder it became.
"""

from __future__ import annotations

from pathlib import Path

import torch

from distill_core.errors import InputError
from distill_core.model_mode import eval_mode
from distill_core.models import memory
from distill_core.models.pretrained import PRETRAINED, fetch_pretrained
from distill_core.models.specs import PRESETS, Spec, context_length, hub_offline, resolve
from distill_core.models.students import make_student
from distill_core.policy import check_model_params

def refuse_pickles(folder: Path) -> None:
    if folder.is_dir() and not any(folder.glob("*.safetensors")):
        pickles = [p.name for p in folder.iterdir()
                   if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
        if pickles:
            raise InputError(f"'{folder}' has only pickle weights ({', '.join(pickles)}); "
                             "pickles can run code when loaded, so they are refused: "
                             "convert the model to safetensors first")
        raise InputError(f"'{folder}' has no model.safetensors weights")


def _fetched(spec: Spec) -> Spec:
    """A pretrained spec as the local folder it is converted into (fetched on first use)."""
    if spec.kind != "pretrained":
        return spec
    folder = fetch_pretrained(spec.name, models_dir=Path(spec.path).parent)
    return Spec("local", spec.name, str(folder))


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
        return load_tokenizer(s.base or teacher_spec)
    s = _fetched(s)
    try:
        return AutoTokenizer.from_pretrained(s.path, trust_remote_code=False,
                                             local_files_only=s.offline_ok or hub_offline())
    except (OSError, ValueError) as err:
        raise _hub_error(s, err) from None


def load_pretrained(spec: str | Spec, dtype=torch.float32, limits=None):
    """A causal LM from a folder or the hub, safetensors only, in eval mode. `limits` (a
    policy.Limits, or None for none) bounds its parameters and memory."""
    from transformers import AutoModelForCausalLM

    s = resolve(spec) if isinstance(spec, str) else spec
    if s.kind == "preset":
        raise InputError(f"'{s.name}' is a student preset: make it with make_student(teacher, …)")
    if s.kind == "pretrained" and limits is not None:  # before a download, not after it
        check_model_params(PRETRAINED[s.name].parameters, s.name, limits)
    s = _fetched(s)
    if s.kind != "hub":
        refuse_pickles(Path(s.path))
    memory.require_loadable(s.kind, s.path, s.name, dtype.itemsize, limits)  # before any weight is read
    try:
        model = AutoModelForCausalLM.from_pretrained(
            s.path, dtype=dtype, use_safetensors=True, trust_remote_code=False,
            local_files_only=s.offline_ok or hub_offline())
    except (OSError, ValueError) as err:
        raise _hub_error(s, err) from None
    return model.eval()


def load_teacher(spec: str = "builtin:teacher", dtype=torch.float32, limits=None):
    """(teacher, tokenizer): frozen, eval mode."""
    model = load_pretrained(spec, dtype, limits)
    model.requires_grad_(False)
    return model, load_tokenizer(spec)


def load_student(spec: str, teacher=None, *, seed: int = 0, dtype=torch.float32, limits=None):
    """A student in train mode: a preset made from `teacher`, or a pretrained model."""
    s = resolve(spec)
    if s.kind == "preset" and s.base:  # cut from its own base model, not the teacher
        teacher = load_pretrained(s.base, dtype, limits)
    if s.kind == "preset":
        if teacher is None:
            teacher = load_pretrained("builtin:teacher", dtype)
        p = PRESETS[s.path]
        model = make_student(teacher, n_layer=p["n_layer"], n_embd=p["n_embd"],
                             n_head=p["n_head"], init=p["init"], seed=seed)
    else:
        model = load_pretrained(s, dtype, limits)
    return model.train()


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
        "context": context_length(cfg),
        "size_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6,
        "architecture": (cfg.architectures or [type(model).__name__])[0],
    }


def size_on_disk(folder: str | Path) -> int:
    """Bytes of the safetensors weights in a model folder."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))



def next_token_logits(model, input_ids: torch.Tensor, vocab: int | None = None) -> torch.Tensor:
    """(B, T-1, V) logits at every position that has a next token, cut to the first `vocab`
    rows (the real tokens) when given. Runs under whatever grad/autocast mode the caller set."""
    logits = model(input_ids=input_ids).logits[:, :-1]
    return logits[..., :vocab] if vocab else logits


def prompt_logits(model, tokenizer, prompt: str) -> torch.Tensor:
    """Logits (V,) float32 on the CPU for the token after `prompt`, over the tokenizer's real
    tokens (the model runs in eval mode under inference_mode, then gets its mode back).

    Embedding rows past the tokenizer's vocabulary (padding to a round number) are dropped, so
    two models that share a tokenizer give logits of the same length.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("the prompt is empty; type a few words")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]  # (1, n), with its own special tokens
    n, context = ids.shape[1], context_length(model.config)
    if n == 0:
        raise InputError("the prompt is empty; type a few words")
    if context is not None and n > context:
        raise InputError(f"the prompt is {n} tokens long but the model reads at most {context} "
                         "tokens; shorten the prompt")
    with eval_mode(model), torch.inference_mode():
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits[0, -1]
    vocab = min(len(tokenizer), logits.shape[-1])
    return logits[:vocab].float().cpu().clone()  # a normal CPU tensor, outside inference mode
