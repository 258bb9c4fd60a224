"""The fused head on real models built from configs: a tiny GPT-2 (head tied to the embedding)
and a tiny Llama (untied), their heads as the loss takes them, and the loop's loss through them
against the logits path."""

import contextlib

import pytest
import torch

from distill_core import models
from distill_core.config import DistillConfig
from distill_core.kd.fused import Head, fused_kd_loss, head_logits
from distill_core.kd.losses import kd_loss
from distill_core.models import heads
from distill_core.training import on_policy
from distill_core.training.loop import distill
from distill_core.training.teacher_source import LiveTeacher

V, B, T = 97, 3, 12


def _gpt2(seed=0, width=32):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=width, n_head=2, vocab_size=V,
                                      n_positions=64, bos_token_id=0, eos_token_id=0)).eval()


def _llama(seed=0, width=32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        num_hidden_layers=2, hidden_size=width, intermediate_size=2 * width,
        num_attention_heads=2, num_key_value_heads=1, vocab_size=V, bos_token_id=0,
        eos_token_id=0, pad_token_id=0, max_position_embeddings=64,
        tie_word_embeddings=False)).eval()


def _gemma2(seed=0):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(seed)
    return Gemma2ForCausalLM(Gemma2Config(
        num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, vocab_size=V, bos_token_id=0, eos_token_id=0,
        pad_token_id=0, max_position_embeddings=64, final_logit_softcapping=3.0)).eval()


BUILDS = [pytest.param(_gpt2, id="gpt2"), pytest.param(_llama, id="llama")]


def _tokens(seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("build", BUILDS)
def test_both_heads_give_the_models_own_logits(build):
    model, x = build(), _tokens()
    assert heads.unfused_reason(model) is None
    with torch.no_grad():
        want = model(input_ids=x).logits[:, :-1]  # (B, T-1, V)
        for head in (models.student_head(model, model, x), models.teacher_head(model, x)):
            assert isinstance(head, Head) and head.hidden.shape == (B, T - 1, 32)
            torch.testing.assert_close(head_logits(head), want, atol=1e-5, rtol=1e-5)
    cut = models.teacher_head(model, x, vocab=V - 5)  # the tokenizer's real rows only
    assert cut.weight.shape == (V - 5, 32)


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("kind", ["forward_kl", "jsd"])
def test_fused_loss_equals_the_logits_path_on_a_real_model(build, kind):
    student, teacher, x = build(seed=0, width=32), build(seed=1, width=48), _tokens(1)
    labels = x[:, 1:].clone()
    labels[0, :3] = -100
    spec = dict(alpha=0.5, temperature=2.0, kind=kind, beta=0.5)
    with torch.inference_mode():
        target = models.teacher_head(teacher, x)
        teacher_logits = models.next_token_logits(teacher, x)
    teacher_logits = teacher_logits.clone()  # out of inference mode
    params = list(student.parameters())
    total, parts = fused_kd_loss(models.student_head(student, student, x), target, labels,
                                 chunk_size=7, **spec)
    got = torch.autograd.grad(total, params)
    want, want_parts = kd_loss(models.next_token_logits(student, x), teacher_logits, labels,
                               **spec)
    ref = torch.autograd.grad(want, params)
    assert total.item() == pytest.approx(want.item(), abs=1e-5)
    assert parts["kd"].item() == pytest.approx(want_parts["kd"].item(), abs=1e-5)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("build", BUILDS)
def test_gkd_loss_through_heads_equals_gkd_loss_on_logits(build):
    student, teacher, x = build(seed=2), build(seed=3), _tokens(2)
    generated = on_policy.generated_positions(x, 2, 5)
    spec = dict(alpha=0.3, temperature=2.0, kind="reverse_kl")
    with torch.inference_mode():
        target = models.teacher_head(teacher, x)
    params = list(student.parameters())
    total, parts = on_policy.gkd_loss(models.student_head(student, student, x), target,
                                      x[:, 1:], generated, **spec)
    got = torch.autograd.grad(total, params)
    want, want_parts = on_policy.gkd_loss(models.next_token_logits(student, x),
                                          head_logits(target).detach(), x[:, 1:], generated,
                                          **spec)
    ref = torch.autograd.grad(want, params)
    assert total.item() == pytest.approx(want.item(), abs=1e-5)
    assert parts["ce"].item() == pytest.approx(want_parts["ce"].item(), abs=1e-5)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)


def test_a_soft_capped_head_keeps_the_logits_path():
    model, x = _gemma2(), _tokens(3)
    why = heads.unfused_reason(model)
    assert why and "final_logit_softcapping" in why
    with torch.no_grad():
        out = models.student_head(model, model, x)
        assert isinstance(out, torch.Tensor)  # the model's logits, capped
        torch.testing.assert_close(out, model(input_ids=x).logits[:, :-1])
    source = LiveTeacher(model, contextlib.nullcontext)
    assert source.unfused == why and isinstance(source.targets(None, x), torch.Tensor)
    gpt2 = _gpt2()
    gpt2.config.logit_scale = 0.5
    assert "logit_scale" in heads.unfused_reason(gpt2)


def _loop_config(teacher_dir, tmp_path, **over):
    base = dict(teacher=str(teacher_dir), student="builtin:tiny", train_docs=200, steps=3,
                batch_size=8, seq_len=32, warmup=1, eval_every=0, eval_blocks=4, lr=3e-3,
                alpha=0.5, temperature=2.0, precision="fp32", runs_dir=str(tmp_path / "runs"))
    return DistillConfig(**{**base, **over})


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def llama_teacher_dir(tmp_path_factory, small_tokenizer):
    """A tiny Llama built from a config at seed 0, saved with the small tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    n = len(small_tokenizer)
    model = LlamaForCausalLM(LlamaConfig(
        num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
        num_key_value_heads=2, vocab_size=n, bos_token_id=0, eos_token_id=0, pad_token_id=0,
        max_position_embeddings=64, tie_word_embeddings=False))
    folder = tmp_path_factory.mktemp("llama-teacher")
    model.save_pretrained(folder)
    small_tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("which", ["gpt2", "llama"])
def test_the_loops_loss_equals_the_logits_path(which, small_teacher_dir, llama_teacher_dir,
                                               tmp_path, monkeypatch):
    folder = small_teacher_dir if which == "gpt2" else llama_teacher_dir
    config = _loop_config(folder, tmp_path, loss="skew_kl", beta=0.2)
    notices = []

    def keep_notices(event):
        if event["type"] == "notice":
            notices.append(event["message"])

    fused = distill(config, store=False, on_event=keep_notices)
    assert notices == []  # both heads fused
    forced = "forced by the test"
    monkeypatch.setattr(heads, "unfused_reason", lambda model: forced)
    monkeypatch.setattr(models, "unfused_reason", lambda model: forced)
    plain = distill(config, store=False, on_event=keep_notices)
    assert sorted(notices) == [f"the {who}'s logits are made in full, not fused with the "
                               f"loss: {forced}" for who in ("student", "teacher")]
    for a, b in zip(fused.history, plain.history):
        for key in ("loss", "kd", "ce"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    assert torch.allclose(_weights(fused.student), _weights(plain.student), atol=1e-5)
