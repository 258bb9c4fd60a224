"""`distill export --as trl|axolotl|distillkit|accelerate`: the mapping tables, the files, and,
where TRL is installed, TRL's GKDTrainer trained from the export against our own loss."""

import importlib.util
import io
import zipfile

import pytest
import torch
import yaml

from distill_core import InputError
from distill_core.app import export_files, export_targets
from distill_core.app.export_targets import inexact, mapping
from distill_core.config import DistillConfig
from distill_core.kd.losses import kd_loss
from distill_core.store.runs import Run


def notes(config, target):
    return {r.setting: r.note for r in inexact(mapping(config, target))}


def test_every_target_maps_every_divergence_with_a_reason_where_inexact():
    for target in export_targets.TARGETS:
        for loss in ("forward_kl", "reverse_kl", "jsd", "tvd", "skew_kl"):
            rows = mapping(DistillConfig(loss=loss, beta=0.3), target)
            assert rows and all(r.exact or r.note for r in rows), (target, loss)
    with pytest.raises(InputError, match="trl, axolotl, distillkit, accelerate"):
        mapping(DistillConfig(), "keras")


def test_trl_says_where_temperature_and_alpha_go():
    exact = DistillConfig(alpha=1.0, temperature=1.0, loss="forward_kl")
    assert "temperature" not in notes(exact, "trl") and "alpha" not in notes(exact, "trl")
    warm = notes(DistillConfig(alpha=0.5, temperature=2.0), "trl")
    assert warm["temperature"].startswith("TRL GKD: temperature 2 applies to sampling only; "
                                          "the loss is at T = 1")
    assert "cross-entropy term is dropped" in warm["alpha"] and "alpha T^2 = 2" in warm["alpha"]
    beta = {r.setting: r.value for r in mapping(DistillConfig(loss="reverse_kl"), "trl")}
    assert beta["loss, beta"] == 1.0
    assert "total variation" in notes(DistillConfig(loss="tvd"), "trl")["loss, beta"]


def test_axolotl_and_distillkit_keep_alpha_and_t_squared_but_not_the_rest_bucket():
    config = DistillConfig(alpha=0.7, temperature=2.0, teacher_cache=True, top_k=16)
    ax = yaml.safe_load(export_files.export_files(config, "axolotl")["axolotl.yaml"])
    assert (ax["kd_alpha"], ax["kd_ce_alpha"], ax["kd_temperature"]) == (0.7, 0.3, 2.0)
    assert ax["kd_online_topk"] == 16 and "no rest bucket" in notes(config, "axolotl")[
        "teacher_cache, top_k"]
    dk = yaml.safe_load(export_files.export_files(config, "distillkit")["distillkit.yaml"])
    weights = {f["function"]: f["weight"] for f in dk["loss_functions"]}
    assert weights == {"kl": 0.7, "cross_entropy": 0.3} and dk["teacher"]["top_k"] == 16
    assert "reverse KL is not offered" in notes(DistillConfig(loss="reverse_kl"),
                                                 "distillkit")["loss, beta"]


def test_accelerate_export_is_our_config_plus_multi_gpu_configs():
    config = DistillConfig(alpha=0.3, steps=7)
    files = export_files.export_files(config, "accelerate", "r1")
    assert DistillConfig.from_yaml(files["config.yaml"]) == config
    assert yaml.safe_load(files["accelerate_deepspeed.yaml"])["distributed_type"] == "DEEPSPEED"
    assert yaml.safe_load(files["accelerate_fsdp.yaml"])["distributed_type"] == "FSDP"
    assert "accelerate launch --config_file accelerate_fsdp.yaml" in files["README.md"]


def test_write_export_and_zip_for_a_stored_run(tmp_path):
    run = Run.create(tmp_path / "runs", DistillConfig(temperature=2.0).to_dict())
    paths = export_files.write_export(run, tmp_path / "out", "trl")
    assert sorted(p.name for p in paths) == ["README.md", "train_trl.py"]
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| temperature | 2.0 | (none in the loss) |" in readme
    assert "## What trl cannot express exactly" in readme and "sampling only" in readme
    compile((tmp_path / "out" / "train_trl.py").read_text(), "train_trl.py", "exec")
    with pytest.raises(InputError, match="not an empty folder"):
        export_files.write_export(run, tmp_path / "out", "axolotl")
    with zipfile.ZipFile(io.BytesIO(export_files.export_zip(run, "distillkit"))) as z:
        assert f"{run.id}-distillkit/distillkit.yaml" in z.namelist()


# ------------------------------------------------------------------ TRL, where installed

def load_script(path):
    spec = importlib.util.spec_from_file_location("train_trl_export", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trl_trainer(tmp_path, **settings):
    pytest.importorskip("trl", reason="trl is not installed (pip install -e '.[bench]')")
    config = DistillConfig(student="builtin:half", train_docs=100, steps=3, batch_size=4,
                           seq_len=32, warmup=0, precision="fp32", eval_every=0,
                           runs_dir=str(tmp_path / "runs"), **settings)
    (tmp_path / "train_trl.py").write_text(export_files.export_files(config, "trl")["train_trl.py"])
    script = load_script(tmp_path / "train_trl.py")
    return script.build_trainer(str(tmp_path / "trl-out"), config), config


def first_batch_losses(trainer, config, temperature):
    """(what TRL's GKD loss gives, what our kd_loss gives) on the first batch, before training."""
    batch = next(iter(trainer.get_train_dataloader()))
    x = batch["input_ids"]  # (B, T)
    student, teacher = trainer.model.eval(), trainer.teacher_model.eval()
    with torch.no_grad():
        s, t = student(input_ids=x).logits[:, :-1], teacher(input_ids=x).logits[:, :-1]
        theirs = trainer.generalized_jsd_loss(s, t, labels=x[:, 1:], beta=trainer.beta)
        ours, _ = kd_loss(s, t, None, alpha=1.0, temperature=temperature, kind=config.loss,
                          beta=config.beta)
    student.train()
    return float(theirs), float(ours)


@pytest.mark.slow
def test_the_trl_export_trains_and_its_first_loss_is_ours(tmp_path):
    trainer, config = trl_trainer(tmp_path, alpha=1.0, temperature=1.0, loss="forward_kl")
    seen = []
    compute = trainer.compute_loss

    def recording(model, inputs, *args, **kwargs):
        loss = compute(model, inputs, *args, **kwargs)
        seen.append(float(loss.detach()))
        return loss

    trainer.compute_loss = recording
    x = next(iter(trainer.get_train_dataloader()))["input_ids"]
    with torch.no_grad():
        s = trainer.model.eval()(input_ids=x).logits[:, :-1]
        t = trainer.teacher_model(input_ids=x).logits[:, :-1]
        ours, _ = kd_loss(s, t, None, alpha=1.0, temperature=1.0, kind="forward_kl")
    trainer.model.train()
    out = trainer.train()
    assert out.global_step == 3 and len(seen) == 3
    assert seen[0] == pytest.approx(float(ours), abs=1e-4)


@pytest.mark.slow
def test_what_trl_cannot_match_and_by_how_much(tmp_path):
    """T = 2 in our loss vs GKD's (always T = 1 in the loss), same batch: the numbers differ,
    and the README says so. Both are printed with -s for the record."""
    trainer, config = trl_trainer(tmp_path, alpha=1.0, temperature=2.0, loss="forward_kl")
    theirs, ours_t2 = first_batch_losses(trainer, config, temperature=2.0)
    _, ours_t1 = first_batch_losses(trainer, config, temperature=1.0)
    print(f"GKD loss {theirs:.4f} nats; ours at T = 2: kd {ours_t2:.4f} (x T^2 = "
          f"{4 * ours_t2:.4f}); ours at T = 1 {ours_t1:.4f}")
    assert theirs == pytest.approx(ours_t1, abs=1e-4)  # GKD's loss is ours at T = 1
    assert abs(theirs - ours_t2) > 1e-3 and abs(theirs - 4 * ours_t2) > 1e-3
    assert "sampling only" in notes(config, "trl")["temperature"]


def test_the_cli_writes_the_export_and_refuses_a_full_folder(tmp_path, capsys):
    from distill_core.cli import main

    root = tmp_path / "runs"
    run = Run.create(root, DistillConfig(loss="tvd").to_dict())
    assert main(["export", run.id, str(tmp_path / "ax"), "--as", "axolotl",
                 "--runs-dir", str(root)]) == 0
    assert "axolotl.yaml" in capsys.readouterr().out
    assert "kd_beta 0.5 (JSD) instead" in (tmp_path / "ax" / "README.md").read_text()
    assert main(["export", run.id, str(tmp_path / "ax"), "--as", "trl",
                 "--runs-dir", str(root)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
