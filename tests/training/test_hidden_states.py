"""Hidden-state distillation in training: the layer map, the recording hooks, the projection
(gradients, checkpoint, run folder, never in the exported student), and real runs: in
process, resumed, on-policy, on two Accelerate processes, and from the CLI on the built-in
pair."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from distill_core.cli import main
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.hidden import hidden_loss
from distill_core.models.students import make_student
from distill_core.store.runs import list_runs, load_run
from distill_core.training.checkpoints import load_checkpoint, save_checkpoint
from distill_core.training.hidden_states import (
    PROJECTION_FILE,
    Projection,
    decoder_layers,
    layer_map,
    open_hidden,
    weighted_part,
)
from distill_core.training.loop import Cancelled, distill, resume_run


def _gpt2(n_layer=4, n_embd=32, seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=n_embd,
                                      n_layer=n_layer, n_head=2))


def _llama(n_layer=2, width=32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=width, intermediate_size=64,
                                        num_hidden_layers=n_layer, num_attention_heads=2,
                                        num_key_value_heads=2, bos_token_id=0, eos_token_id=1))


def _hidden(student, teacher, **over):
    config = DistillConfig(hidden_weight=1.0, **over)
    return open_hidden(config, student, teacher)


class _Source:
    """A live source's shape: targets() runs the teacher under inference mode."""

    mode = "live"

    def __init__(self, teacher):
        self.teacher = teacher

    def targets(self, idx, x):
        with torch.inference_mode():
            return self.teacher(input_ids=x).logits.clone()

    def report(self, batch_size):
        return {"from": "source"}


class _Acc:
    device = torch.device("cpu")

    def prepare(self, module):
        return module

    def reduce(self, tensor, reduction="mean"):
        return tensor


# ---------------------------------------------------------------- which layers pair


def test_a_copied_student_records_and_pairs_the_layers_it_came_from(tmp_path):
    teacher = _gpt2(n_layer=4)
    half = make_student(teacher, init="teacher_layers")
    ends = make_student(teacher, n_layer=3, init="teacher_ends")
    assert half.config.teacher_layer_map == [0, 2]
    assert layer_map(half, teacher) == ([(0, 0), (1, 2)], "copied from")
    assert layer_map(ends, teacher)[0] == [(0, 0), (1, 2), (2, 3)]
    half.save_pretrained(tmp_path / "half")  # plain data in config.json: it travels
    assert json.loads((tmp_path / "half" / "config.json").read_text())["teacher_layer_map"] \
        == [0, 2]
    # a random student has no map, even when cut from a teacher that was itself a copy
    random = make_student(half, n_layer=1, init="random")
    assert not hasattr(random.config, "teacher_layer_map")
    assert layer_map(random, half) == ([(0, 1)], "evenly spaced")


def test_other_students_pair_evenly_and_an_override_wins():
    teacher = _gpt2(n_layer=6)
    student = _gpt2(n_layer=3, n_embd=16)
    assert layer_map(student, teacher) == ([(0, 1), (1, 3), (2, 5)], "evenly spaced")
    assert layer_map(student, teacher, "0:0,2:4") == ([(0, 0), (2, 4)], "hidden_layers")
    with pytest.raises(InputError, match="pair 3:1 is out of range: the student has layers 0 "
                                         "to 2, the teacher 0 to 5"):
        layer_map(student, teacher, "3:1")
    with pytest.raises(InputError, match="out of range"):
        layer_map(student, teacher, "0:6")


def test_decoder_layers_of_gpt2_and_llama():
    model = _gpt2(n_layer=3)
    assert decoder_layers(model) is model.transformer.h
    llama = _llama()
    assert decoder_layers(llama) is llama.model.layers


def test_config_refuses_the_teacher_cache_and_spells_pairs_one_way():
    with pytest.raises(InputError, match="hidden_weight needs a live teacher: the teacher "
                                         "cache stores only its top-k"):
        DistillConfig(hidden_weight=0.5, teacher_cache=True)
    DistillConfig(hidden_weight=0.0, teacher_cache=True)  # off: no conflict
    assert DistillConfig(hidden_layers=" 0:1 , 1:3 ").hidden_layers == "0:1,1:3"
    assert DistillConfig(hidden_layers="").hidden_layers is None
    with pytest.raises(InputError, match="hidden_loss must be one of mse, cosine"):
        DistillConfig(hidden_loss="l2")
    with pytest.raises(InputError, match="hidden_weight must be between 0 and 100"):
        DistillConfig(hidden_weight=-0.1)
    assert open_hidden(DistillConfig(), _gpt2(n_layer=2), _gpt2()) is None  # weight 0: off


# ---------------------------------------------------------------- recording and gradients


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_the_part_is_the_reference_on_the_layers_outputs_and_reaches_the_projection(kind):
    teacher, student = _gpt2(n_layer=4, n_embd=32), _gpt2(n_layer=3, n_embd=16, seed=1)
    teacher.eval(), student.eval()  # no dropout: the reference forward sees the same states
    hidden = _hidden(student, teacher, hidden_layers="0:1,1:2", hidden_loss=kind)
    assert isinstance(hidden.module, Projection)
    source = hidden.ready(_Acc(), _Source(teacher))
    x = torch.randint(0, 64, (2, 10))
    source.targets(None, x)
    out = student(input_ids=x, output_hidden_states=True)
    part = weighted_part(hidden, source, accum=1)
    # the reference: the layers' outputs as transformers reports them (not the last layer,
    # whose reported state has the final norm applied), projected, in float64
    with torch.no_grad():
        t_states = teacher(input_ids=x, output_hidden_states=True).hidden_states
    maps = [m.weight.detach().double() for m in hidden.module.maps]
    ref = hidden_loss([out.hidden_states[1].detach().double() @ maps[0].T,
                       out.hidden_states[2].detach().double() @ maps[1].T],
                      [t_states[2].double(), t_states[3].double()], kind)
    assert part.item() == pytest.approx(ref.item(), rel=1e-5)
    part.backward()
    for m in hidden.module.maps:
        assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0
    first_layer = student.transformer.h[0].attn.c_attn.weight
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert hidden.take(_Acc()) == pytest.approx(part.item())
    assert hidden.running is None  # the next step sums afresh


def test_only_training_forwards_are_recorded_and_close_removes_the_hooks():
    teacher, student = _gpt2(n_layer=2), _gpt2(n_layer=2, seed=1)  # same width: no projection
    hidden = _hidden(student, teacher)
    assert hidden.module is None and hidden.parameters() == []
    source = hidden.ready(_Acc(), _Source(teacher))
    x = torch.randint(0, 64, (1, 8))
    with torch.no_grad():  # evaluation, generation
        student(input_ids=x)
    teacher(input_ids=x)  # the teacher outside the training targets
    assert hidden.student_states == {} and hidden.teacher_states == {}
    assert source.mode == "live" and source.report(4) == {"from": "source"}
    source.targets(None, x)
    student(input_ids=x)
    assert set(hidden.student_states) == {0, 1} and set(hidden.teacher_states) == {0, 1}
    assert weighted_part(None, source) == 0.0 and weighted_part(hidden, None) == 0.0
    hidden.part()
    assert hidden.student_states == {} and hidden.teacher_states == {}  # used up
    with pytest.raises(RuntimeError, match="not recorded for student layer 0"):
        hidden.part()
    hidden.close()
    student(input_ids=x)
    assert hidden.student_states == {}


def test_a_llama_student_learns_from_a_wider_llama_teacher():
    teacher, student = _llama(n_layer=2, width=32), _llama(n_layer=1, width=16)
    hidden = _hidden(student, teacher, hidden_loss="cosine")
    assert hidden.pairs == [(0, 1)]
    source = hidden.ready(_Acc(), _Source(teacher))
    x = torch.randint(0, 64, (2, 6))
    source.targets(None, x)
    student(input_ids=x)
    part = hidden.part()
    part.backward()
    assert 0 < part.item() < 2 and hidden.module.maps[0].weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- saved, restored, not exported


def test_the_projection_goes_through_a_checkpoint_and_a_wrong_one_is_refused(tmp_path):
    model, proj = _gpt2(n_layer=2), Projection(2, 16, 32, seed=3)
    save_checkpoint(tmp_path / "ck", {"students": {"student": model.state_dict()},
                                      "projection": proj.state_dict(), "step": 1})
    assert (tmp_path / "ck" / "projection.safetensors").is_file()
    assert "projection" not in torch.load(tmp_path / "ck" / "state.pt", weights_only=True)
    other = Projection(2, 16, 32, seed=4)
    state = load_checkpoint(tmp_path / "ck", models={"student": model}, projection=other)
    other.load_state_dict(state["projection"])
    assert all(torch.equal(a, b) for a, b in zip(proj.parameters(), other.parameters()))
    with pytest.raises(InputError, match="does not match the run's model"):
        load_checkpoint(tmp_path / "ck", models={"student": model},
                        projection=Projection(1, 16, 32))
    save_checkpoint(tmp_path / "plain", {"students": {"student": model.state_dict()}})
    with pytest.raises(InputError, match="has no hidden-state projection"):
        load_checkpoint(tmp_path / "plain", models={"student": model}, projection=other)


def _config(teacher_dir, tmp_path, **over):
    base = {"teacher": str(teacher_dir), "student": "builtin:tiny", "train_docs": 200,
            "steps": 4, "batch_size": 4, "seq_len": 32, "warmup": 1, "eval_every": 0,
            "eval_blocks": 4, "lr": 3e-3, "precision": "fp32", "compile": "off",
            "hidden_weight": 1.0, "runs_dir": str(tmp_path / "runs")}
    return DistillConfig(**{**base, **over})


def test_a_run_records_its_hidden_part_and_keeps_the_projection_beside_the_student(
        small_teacher_dir, tmp_path):
    notices = []
    result = distill(_config(small_teacher_dir, tmp_path, baseline=True),
                     on_event=lambda e: notices.append(e.get("message")))
    assert any(n and n.startswith("hidden states: student:teacher layers 0:0,1:1 (evenly "
                                  "spaced), mse") for n in notices)
    history = result.history
    assert all(0 < r["hidden"] < 10 for r in history)
    assert history[-1]["hidden"] < history[0]["hidden"]  # it learns
    # the total is α T² kd + (1 − α) ce + hidden_weight · hidden
    for r in history:
        assert r["loss"] == pytest.approx(0.5 * 4 * r["kd"] + 0.5 * r["ce"] + r["hidden"],
                                          rel=1e-5)
    run = result.run
    weights = load_file(str(run.path / PROJECTION_FILE))
    assert sorted(weights) == ["maps.0.weight", "maps.1.weight"]
    assert weights["maps.0.weight"].shape == (32, 64)  # student width 64 -> teacher width 32
    assert not list(run.student_dir.glob("*projection*"))
    assert not any(k.startswith("maps.") for k in load_file(
        str(run.student_dir / "model.safetensors")))
    assert json.loads(run.config_path.read_text())["hidden_weight"] == 1.0
    assert not [hook for layer in decoder_layers(result.student)  # ours are gone at the end
                for hook in layer._forward_hooks.values() if "HiddenStates" in hook.__qualname__]


def test_the_loss_curve_draws_the_hidden_part_of_runs_that_have_one():
    from distill_core.app.viz import learning_curves

    plain = [{"step": i, "loss": 3.0, "kd": 1.0, "ce": 2.0} for i in (1, 2)]
    with_hidden = [{**r, "hidden": 0.5 / r["step"]} for r in plain]
    names = [t["name"] for t in learning_curves({"a": plain, "b": with_hidden}).to_dict()["data"]]
    assert "b · hidden states" in names and "a · hidden states" not in names
    (trace,) = [t for t in learning_curves({"b": with_hidden}).to_dict()["data"]
                if t["name"] == "b · hidden states"]
    assert list(trace["y"]) == [0.5, 0.25]


def test_with_alpha_zero_the_hidden_part_still_trains_and_the_baseline_has_none(
        small_teacher_dir, tmp_path):
    result = distill(_config(small_teacher_dir, tmp_path, alpha=0.0, baseline=True, steps=2),
                     store=False)
    for r in result.history:
        assert r["loss"] == pytest.approx(r["ce"] + r["hidden"], rel=1e-5)
    first, second = result.history
    assert first["baseline_loss"] == pytest.approx(first["ce"], rel=1e-6)  # same start, no part
    assert second["baseline_loss"] != pytest.approx(second["ce"], rel=1e-6)  # the part moved it


def test_on_policy_sequences_get_a_hidden_part(small_teacher_dir, tmp_path):
    result = distill(_config(small_teacher_dir, tmp_path, on_policy=0.5, steps=2,
                             hidden_loss="cosine"), store=False)
    assert all(0 < r["hidden"] <= 2 and r["generated_tokens"] > 0 for r in result.history)


def test_a_resumed_run_ends_where_the_uninterrupted_one_does(small_teacher_dir, tmp_path):
    whole = distill(_config(small_teacher_dir, tmp_path, name="whole", checkpoint_every=2))
    config = _config(small_teacher_dir, tmp_path, name="cut", checkpoint_every=2)

    def stop_at_3(e):
        if e["type"] == "step" and e["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Cancelled):
        distill(config, on_event=stop_at_3)
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if "cut" in p.name]
    run = load_run(run_dir.name, config.runs_dir)
    assert (run.checkpoint_dir / "projection.safetensors").is_file()
    resumed = resume_run(run)
    assert [m["hidden"] for m in run.metrics()] == [m["hidden"] for m in whole.run.metrics()]
    for name in ("maps.0.weight", "maps.1.weight"):
        assert torch.equal(load_file(str(run.path / PROJECTION_FILE))[name],
                           load_file(str(whole.run.path / PROJECTION_FILE))[name])
    assert resumed.summary["student_loss"] == whole.summary["student_loss"]


@pytest.mark.slow
def test_two_accelerate_processes_train_the_projection_as_one(small_teacher_dir, tmp_path):
    config = _config(small_teacher_dir, tmp_path, steps=3, batch_size=8, name="two")
    path = tmp_path / "config.json"
    config.to_json(path)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "distill_core.cli", "run", "--config", str(path), "--quiet"]
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    two = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    one = distill(config.replace(name="one"), store=False)
    assert [r["hidden"] for r in two] == pytest.approx([r["hidden"] for r in one.history],
                                                       rel=1e-4)
    assert json.loads((run_dir / "summary.json").read_text())["student_loss"] == \
        pytest.approx(one.summary["student_loss"], rel=1e-4)


# ---------------------------------------------------------------- the CLI on the built-in pair


@pytest.mark.slow
@pytest.mark.parametrize("student, projected", [("builtin:half", False),
                                                ("builtin:small", True)])
def test_cli_runs_the_builtin_pair_with_hidden_weight_1(student, projected, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["run", "--teacher", "builtin:teacher", "--student", student, "--hidden-weight", "1",
            "--train-docs", "100", "--steps", "3", "--batch-size", "4", "--seq-len", "32",
            "--eval-blocks", "4", "--eval-every", "0", "--precision", "fp32", "--compile", "off",
            "--runs-dir", str(runs), "--quiet"]
    assert main(args) == 0
    (row,) = list_runs(runs)
    metrics = [json.loads(line) for line in (runs / row["id"] / "metrics.jsonl").open()]
    assert len(metrics) == 3 and all(0 < m["hidden"] < 10 for m in metrics)
    assert (runs / row["id"] / PROJECTION_FILE).is_file() == projected
    out = tmp_path / "exported"
    assert main(["export", row["id"], str(out), "--runs-dir", str(runs)]) == 0
    assert not list(out.rglob("*projection*"))
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert (getattr(model.config, "teacher_layer_map", None) is not None) == (not projected)


def test_cli_refuses_bad_hidden_settings_in_one_line(tmp_path, capsys):
    base = ["run", "--runs-dir", str(tmp_path), "--quiet"]
    for extra, words in [(["--hidden-weight", "1", "--teacher-cache"], "needs a live teacher"),
                         (["--hidden-layers", "0-1"], "student:teacher layer pairs"),
                         (["--hidden-weight", "x"], "invalid float value")]:
        try:
            code = main([*base, *extra])
        except SystemExit as stop:  # argparse's own refusal of a flag's type or choice
            code = stop.code
        assert code == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
