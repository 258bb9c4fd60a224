"""Checkpoints: what is saved comes back exactly, every device's random state included, and a
checkpoint that does not fit the run's model (a tensor missing, one too many, another shape) is
refused by name, nothing loaded."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from distill_core.errors import InputError
from distill_core.training.checkpoints import (load_checkpoint, restore_rng, rng_states,
                                               save_checkpoint)


def _model(seed: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2,
                                      n_head=2))


def _save(folder, seed: int = 0):
    model = _model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(input_ids=torch.arange(8)[None], labels=torch.arange(8)[None]).loss.backward()
    opt.step()
    save_checkpoint(folder, {"students": {"student": model.state_dict()},
                             "optimizers": {"student": opt.state_dict()}, "rng": rng_states(),
                             "step": 3, "tokens": 96, "train_s": 1.5, "elapsed_s": 2.0,
                             "evals": {"val_loss": 1.0}, "teacher_eval": {"loss": 0.5}})
    return model


def _load(folder, seed: int = 1):
    model = _model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    state = load_checkpoint(folder, models={"student": model})
    model.load_state_dict(state["students"]["student"])
    opt.load_state_dict(state["optimizers"]["student"])
    return model, opt, state


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_checkpoint_comes_back_exactly(tmp_path):
    saved = _save(tmp_path / "checkpoint")
    model, opt, state = _load(tmp_path / "checkpoint")
    assert (state["step"], state["tokens"], state["evals"]) == (3, 96, {"val_loss": 1.0})
    for k, v in saved.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert len(opt.state) == len(list(model.parameters()))


def _edit(folder, change):
    path = str(folder / "student.safetensors")
    weights = load_file(path)
    change(weights)
    save_file(weights, path)


@pytest.mark.parametrize("change, named", [
    (lambda w: w.pop("transformer.h.1.mlp.c_fc.weight"), "transformer.h.1.mlp.c_fc.weight"),
    (lambda w: w.update({"transformer.h.2.ln_1.weight": torch.ones(16)}),
     "transformer.h.2.ln_1.weight"),
    (lambda w: w.update({"transformer.ln_f.bias": torch.zeros(8)}), "transformer.ln_f.bias"),
], ids=["missing", "unexpected", "other shape"])
def test_a_checkpoint_that_does_not_fit_is_refused_by_name(tmp_path, change, named):
    _save(tmp_path / "checkpoint")
    _edit(tmp_path / "checkpoint", change)
    model = _model(1)
    before = _weights(model)
    with pytest.raises(InputError, match=f"'{named}'"):
        load_checkpoint(tmp_path / "checkpoint", models={"student": model})
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing was loaded


def test_the_random_state_of_every_device_is_kept(tmp_path):
    """The CPU's state comes back; the CUDA field is there (empty without CUDA)."""
    torch.manual_seed(7)
    _save(tmp_path / "checkpoint")
    after_save = torch.rand(4)  # what the next draw was at the checkpoint
    _, _, state = _load(tmp_path / "checkpoint")
    assert set(state["rng"]) >= {"cpu", "cuda"}
    assert isinstance(state["rng"]["cuda"], list)
    assert len(state["rng"]["cuda"]) == (torch.cuda.device_count()
                                         if torch.cuda.is_available() else 0)
    torch.manual_seed(8)
    restore_rng(state["rng"])
    assert torch.equal(torch.rand(4), after_save)


def test_a_cuda_random_state_is_restored_only_where_cuda_is(monkeypatch):
    """Without CUDA the CUDA states are left alone (no call, no error); with it, each device
    this machine has gets its own state back, and a checkpoint from more devices than here
    restores the ones there are."""
    calls = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append(device))
    cuda_states = [torch.zeros(8, dtype=torch.uint8), torch.ones(8, dtype=torch.uint8)]
    states = {"cpu": torch.get_rng_state(), "cuda": cuda_states}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restore_rng(states)
    assert calls == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    restore_rng(states)
    assert calls == [0]


def test_an_older_checkpoint_with_the_cpu_state_alone_still_restores():
    torch.manual_seed(3)
    state = torch.get_rng_state()
    want = torch.rand(3)
    restore_rng(state)
    assert torch.equal(torch.rand(3), want)
