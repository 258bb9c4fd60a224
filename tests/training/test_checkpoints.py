"""Checkpoints: what is saved comes back exactly, and a checkpoint that does not fit the run's
model (a tensor missing, one too many, another shape) is refused by name, nothing loaded."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from distill_core.errors import InputError
from distill_core.training.checkpoints import load_checkpoint, save_checkpoint


class _NoAccelerate:
    """The one Accelerator method checkpoints use, for a model that is not wrapped."""

    @staticmethod
    def unwrap_model(model):
        return model


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
    save_checkpoint(folder, _NoAccelerate, {"student": model}, {"student": opt}, 3, 96, 1.5,
                    2.0, {"val_loss": 1.0}, {"loss": 0.5})
    return model


def _load(folder, seed: int = 1):
    model = _model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    state = load_checkpoint(folder, _NoAccelerate, {"student": model}, {"student": opt})
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
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with pytest.raises(InputError, match=f"'{named}'"):
        load_checkpoint(tmp_path / "checkpoint", _NoAccelerate, {"student": model},
                        {"student": opt})
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing was loaded
