"""The files `distill export RUN DIR --as TARGET` writes: a config, a launch command, a README.

    export_files(config, "trl", run_id)   {file name: text} for that target (README.md included)
    write_export(run, folder, "axolotl")  writes them into a new or empty folder; their paths
    export_zip(run, "distillkit")         the same files zipped, for the Compare page's download

Every setting in the files comes from `export_targets.mapping`, and the README lists the same
rows: each setting, how it maps, and what the target cannot express exactly.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import yaml

from distill_core.app.export_targets import TARGETS, Row, inexact, mapping
from distill_core.app.exports import run_config
from distill_core.config import DistillConfig
from distill_core.errors import InputError

__all__ = ["export_files", "export_zip", "write_export"]

TRL_SCRIPT = '''"""Run {run_id}'s distillation with TRL's GKDTrainer (`distill export --as trl`).

    pip install "trl>=1.16" distill-playground   # distill_core: the same token blocks and models
    accelerate launch train_trl.py                # several GPUs; or: python train_trl.py

The student and the token blocks come from distill_core, in the run's order, so TRL sees the
batches the run saw. README.md says how each setting maps and what GKD computes differently.
"""

import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from trl.experimental.gkd import GKDConfig, GKDTrainer  # noqa: E402

from distill_core import models  # noqa: E402
from distill_core.config import DistillConfig  # noqa: E402
from distill_core.training.loop import batch_order, prepare  # noqa: E402

CONFIG = DistillConfig.from_dict({config})
SETTINGS = {settings}


class InOrder(GKDTrainer):
    """GKD over the run's batches in the run's order."""

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)


def collate(rows):
    x = torch.tensor([r["input_ids"] for r in rows])  # (B, T)
    ones, prefix = torch.ones_like(x), CONFIG.on_policy_prefix_tokens
    labels = x.clone()
    labels[:, 0] = -100  # no position predicts token 0: the Trainer then counts B (T - 1)
    return {{"input_ids": x, "attention_mask": ones, "labels": labels,
            "prompts": x[:, :prefix], "prompt_attention_mask": ones[:, :prefix]}}


def build_trainer(output_dir="trl-out", config=CONFIG):
    prepared = prepare(config)
    order = batch_order(len(prepared.train_blocks), config.batch_size, config.steps, config.seed)
    data = Dataset.from_dict({{"input_ids": prepared.train_blocks[order.flatten()].tolist()}})
    student = models.load_student(config.student, prepared.teacher, seed=config.seed)
    args = GKDConfig(output_dir=output_dir, use_cpu=not torch.cuda.is_available(),
                     gradient_checkpointing=False, report_to="none", save_strategy="no",
                     logging_steps=1, disable_tqdm=True, dataloader_num_workers=0, **SETTINGS)
    return InOrder(model=student, teacher_model=prepared.teacher, args=args, train_dataset=data,
                   processing_class=prepared.tokenizer, data_collator=collate)


if __name__ == "__main__":
    trainer = build_trainer()
    trainer.train()
    trainer.save_model("trl-out/student")
'''

SAVE_STUDENT = '''"""Save run {run_id}'s student as it starts (before training) and the teacher's tokenizer,
as a Hugging Face folder the target trainer can load: python save_student_init.py"""

from distill_core import models

teacher, tokenizer = models.load_teacher({teacher!r})
student = models.load_student({student!r}, teacher, seed={seed})
student.save_pretrained("student-init")
tokenizer.save_pretrained("student-init")
'''

LAUNCH = {
    "trl": "accelerate launch train_trl.py        # or: python train_trl.py",
    "axolotl": "python save_student_init.py && axolotl train axolotl.yaml",
    "distillkit": "python save_student_init.py && distillkit distillkit.yaml",
    "accelerate": "accelerate launch --config_file accelerate_fsdp.yaml -m distill_core.cli "
                  "run --config config.yaml\n# or DeepSpeed ZeRO-2: --config_file "
                  "accelerate_deepspeed.yaml",
}


def _training_args(c: DistillConfig) -> dict:
    """Hugging Face TrainingArguments fields, as the mapping's schedule rows say."""
    return {"max_steps": c.steps, "per_device_train_batch_size": c.micro_batch,
            "gradient_accumulation_steps": c.grad_accum, "learning_rate": c.lr,
            "warmup_steps": c.warmup_steps, "lr_scheduler_type": "cosine_with_min_lr",
            "lr_scheduler_kwargs": {"min_lr_rate": 0.1}, "adam_beta1": 0.9, "adam_beta2": 0.95,
            "weight_decay": c.weight_decay, "max_grad_norm": c.grad_clip,
            "bf16": c.precision == "bf16", "seed": c.seed}


def _value(rows: list[Row], theirs: str):
    return next(r.value for r in rows if r.theirs == theirs)


def _trl(c: DistillConfig, rows: list[Row], run_id: str) -> dict:
    settings = {**_training_args(c), "lmbda": c.on_policy, "beta": float(_value(rows, "beta")),
                "temperature": c.on_policy_temperature,
                "max_new_tokens": c.seq_len - c.on_policy_prefix_tokens, "max_length": c.seq_len}
    text = TRL_SCRIPT.format(run_id=run_id, config=_pretty(c.to_dict()),
                             settings=_pretty(settings))
    return {"train_trl.py": text}


def _pretty(d: dict) -> str:
    """A dict as Python source, one key a line."""
    return "{\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in d.items()) + "}"


def _axolotl(c: DistillConfig, rows: list[Row], run_id: str) -> dict:
    data = {"base_model": "./student-init", "plugins": ["axolotl.integrations.kd.KDPlugin"],
            "kd_trainer": True, "kd_alpha": c.alpha, "kd_ce_alpha": round(1 - c.alpha, 12),
            "kd_temperature": c.temperature, "kd_beta": float(_value(rows, "kd_beta")),
            "kd_normalize_topk": False, "kd_online_topk": _value(rows, "kd_online_topk"),
            "datasets": [{"path": "REPLACE: a dataset with the teacher's top-k logprobs",
                          "type": "axolotl.integrations.kd.chat_template"}],
            "sequence_len": c.seq_len, "micro_batch_size": c.micro_batch,
            "gradient_accumulation_steps": c.grad_accum, "max_steps": c.steps,
            "learning_rate": c.lr, "lr_scheduler": "cosine", "cosine_min_lr_ratio": 0.1,
            "warmup_steps": c.warmup_steps, "optimizer": "adamw_torch", "adam_beta1": 0.9,
            "adam_beta2": 0.95, "weight_decay": c.weight_decay, "max_grad_norm": c.grad_clip,
            "bf16": c.precision == "bf16", "seed": c.seed, "output_dir": "./axolotl-out"}
    return {"axolotl.yaml": yaml.safe_dump(data, sort_keys=False),
            "save_student_init.py": _save_student(c, run_id)}


def _save_student(c: DistillConfig, run_id: str) -> str:
    return SAVE_STUDENT.format(run_id=run_id, teacher=c.teacher, student=c.student, seed=c.seed)


def _distillkit(c: DistillConfig, rows: list[Row], run_id: str) -> dict:
    kd = {"function": _value(rows, "loss_functions[kd].function"), "weight": c.alpha,
          "temperature": c.temperature}
    teacher = {"kind": "hf", "path": c.teacher}
    if c.teacher_cache:
        teacher["top_k"] = c.top_k
        kd["missing_probability_handling"] = "symmetric_uniform"
    losses = [kd] + ([{"function": "cross_entropy", "weight": round(1 - c.alpha, 12)}]
                     if c.alpha < 1 else [])
    training = {k: v for k, v in _training_args(c).items() if k != "max_steps"}
    data = {"project_name": f"distill-{run_id}", "model": "./student-init",
            "output_path": "./distillkit-out", "sequence_length": c.seq_len,
            "dataset": {"train_dataset": {"repo_id": _dataset(c)}, "seed": c.seed},
            "teacher": teacher, "loss_functions": losses,
            "training_args": {**training, "max_steps": c.steps}}
    return {"distillkit.yaml": yaml.safe_dump(data, sort_keys=False),
            "save_student_init.py": _save_student(c, run_id)}


def _dataset(c: DistillConfig) -> str:
    if c.dataset in ("tinytales", "python-docs") or Path(c.dataset).suffix:
        return f"REPLACE: {c.dataset} as a Hugging Face dataset"
    return c.dataset


def _accelerate(c: DistillConfig, rows: list[Row], run_id: str) -> dict:
    common = {"compute_environment": "LOCAL_MACHINE", "machine_rank": 0, "num_machines": 1,
              "num_processes": 8, "mixed_precision": "bf16" if c.precision == "bf16" else "no",
              "main_training_function": "main", "rdzv_backend": "static",
              "same_network": True, "use_cpu": False}
    deepspeed = {**common, "distributed_type": "DEEPSPEED",
                 "deepspeed_config": {"zero_stage": 2, "gradient_accumulation_steps":
                                      c.grad_accum, "gradient_clipping": c.grad_clip,
                                      "offload_optimizer_device": "none",
                                      "offload_param_device": "none", "zero3_init_flag": False}}
    fsdp = {**common, "distributed_type": "FSDP",
            "fsdp_config": {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                            "fsdp_state_dict_type": "FULL_STATE_DICT",
                            "fsdp_cpu_ram_efficient_loading": False,
                            "fsdp_reshard_after_forward": True}}
    return {"config.yaml": c.to_yaml(),
            "accelerate_deepspeed.yaml": yaml.safe_dump(deepspeed, sort_keys=False),
            "accelerate_fsdp.yaml": yaml.safe_dump(fsdp, sort_keys=False)}


def _cell(x) -> str:
    return str(x).replace("|", "/").replace("\n", " ")


def readme(config: DistillConfig, target: str, run_id: str, files: list[str]) -> str:
    """The export's README.md: what it is, the launch command, the mapping, what differs."""
    rows = mapping(config, target)
    lines = [f"# Run {run_id}, exported for {target}", "", TARGETS[target] + ".", "",
             "Files: " + ", ".join(f"`{f}`" for f in files) + ".", "", "Launch:", "",
             "```", LAUNCH[target], "```", "", "## How each setting maps", "",
             "| ours | value | theirs | value there | same? | note |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.setting} | {_cell(r.ours)} | {r.theirs} | {_cell(r.value)} | "
              f"{'yes' if r.exact else '**no**'} | {_cell(r.note)} |" for r in rows]
    lines += ["", f"## What {target} cannot express exactly", ""]
    lines += [f"- {r.setting} = {r.ours}: {r.note}" for r in inexact(rows)] or \
        ["- nothing: it computes the same loss with the same settings."]
    lines += ["", "Losses are in nats. Our loss: alpha T^2 D_T(teacher, student) + "
              "(1 - alpha) CE, D averaged over positions (see distill_core/kd/losses.py).", ""]
    return "\n".join(lines)


def export_files(config: DistillConfig, target: str, run_id: str = "run") -> dict[str, str]:
    """{file name: text} for `target`, README.md last."""
    rows = mapping(config, target)  # validates the target name
    files = {"trl": _trl, "axolotl": _axolotl, "distillkit": _distillkit,
             "accelerate": _accelerate}[target](config, rows, run_id)
    files["README.md"] = readme(config, target, run_id, [*files, "README.md"])
    return files


def write_export(run, folder, target: str) -> list[Path]:
    """Write the target's files for `run` into `folder` (new or empty); their paths."""
    files = export_files(run_config(run), target, run.id)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"'{folder}' exists and is not an empty folder; choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def export_zip(run, target: str) -> bytes:
    """The target's files for `run`, zipped in a folder <run id>-<target>."""
    files = export_files(run_config(run), target, run.id)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(f"{run.id}-{target}/{name}", text)
    return out.getvalue()

