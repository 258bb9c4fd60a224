"""Build the built-in tokenizer and teacher from tinytales: `python -m distill_core.training.build_builtin`.

Steps (fixed seed, CPU, about an hour on a 2-core machine):
1. generate tinytales (train and validation splits);
2. train a byte-level BPE tokenizer on the train split;
3. train a GPT-2-architecture teacher on 256-token blocks with AdamW, warmup + cosine decay,
   bf16 autocast where the CPU supports it; save an early snapshot for the "imperfect teacher"
   lesson;
4. measure validation perplexity against the corpus floor and write the model card.

Output (default `assets/builtin/`): `teacher/` (config.json, model.safetensors, tokenizer files,
README.md model card, training_log.json) and `teacher-early/` (the early snapshot, fp16).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from distill_core.data import tinytales
from distill_core.data.corpora import blocks_as_tensor, pack_blocks
from distill_core.machine import describe_machine
from distill_core.training.evaluate import perplexity
from distill_core.training.loop import lr_at

SPECIALS = {"eos": "<|endoftext|>", "pad": "<|pad|>"}


def train_tokenizer(texts, vocab_size: int):
    """Byte-level BPE trained on `texts`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIALS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=SPECIALS["eos"], bos_token=SPECIALS["eos"],
        unk_token=SPECIALS["eos"], pad_token=SPECIALS["pad"], model_max_length=256)


def teacher_config(tokenizer, n_layer=4, n_embd=256, n_head=4, n_positions=256):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
        n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)


def build(out: Path, *, stories=240_000, val_stories=1000, vocab_size=4096, steps=6000,
          batch_size=16, block_size=256, lr=2e-3, warmup=200, early_step=300, seed=0,
          log_every=100):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.time()
    corpus = tinytales.load(train_stories=stories, validation_stories=val_stories, seed=seed)
    tokenizer = train_tokenizer(corpus["train"]["text"], vocab_size)
    train = blocks_as_tensor(pack_blocks(corpus["train"], tokenizer, block_size))  # (N, T)
    val = blocks_as_tensor(pack_blocks(corpus["validation"], tokenizer, block_size))
    print(f"tokenizer: {len(tokenizer)} tokens; train blocks {tuple(train.shape)}, "
          f"val blocks {tuple(val.shape)}", flush=True)

    model = GPT2LMHeadModel(teacher_config(tokenizer, n_positions=block_size))
    n_params = sum(p.numel() for p in model.parameters())
    log, train_seconds = train_teacher(model, tokenizer, train, out, steps=steps,
                                       batch_size=batch_size, lr=lr, warmup=warmup,
                                       early_step=early_step, seed=seed, log_every=log_every)

    model.eval()
    floor = tinytales.entropy_floor(corpus["validation"], tokenizer)
    val_ppl = perplexity(model, val)
    early = GPT2LMHeadModel.from_pretrained(out / "teacher-early", dtype=torch.float32)
    early_ppl = perplexity(early, val)
    facts = {
        "parameters": n_params, "vocab_size": len(tokenizer), "n_layer": model.config.n_layer,
        "n_embd": model.config.n_embd, "n_head": model.config.n_head,
        "context": block_size, "steps": steps, "batch_size": batch_size,
        "train_tokens": steps * batch_size * block_size, "train_stories": stories,
        "train_seconds": round(train_seconds), "total_seconds": round(time.time() - started),
        "val_ppl": round(val_ppl, 4), "floor_ppl": round(floor["ppl"], 4),
        "floor_nats_per_token": round(floor["nats_per_token"], 4),
        "early_step": early_step, "early_val_ppl": round(early_ppl, 4),
        "machine": f"{describe_machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d"), "seed": seed, "lr": lr, "warmup": warmup,
        "torch": torch.__version__,
    }
    save_model(model, tokenizer, out / "teacher")
    (out / "teacher" / "training_log.json").write_text(json.dumps(
        {"facts": facts, "log": log}, indent=1))
    (out / "teacher" / "README.md").write_text(model_card(facts))
    (out / "teacher-early" / "README.md").write_text(early_card(facts))
    print(json.dumps(facts, indent=1))
    return facts


def train_teacher(model, tokenizer, train: torch.Tensor, out: Path, *, steps, batch_size, lr,
                  warmup, early_step, seed, log_every) -> tuple[list[dict], float]:
    """AdamW in bf16 autocast over seeded batches of `train` (N, T); saves the early teacher at
    `early_step`. Returns the loss log and the training seconds."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr,
                            betas=(0.9, 0.95))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    log, t0 = [], time.time()
    model.train()
    for step in range(steps):
        idx = order[(torch.arange(batch_size) + step * batch_size) % len(train)]
        x = train[idx]  # (B, T)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, peak=lr, warmup=warmup, total=steps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % log_every == 0 or step == steps - 1:
            elapsed = time.time() - t0
            log.append({"step": step, "loss": round(loss.item(), 4),
                        "lr": opt.param_groups[0]["lr"], "elapsed_s": round(elapsed, 1)})
            print(f"step {step:5d}  loss {loss.item():.4f}  {elapsed:7.0f}s", flush=True)
        if step + 1 == early_step:
            save_model(model, tokenizer, out / "teacher-early", dtype=torch.float16)
    return log, time.time() - t0


def save_model(model, tokenizer, path: Path, dtype=None):
    path.mkdir(parents=True, exist_ok=True)
    if dtype is not None:
        import copy
        model = copy.deepcopy(model).to(dtype)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)


def model_card(f: dict) -> str:
    return f"""# Built-in teacher: tinytales GPT-2 ({f['parameters'] / 1e6:.2f}M parameters)

The teacher that Distillation Playground ships for offline use. A GPT-2-architecture causal
language model trained from scratch on `tinytales`, this project's procedural story corpus, with
a byte-level BPE tokenizer trained on the same corpus. Load it with
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)`; it needs no
network and no code from this project.

| | |
|---|---|
| architecture | GPT-2: {f['n_layer']} layers, width {f['n_embd']}, {f['n_head']} heads, context {f['context']} |
| parameters | {f['parameters']:,} (embeddings tied) |
| vocabulary | {f['vocab_size']} byte-level BPE tokens (`<|endoftext|>`, `<|pad|>` special) |
| training data | tinytales train split, {f['train_stories']:,} stories, seed {f['seed']} |
| training tokens | {f['train_tokens']:,} ({f['steps']} steps x {f['batch_size']} x {f['context']}) |
| optimiser | AdamW (betas 0.9/0.95, weight decay 0.1), peak lr {f['lr']}, {f['warmup']} warmup steps, cosine decay to 10 % |
| precision | bf16 autocast, fp32 weights |
| wall time | {f['train_seconds']} s training, {f['total_seconds']} s with data and evaluation |
| hardware | {f['machine']} |
| date | {f['date']} |

## Quality (tinytales validation split, 256-token blocks, nats)

| | perplexity |
|---|---|
| this teacher | **{f['val_ppl']:.3f}** |
| corpus floor (exact generator log-probabilities) | {f['floor_ppl']:.3f} ({f['floor_nats_per_token']:.4f} nats/token) |
| early snapshot after {f['early_step']} steps (`../teacher-early`) | {f['early_val_ppl']:.3f} |

The floor is the perplexity of the generator itself: no model can go below it on this data.

Rebuild with `python -m distill_core.training.build_builtin` (same seed, same numbers up to CPU
floating-point differences).
"""


def early_card(f: dict) -> str:
    return f"""# Built-in teacher, early snapshot (step {f['early_step']} of {f['steps']})

The same training run as `../teacher`, saved after {f['early_step']} steps and stored in fp16.
An imperfect teacher for lessons: validation perplexity {f['early_val_ppl']:.3f} against
{f['val_ppl']:.3f} for the finished teacher and a corpus floor of {f['floor_ppl']:.3f}
(measured {f['date']}, {f['machine']}).
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("assets/builtin"))
    p.add_argument("--stories", type=int, default=240_000)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--early-step", type=int, default=300)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    build(a.out, stories=a.stories, steps=a.steps, early_step=a.early_step,
          vocab_size=a.vocab_size, seed=a.seed)


if __name__ == "__main__":
    main()
