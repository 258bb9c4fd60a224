"""On-policy against off-policy distillation, measured side by side on one teacher and data.

    rows = compare_on_policy(DistillConfig(steps=300), fractions=(0.0, 0.5))

Each fraction λ trains the same student from the same initial weights on the same batches
(`on_policy=λ`, everything else equal; λ = 0 is the ordinary off-policy run), then both are
measured two ways, in nats per token:

    on real text        validation loss, KL(teacher‖student) and top-1 agreement (evaluate)
    on its own text     the student continues each validation block's prefix, and on the tokens
                        it wrote: KL(teacher‖student) and the teacher's cross-entropy of them
                        (on_policy.sample_kl) — what on-policy training sets out to improve

with the cost: training seconds, seconds spent generating, tokens generated.
"""

from __future__ import annotations

from distill_core.config import DistillConfig
from distill_core.training import on_policy
from distill_core.training.loop import distill, prepare

__all__ = ["compare_on_policy", "comparison_table"]

COLUMNS = (("on_policy", "on-policy λ", "{:g}"), ("student_loss", "val loss", "{:.3f}"),
           ("kl", "val KL", "{:.4f}"), ("agreement", "agreement", "{:.3f}"),
           ("sample_kl", "KL on own text", "{:.4f}"),
           ("teacher_nll_of_samples", "teacher CE of own text", "{:.3f}"),
           ("train_s", "train s", "{:.1f}"), ("generation_s", "generating s", "{:.1f}"),
           ("generated_tokens", "tokens generated", "{:,}"))


def compare_on_policy(config: DistillConfig, fractions=(0.0, 0.5), *, eval_blocks: int = 32,
                      store: bool = False, on_event=None) -> list[dict]:
    """One row per fraction λ: `config` with on_policy = λ, trained, then measured on real text
    and on the student's own continuations (`eval_blocks` validation blocks, prefix and sampling
    temperature from the config). Teacher and data are loaded once for all of them."""
    prepared = prepare(config)
    blocks = prepared.val_blocks[:eval_blocks]
    rows = []
    for fraction in fractions:
        cell = config.replace(on_policy=float(fraction))
        result = distill(cell, on_event=on_event, store=store, prepared=prepared)
        own = on_policy.sample_kl(result.student, prepared.teacher, blocks.to(
            next(result.student.parameters()).device), cell.on_policy_prefix_tokens,
            cell.on_policy_temperature, seed=config.seed, vocab=len(prepared.tokenizer))
        s = result.summary
        rows.append({"on_policy": cell.on_policy, "student_loss": s["student_loss"],
                     "kl": s["kl"], "agreement": s["agreement"], **own,
                     "train_s": s["tokens"] / s["train_tokens_per_s"],
                     "generation_s": s["generation_s"],
                     "generated_tokens": s["generated_tokens"],
                     "run": result.run.id if result.run is not None else None})
    return rows


def comparison_table(rows: list[dict]) -> tuple[list[list[str]], list[str]]:
    """(body, header) for a text table of `compare_on_policy`'s rows, one row per λ."""
    return ([[fmt.format(r[key]) for key, _, fmt in COLUMNS] for r in rows],
            [label for _, label, _ in COLUMNS])
