"""FLOPs per token and MFU: which parameters count, the formula, the measured peak."""

import pytest
import torch

from distill_core.training.throughput import flops_per_token, matmul_params, matmul_peak, mfu

V, D, LAYERS, POS = 96, 16, 2, 40


def _gpt2(tied: bool):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=POS, n_embd=D, n_layer=LAYERS,
                                      n_head=2, tie_word_embeddings=tied))


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("tied", [True, False])
def test_gpt2_counts_blocks_final_norm_and_output_layer(tied):
    model = _gpt2(tied)
    t = model.transformer
    want = _count(t.h) + _count(t.ln_f) + V * D  # the output projection, once
    assert matmul_params(model) == want
    total = _count(model)
    lookups = POS * D + (0 if tied else V * D)  # position table; input table when untied
    assert total - matmul_params(model) == lookups


def test_tied_and_untied_gpt2_do_the_same_matmuls():
    assert matmul_params(_gpt2(True)) == matmul_params(_gpt2(False))
    assert _count(_gpt2(False)) == _count(_gpt2(True)) + V * D


def test_opt_learned_positions_are_left_out():
    from transformers import OPTConfig, OPTForCausalLM

    model = OPTForCausalLM(OPTConfig(vocab_size=V, hidden_size=D, num_hidden_layers=1,
                                     ffn_dim=32, num_attention_heads=2,
                                     max_position_embeddings=POS, word_embed_proj_dim=D))
    positions = _count(model.model.decoder.embed_positions)
    assert positions > 0
    assert matmul_params(model) == _count(model) - positions  # tied: the table is the output


def test_untied_llama_without_position_table():
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=D, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, tie_word_embeddings=False))
    assert matmul_params(model) == _count(model) - V * D  # only the input table is a lookup


def test_flops_per_token_formula():
    assert flops_per_token(1000, 5000, teacher_live=False) == 6_000
    assert flops_per_token(1000, 5000, teacher_live=True) == 6_000 + 10_000
    assert flops_per_token(1000, 5000, teacher_live=True, students=2) == 12_000 + 10_000
    assert flops_per_token(1000, 5000, teacher_live=False, students=2) == 12_000


def test_matmul_peak_is_a_sane_positive_rate():
    peak = matmul_peak("fp32", size=256, seconds=0.1)
    assert isinstance(peak, float) and 1e8 <= peak <= 1e13
    assert matmul_peak("fp32", size=256, seconds=0.1) == peak  # measured once per process
    bf16 = matmul_peak("bf16", size=128, seconds=0.05)
    assert isinstance(bf16, float) and 1e6 <= bf16 <= 1e14


def test_mfu_is_achieved_over_peak():
    peak = matmul_peak("fp32")
    assert mfu(1000.0, 6_000_000, "fp32") == pytest.approx(1000.0 * 6_000_000 / peak)
    assert mfu(1000.0, 6_000_000, "no") == mfu(1000.0, 6_000_000, "fp32")  # Accelerate's "no"
    assert mfu(0.0, 6_000_000, "fp32") == 0.0


def test_mfu_divides_by_the_peak_of_the_device_it_trained_on(monkeypatch):
    """A run on a GPU is measured against the GPU's matmul peak, not the CPU's."""
    from distill_core.training import throughput

    timed = []

    def peak(dtype="fp32", size=None, seconds=0.5, device="cpu"):
        timed.append((dtype, str(torch.device(device))))
        return {"cpu": 1e11, "cuda:0": 1e15}[str(torch.device(device))]

    monkeypatch.setattr(throughput, "matmul_peak", peak)
    assert mfu(1000.0, 6_000_000, "bf16", device=torch.device("cuda:0")) == pytest.approx(6e-6)
    assert mfu(1000.0, 6_000_000, "no") == pytest.approx(6e-2)  # on the CPU, as before
    assert timed == [("bf16", "cuda:0"), ("fp32", "cpu")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_matmul_peak_on_a_gpu_is_timed_there():
    gpu = matmul_peak("bf16", device="cuda")
    assert isinstance(gpu, float) and gpu > 10 * matmul_peak("bf16")  # the CPU's
    assert matmul_peak("bf16", device="cuda") == gpu
