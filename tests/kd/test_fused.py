"""The fused head (kd.fused): the loss from hidden states and the output projection equals
kd_loss on logits = hidden @ W.T + b, in value and in the gradients of hidden, W and b."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.checks import KINDS
from distill_core.kd.fused import Head, fused_kd_loss, head_logits
from distill_core.kd.losses import kd_loss, top_k

B, T, H, H_T, V = 3, 7, 12, 10, 29


def _inputs(seed=0, bias=True, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(B, T, H, generator=g, dtype=dtype).requires_grad_()
    weight = (torch.randn(V, H, generator=g, dtype=dtype) * 0.7).requires_grad_()
    b = (torch.randn(V, generator=g, dtype=dtype) * 0.3).requires_grad_() if bias else None
    teacher = Head(torch.randn(B, T, H_T, generator=g, dtype=dtype),
                   torch.randn(V, H_T, generator=g, dtype=dtype), torch.randn(V, generator=g,
                                                                             dtype=dtype))
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[0, 2] = labels[1, 0] = labels[2, 6] = -100  # masked labels
    return Head(hidden, weight, b), teacher, labels


def _grads(total, head: Head):
    return torch.autograd.grad(total, [x for x in head if x is not None])


def _teacher_as(kind: str, teacher: Head):
    logits = head_logits(teacher)
    return {"head": (teacher, logits), "dense": (logits, logits),
            "top_k": (top_k(logits, 5),) * 2}[kind]


@pytest.mark.parametrize("kind,teacher_kind,temperature,alpha", list(itertools.product(
    KINDS, ("head", "dense", "top_k"), (1.0, 2.0), (0.0, 0.5, 1.0))))
def test_fused_equals_kd_loss_on_the_logits(kind, teacher_kind, temperature, alpha):
    student, teacher, labels = _inputs()
    fused_teacher, plain_teacher = _teacher_as(teacher_kind, teacher)
    spec = dict(alpha=alpha, temperature=temperature, kind=kind, beta=0.3)
    total, parts = fused_kd_loss(student, fused_teacher, labels, chunk_size=4, **spec)  # 6 chunks
    want, want_parts = kd_loss(head_logits(student), plain_teacher, labels, **spec)
    assert total.item() == pytest.approx(want.item(), abs=1e-5)
    for key in ("kd", "ce"):
        assert parts[key].item() == pytest.approx(want_parts[key].item(), abs=1e-5), key
    for got, ref in zip(_grads(total, student), _grads(want, student)):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("chunk_size", [1, 5, "auto", None])
def test_chunk_size_does_not_change_the_result(chunk_size):
    student, teacher, labels = _inputs(seed=1)
    spec = dict(alpha=0.5, temperature=2.0, kind="forward_kl")
    total, _ = fused_kd_loss(student, teacher, labels, chunk_size=chunk_size, **spec)
    want, _ = kd_loss(head_logits(student), head_logits(teacher), labels, **spec)
    assert total.item() == pytest.approx(want.item(), abs=1e-5)
    for got, ref in zip(_grads(total, student), _grads(want, student)):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_tied_weight_without_bias_gets_both_gradients():
    """A tied projection is the embedding table: its gradient from the head adds to the lookup's."""
    student, teacher, labels = _inputs(seed=2, bias=False)
    table = student.weight
    ids = torch.randint(0, V, (B, T))
    hidden = table[ids] * 0.5  # (B, T, H) from the same table
    spec = dict(alpha=0.5, temperature=1.0, kind="reverse_kl")
    total, _ = fused_kd_loss(Head(hidden, table), teacher, labels, chunk_size=3, **spec)
    want, _ = kd_loss(hidden @ table.T, head_logits(teacher), labels, **spec)
    (got,) = torch.autograd.grad(total, table, retain_graph=True)  # (hidden's graph)
    (ref,) = torch.autograd.grad(want, table)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_gradients_through_kd_and_ce_themselves_are_recomputed():
    student, teacher, labels = _inputs(seed=3)
    spec = dict(alpha=0.5, temperature=2.0, kind="jsd", beta=0.4)
    _, parts = fused_kd_loss(student, teacher, labels, chunk_size=4, **spec)
    _, want = kd_loss(head_logits(student), head_logits(teacher), labels, **spec)
    mix = 3.0 * parts["kd"] - 0.5 * parts["ce"]
    ref = 3.0 * want["kd"] - 0.5 * want["ce"]
    for got, exp in zip(_grads(mix, student), _grads(ref, student)):
        torch.testing.assert_close(got, exp, atol=1e-5, rtol=0)


def test_backward_scales_the_gradient_taken_in_the_forward_pass():
    student, teacher, labels = _inputs(seed=4)
    spec = dict(alpha=0.5, temperature=2.0, kind="forward_kl")
    total, _ = fused_kd_loss(student, teacher, labels, chunk_size=4, **spec)
    want, _ = kd_loss(head_logits(student), head_logits(teacher), labels, **spec)
    for got, ref in zip(_grads(total / 4, student), _grads(want / 4, student)):
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind,alpha", [("forward_kl", 0.5), ("tvd", 0.5), ("forward_kl", 1.0),
                                        ("skew_kl", 0.2)])
def test_kd_everywhere_is_gkd_counting(kind, alpha):
    """KD over every position, CE over the labelled ones only, each its own mean."""
    student, teacher, labels = _inputs(seed=5)
    spec = dict(temperature=2.0, kind=kind, beta=0.5)
    total, parts = fused_kd_loss(student, teacher, labels, alpha=alpha, chunk_size=4,
                                 kd_everywhere=True, **spec)
    logits, t_logits = head_logits(student), head_logits(teacher)
    kd_total, kd_parts = kd_loss(logits, t_logits, None, alpha=1.0, **spec)
    ce, _ = kd_loss(logits, None, labels, alpha=0.0, temperature=1.0)
    want = alpha * kd_total + (1 - alpha) * ce
    assert total.item() == pytest.approx(want.item(), abs=1e-5)
    assert parts["kd"].item() == pytest.approx(kd_parts["kd"].item(), abs=1e-5)
    assert parts["ce"].item() == pytest.approx(ce.item(), abs=1e-5)
    for got, ref in zip(_grads(total, student), _grads(want, student)):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_every_label_ignored_gives_no_ce_and_the_kd_gradient_alone():
    student, teacher, _ = _inputs(seed=6)
    labels = torch.full((B, T), -100)
    total, parts = fused_kd_loss(student, teacher, labels, alpha=0.5, temperature=1.0,
                                 kd_everywhere=True, chunk_size=4)
    assert parts["ce"].item() == 0.0
    want, _ = kd_loss(head_logits(student), head_logits(teacher), None, alpha=1.0,
                      temperature=1.0)
    assert total.item() == pytest.approx(0.5 * want.item(), abs=1e-6)


def test_float64_stays_float64_and_matches():
    student, teacher, labels = _inputs(seed=7, dtype=torch.float64)
    total, _ = fused_kd_loss(student, teacher, labels, alpha=0.5, temperature=2.0, chunk_size=5)
    want, _ = kd_loss(head_logits(student), head_logits(teacher), labels, alpha=0.5,
                      temperature=2.0)
    assert total.dtype == torch.float64
    assert total.item() == pytest.approx(want.item(), abs=1e-12)


def test_under_bf16_autocast_it_stays_close_to_the_logits_path():
    student, teacher, labels = _inputs(seed=8)
    spec = dict(alpha=0.5, temperature=2.0, kind="forward_kl")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = fused_kd_loss(student, teacher, labels, chunk_size=4, **spec)
        want, _ = kd_loss(head_logits(student), head_logits(teacher), labels, **spec)
    assert total.dtype == torch.float32
    assert total.item() == pytest.approx(want.item(), rel=2e-2)
    got, ref = _grads(total, student), _grads(want, student)
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype and g.shape == r.shape
        assert (g - r).norm() <= 0.05 * r.norm()


def test_no_grad_gives_the_same_numbers_and_keeps_nothing():
    student, teacher, labels = _inputs(seed=9)
    spec = dict(alpha=0.5, temperature=2.0)
    with torch.no_grad():
        total, _ = fused_kd_loss(student, teacher, labels, chunk_size=4, **spec)
    assert not total.requires_grad
    want, _ = kd_loss(head_logits(student), head_logits(teacher), labels, **spec)
    assert total.item() == pytest.approx(want.item(), abs=1e-5)


def test_a_student_given_as_logits_takes_kd_loss():
    student, teacher, labels = _inputs(seed=10)
    logits = head_logits(student)
    total, _ = fused_kd_loss(logits, teacher, labels, alpha=0.5, temperature=2.0)
    want, _ = kd_loss(logits, head_logits(teacher), labels, alpha=0.5, temperature=2.0)
    assert total.item() == pytest.approx(want.item(), abs=1e-6)


def test_the_inference_mode_hidden_states_of_a_teacher_are_accepted():
    student, teacher, labels = _inputs(seed=11)
    with torch.inference_mode():
        frozen = Head(teacher.hidden * 1.0, teacher.weight, teacher.bias)
    total, _ = fused_kd_loss(student, frozen, labels, alpha=0.5, temperature=1.0)
    total.backward()  # the teacher's states were saved for backward
    assert student.hidden.grad is not None


@pytest.mark.parametrize("student,teacher,message", [
    (Head(torch.zeros(2, 3, 4), torch.zeros(5, 6)), None, "do not fit"),
    (Head(torch.zeros(2, 3, 4), torch.zeros(5, 4), torch.zeros(4)), None, "bias"),
    (Head(torch.zeros(2, 3, 4, dtype=torch.long), torch.zeros(5, 4)), None, "floating-point"),
    (Head(torch.zeros(2, 3, 4), torch.zeros(5, 4)), Head(torch.zeros(2, 3, 4), torch.zeros(6, 4)),
     "vocab sizes differ"),
    (Head(torch.zeros(2, 3, 4), torch.zeros(5, 4)), Head(torch.zeros(2, 2, 4), torch.zeros(5, 4)),
     "same shape"),
    (Head(torch.zeros(2, 3, 4), torch.zeros(5, 4)), torch.zeros(2, 3, 5, requires_grad=True),
     "without grad"),
])
def test_bad_heads_get_one_line(student, teacher, message):
    labels = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(InputError, match=message):
        fused_kd_loss(student, teacher if teacher is not None else torch.zeros(2, 3, 5), labels,
                      alpha=0.5, temperature=1.0)


def test_bad_settings_get_kd_loss_messages():
    student, teacher, labels = _inputs()
    with pytest.raises(InputError, match="alpha"):
        fused_kd_loss(student, teacher, labels, alpha=1.5, temperature=1.0)
    with pytest.raises(InputError, match="temperature"):
        fused_kd_loss(student, teacher, labels, alpha=0.5, temperature=0.0)
    with pytest.raises(InputError, match="teacher is required"):
        fused_kd_loss(student, None, labels, alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="labels are required"):
        fused_kd_loss(student, teacher, None, alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="labels must be token ids"):
        fused_kd_loss(student, teacher, labels.clamp_min(0) + V, alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="chunk_size"):
        fused_kd_loss(student, teacher, labels, alpha=0.5, temperature=1.0, chunk_size=0)


def test_head_logits_is_the_linear_map():
    student, _, _ = _inputs()
    torch.testing.assert_close(head_logits(student),
                               F.linear(student.hidden, student.weight, student.bias))
