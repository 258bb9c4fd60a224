"""How a run's settings map onto the trainers people scale with, as data.

    mapping(config, "trl")   -> [Row(setting, ours, theirs, value, exact, note), ...]
    TARGETS                  the four targets and what each exports (a script, a YAML, ...)

One row per setting of ours that the target sees: our field and value, the target's setting and
the value written there, whether the target computes the same thing, and, where it does not,
what it will do instead. `export_files` writes these rows into each export's README.md and the
target's config file, so the table and the files cannot disagree.

The targets' conventions were read from their sources (see `conventions.py` for the formulas):
TRL 1.16 GKDTrainer (trl/experimental/gkd/gkd_trainer.py, gkd_config.py), Axolotl's KD plugin
(src/axolotl/integrations/kd/args.py, kernels/liger.py), DistillKit (distillkit/configuration.py,
lossfuncs/kl.py, trainer.py).
"""

from __future__ import annotations

from typing import NamedTuple

from distill_core.config import DistillConfig
from distill_core.errors import InputError

__all__ = ["DIVERGENCE", "TARGETS", "Row", "inexact", "mapping"]


class Row(NamedTuple):
    setting: str  # our DistillConfig field (or a fixed part of our recipe)
    ours: object  # its value in the run
    theirs: str  # the target's setting
    value: object  # what the export writes there
    exact: bool  # the target computes the same thing
    note: str = ""  # where not exact: what the target does instead


TARGETS = {
    "trl": "TRL 1.16 GKDTrainer (trl.experimental.gkd): a Python script around the trainer",
    "axolotl": "Axolotl with its KD plugin (top-k teacher log-probabilities): a YAML config",
    "distillkit": "DistillKit (arcee-ai): its run config (YAML)",
    "accelerate": "this project's own run under `accelerate launch`, with DeepSpeed and FSDP "
                  "configs for several GPUs",
}

# Our divergence -> (the target's name or beta, exact?, what it does instead). None: unavailable.
DIVERGENCE = {
    "trl": {"forward_kl": 0.0, "reverse_kl": 1.0, "jsd": "beta", "tvd": None, "skew_kl": None},
    "axolotl": {"forward_kl": 0.0, "reverse_kl": 1.0, "jsd": "beta", "tvd": None,
                "skew_kl": None},
    "distillkit": {"forward_kl": "kl", "reverse_kl": None, "jsd": "jsd", "tvd": "tvd",
                   "skew_kl": None},
}
FALLBACK = {  # target -> our divergence -> (value written instead, why)
    "trl": {"tvd": (0.5, "GKD has no total variation; beta 0.5 (symmetric JSD) instead"),
            "skew_kl": (0.0, "GKD has no skew KL; beta 0 (forward KL, which skew_kl is at "
                             "beta 0) instead")},
    "axolotl": {"tvd": (0.5, "Axolotl's KD loss has no total variation; kd_beta 0.5 (JSD) "
                             "instead"),
                "skew_kl": (0.0, "Axolotl has no skew KL; kd_beta 0 (forward KL) instead")},
    "distillkit": {"reverse_kl": ("kl", "DistillKit's kl is forward KL(teacher || student); "
                                        "reverse KL is not offered"),
                   "skew_kl": ("kl", "DistillKit has no skew KL; forward kl instead")},
}


def _divergence_row(config: DistillConfig, target: str, key: str) -> Row:
    name = DIVERGENCE[target][config.loss]
    ours = config.loss if config.loss not in ("jsd", "skew_kl") else \
        f"{config.loss} (beta {config.beta:g})"
    if name is None:
        value, why = FALLBACK[target][config.loss]
        return Row("loss, beta", ours, key, value, False, why)
    if name == "beta":
        return Row("loss, beta", ours, key, config.beta, True,
                   "same mixture m = beta p_teacher + (1 - beta) p_student and weights")
    if target == "distillkit" and config.loss == "jsd":
        return Row("loss, beta", ours, key, name, False,
                   f"DistillKit's jsd takes no beta: beta {config.beta:g} is not carried")
    return Row("loss, beta", ours, key, name, True)


def _schedule_rows(config: DistillConfig, same_batches: bool = False) -> list[Row]:
    """Optimiser and schedule settings as Hugging Face TrainingArguments spell them;
    `same_batches`: the export feeds our token blocks in our order (the TRL script)."""
    return [
        Row("steps", config.steps, "max_steps", config.steps, True),
        Row("batch_size, grad_accum", f"{config.batch_size}, {config.grad_accum}",
            "per_device_train_batch_size, gradient_accumulation_steps",
            f"{config.micro_batch}, {config.grad_accum}", True,
            "on N GPUs divide per_device_train_batch_size by N to keep the whole batch"),
        Row("lr", config.lr, "learning_rate", config.lr, True),
        Row("warmup", config.warmup_steps, "warmup_steps", config.warmup_steps, False,
            "Hugging Face warmup starts at lr 0 (ours at peak / warmup): one step behind"),
        Row("schedule", "cosine to 10 % of peak", "lr_scheduler_type",
            "cosine_with_min_lr, min_lr_rate 0.1", True),
        Row("optimiser", "AdamW, betas 0.9/0.95", "adam_beta1, adam_beta2", "0.9, 0.95", True),
        Row("weight_decay", config.weight_decay, "weight_decay", config.weight_decay, True,
            "biases and norm weights excluded on both sides"),
        Row("grad_clip", config.grad_clip, "max_grad_norm", config.grad_clip, True),
        Row("precision", config.precision, "bf16", config.precision == "bf16",
            config.precision != "auto",
            "ours times fp32 against bf16 per machine; on GPUs set bf16: true"),
        Row("seed", config.seed, "seed", config.seed, same_batches,
            "" if same_batches else "the target packs and shuffles its own batches"),
    ]


def _trl_rows(c: DistillConfig) -> list[Row]:
    rows = [Row("teacher", c.teacher, "teacher_model", c.teacher, True),
            Row("student", c.student, "model", c.student, True,
                "built-in presets are made from the teacher by distill_core, as in our run")]
    if c.alpha == 1.0:
        rows.append(Row("alpha", 1.0, "(none: GKD is pure distillation)", "-", True))
    else:
        rows.append(Row("alpha", c.alpha, "(none)", "-", False,
                        f"TRL GKD trains on the divergence alone: the {1 - c.alpha:g} x "
                        f"cross-entropy term is dropped and the divergence weighs 1, not "
                        f"alpha T^2 = {c.alpha * c.temperature ** 2:g}"))
    rows.append(Row("temperature", c.temperature, "(none in the loss)", "-",
                    c.temperature == 1.0,
                    "" if c.temperature == 1.0 else
                    f"TRL GKD: temperature {c.temperature:g} applies to sampling only; the loss "
                    "is at T = 1 (and has no T^2 factor)"))
    rows.append(_divergence_row(c, "trl", "beta"))
    if c.teacher_cache:
        rows.append(Row("teacher_cache, top_k", f"on, {c.top_k}", "(live teacher)", "-", False,
                        "TRL runs the teacher every step over the full vocabulary: the top-k "
                        "cache and its rest bucket do not apply"))
    mixed = 0.0 < c.on_policy < 1.0
    rows += [Row("on_policy", c.on_policy, "lmbda", c.on_policy, not mixed,
                 "GKD makes a whole batch on-policy with probability lmbda, not a fraction "
                 "of every batch (the same on average)" if mixed else ""),
             Row("on_policy_temperature", c.on_policy_temperature, "temperature",
                 c.on_policy_temperature, True, "GKDConfig.temperature is the sampling one"),
             Row("on_policy_prefix", c.on_policy_prefix_tokens, "prompts, max_new_tokens",
                 f"first {c.on_policy_prefix_tokens} tokens, "
                 f"{c.seq_len - c.on_policy_prefix_tokens}", True),
             Row("seq_len", c.seq_len, "max_length", c.seq_len, True,
                 "the script sets labels[:, 0] = -100: the Trainer divides GKD's sum over "
                 "B (T - 1) positions by the labels it counts, B T without it")]
    return rows + _schedule_rows(c, same_batches=True)


def _axolotl_rows(c: DistillConfig) -> list[Row]:
    top_k = c.top_k if c.teacher_cache else 64
    rows = [Row("student", c.student, "base_model", "./student-init", True,
                "the student before training, saved as a Hugging Face folder"),
            Row("teacher", c.teacher, "kd_online_server_model / dataset logprobs", c.teacher,
                True, "the teacher's top-k log-probabilities come from a dataset or a server"),
            Row("alpha", c.alpha, "kd_alpha, kd_ce_alpha", f"{c.alpha:g}, {1 - c.alpha:g}",
                True),
            Row("temperature", c.temperature, "kd_temperature", c.temperature, True,
                "student logits / T; the KD term is multiplied by T^2, as ours"),
            _divergence_row(c, "axolotl", "kd_beta"),
            Row("teacher_cache, top_k", f"{'on' if c.teacher_cache else 'off'}, {c.top_k}",
                "kd_online_topk", top_k, False,
                f"Axolotl sums over the teacher's top {top_k} tokens only, renormalised to 1, "
                "with no rest bucket (ours: dense, or top-k plus one exact rest bucket)"),
            Row("on_policy", c.on_policy, "(offline KD)", "-", c.on_policy == 0.0,
                "" if c.on_policy == 0.0 else "Axolotl's offline KD reads fixed text; its "
                "online trainer always generates (all of every batch)"),
            Row("seq_len", c.seq_len, "sequence_len", c.seq_len, True)]
    return rows + _schedule_rows(c)


def _distillkit_rows(c: DistillConfig) -> list[Row]:
    rows = [Row("student", c.student, "model", "./student-init", True,
                "the student before training, saved as a Hugging Face folder"),
            Row("teacher", c.teacher, "teacher.path", c.teacher, True),
            Row("alpha", c.alpha, "loss_functions weights (kd, cross_entropy)",
                f"{c.alpha:g}, {1 - c.alpha:g}", True,
                "DistillKit divides by the weights' sum (1), so alpha KD + (1 - alpha) CE"),
            Row("temperature", c.temperature, "loss_functions[kd].temperature", c.temperature,
                True, "both sides softened by T; the KD term is multiplied by T^2, as ours"),
            _divergence_row(c, "distillkit", "loss_functions[kd].function")]
    if c.teacher_cache:
        rows.append(Row("teacher_cache, top_k", f"on, {c.top_k}", "teacher.top_k", c.top_k,
                        False, "DistillKit spreads the missing mass uniformly "
                        "(symmetric_uniform) where ours keeps it as one exact bucket"))
    rows += [Row("on_policy", c.on_policy, "(none)", "-", c.on_policy == 0.0,
                 "" if c.on_policy == 0.0 else "DistillKit trains on fixed text only: the "
                 "student never writes its own continuations"),
             Row("seq_len", c.seq_len, "sequence_length", c.seq_len, True)]
    return rows + _schedule_rows(c)


def _accelerate_rows(c: DistillConfig) -> list[Row]:
    return [Row(name, getattr(c, name), name, getattr(c, name), True)
            for name in ("teacher", "student", "alpha", "temperature", "loss", "beta",
                         "teacher_cache", "on_policy", "batch_size", "steps", "seed")] + [
        Row("devices", 1, "num_processes", "N", True,
            "batch_size is the whole batch over all devices; each takes batch_size / N")]


def mapping(config: DistillConfig, target: str) -> list[Row]:
    """The rows for `target` (one of TARGETS)."""
    builders = {"trl": _trl_rows, "axolotl": _axolotl_rows, "distillkit": _distillkit_rows,
                "accelerate": _accelerate_rows}
    if target not in builders:
        raise InputError(f"export target must be one of {', '.join(TARGETS)} (got {target!r})")
    return builders[target](config)


def inexact(rows: list[Row]) -> list[Row]:
    """The rows the target cannot express exactly."""
    return [r for r in rows if not r.exact]
