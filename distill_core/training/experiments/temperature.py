"""temperature: the student's perplexity over T at fixed α, beside the teacher's entropy and
top-k probability mass over T (one teacher pass on validation text).

    finding = f"{best_temperature_clause(data)}, while {softening_clause(profile, top_k)}."
"""

from __future__ import annotations

import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.kd.losses import entropy, soften
from distill_core.model_mode import eval_mode
from distill_core.training.experiments.comparisons import against_best, best_value
from distill_core.training.experiments.records import Trial, quiet, train_trials, values
from distill_core.training.experiments.sizes import Size
from distill_core.training.experiments.wording import against_text, others_clause
from distill_core.training.stats import plus_minus

__all__ = ["best_temperature_clause", "finding", "plan", "softening_clause", "table",
           "teacher_profile"]


@torch.inference_mode()
def teacher_profile(teacher, tokenizer, blocks: torch.Tensor, temperatures, k: int,
                    batch: int = 16) -> list[dict]:
    """The teacher's next-token distribution on `blocks` (N, L) softened at each T: mean entropy
    (nats) and mean probability of its k most likely tokens, one forward pass for all T."""
    rows = min(len(tokenizer), teacher.get_output_embeddings().weight.shape[0])
    sums = {t: [0.0, 0.0] for t in temperatures}
    count = 0
    with eval_mode(teacher):
        for i in range(0, len(blocks), batch):
            logits = models.next_token_logits(teacher, blocks[i:i + batch], rows).float()
            for t in temperatures:  # logits (b, L-1, V)
                sums[t][0] += entropy(logits, t).sum().item()
                top = soften(logits, t).topk(min(k, rows), dim=-1).values  # (b, L-1, k)
                sums[t][1] += top.sum(-1).sum().item()
            count += logits.shape[0] * logits.shape[1]
    return [{"temperature": t, "entropy": h / count, "top_k_mass": m / count}
            for t, (h, m) in sums.items()]


def plan(base: DistillConfig, size: Size, progress=quiet) -> dict:
    """α = 0.9 (mostly soft labels), each T and seed, the teacher live: a top-k cache keeps only
    a small share of the teacher's softened probability at large T (the profile's top-k mass)."""
    from distill_core.training.loop import prepare

    config = base.replace(alpha=0.9, teacher_cache=False, **size.distilled)
    trials = [Trial({"temperature": t, "seed": s}, config.replace(temperature=t, seed=s))
              for s in size.seed_range for t in size.temperatures]
    prepared = prepare(trials[0].config)
    profile = teacher_profile(prepared.teacher, prepared.tokenizer,
                              prepared.val_blocks[:config.eval_blocks], size.temperatures,
                              config.top_k)
    progress(f"teacher profile over T on {min(config.eval_blocks, len(prepared.val_blocks))} "
             "validation blocks done")
    return {"records": train_trials(trials, progress, prepared), "teacher": profile,
            "alpha": 0.9, "top_k": config.top_k, "student": config.student}


def table(data: dict) -> tuple[list[str], list[list]]:
    records = data["records"]
    against = against_best(records, "temperature", best_value(records, "temperature"))
    rows = []
    for point in data["teacher"]:
        ppl = values(records, "student_ppl", temperature=point["temperature"])
        rows.append([f"{point['temperature']:g}", len(ppl), plus_minus(ppl),
                     f"{point['entropy']:.3f}", f"{100 * point['top_k_mass']:.1f}",
                     against_text(against, point["temperature"])])
    return ["T", "seeds", "student ppl", "teacher entropy (nats)",
            f"teacher top-{data['top_k']} mass %",
            "against the best T (difference, same seed)"], rows


def best_temperature_clause(data: dict) -> str:
    """'At α = 0.9 the student's perplexity was lowest at T = 2 (3.010 ± 0.010), with no clear
    difference from T = 4'."""
    records = data["records"]
    best = best_value(records, "temperature")
    others = others_clause(against_best(records, "temperature", best), lambda t: f"T = {t:g}")
    return (f"At α = {data['alpha']:g} the student's perplexity was lowest at T = {best:g} "
            f"({plus_minus(values(records, 'student_ppl', temperature=best))}), {others}")


def softening_clause(profile: list[dict], top_k: int) -> str:
    """'from T = 1 to 4 the teacher's entropy went from 0.50 to 2.00 nats and its top-64 mass
    from 100.0 % to 25.0 %': the profile's first and last temperatures."""
    lo, hi = profile[0], profile[-1]
    return (f"from T = {lo['temperature']:g} to {hi['temperature']:g} the teacher's entropy went "
            f"from {lo['entropy']:.2f} to {hi['entropy']:.2f} nats and its top-{top_k} mass "
            f"from {100 * lo['top_k_mass']:.1f} % to {100 * hi['top_k_mass']:.1f} %")


def finding(data: dict) -> str:
    return (f"{best_temperature_clause(data)}, while "
            f"{softening_clause(data['teacher'], data['top_k'])}.")
