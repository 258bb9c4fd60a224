"""Hidden-state distances (kd.hidden) against a float64 reference written out element by element,
their gradients, their fixed points, and the student:teacher layer pairs text."""

import math

import pytest
import torch

from distill_core.errors import InputError
from distill_core.kd.hidden import hidden_loss, layer_pairs, pair_loss, pairs_text


def _reference(student, teacher, kind):
    """The distance of one pair, in float64 Python arithmetic, one vector at a time."""
    s = student.detach().double().reshape(-1, student.shape[-1]).tolist()
    t = teacher.detach().double().reshape(-1, teacher.shape[-1]).tolist()
    total = 0.0
    for u, v in zip(s, t):
        if kind == "mse":  # the squared error over the teacher vector's own square
            total += sum((a - b) ** 2 for a, b in zip(u, v)) / sum(b * b for b in v)
        else:
            dot = sum(a * b for a, b in zip(u, v))
            total += 1.0 - dot / (math.sqrt(sum(a * a for a in u))
                                  * math.sqrt(sum(b * b for b in v)))
    return total / len(s)


def _states(seed, shape=(2, 5, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 3 + 0.5


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_pair_loss_matches_the_float64_reference(kind):
    s, t = _states(0), _states(1)
    got = pair_loss(s, t, kind)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_reference(s, t, kind), rel=1e-5)
    got64 = pair_loss(s.double(), t.double(), kind)
    assert got64.dtype == torch.float64
    assert got64.item() == pytest.approx(_reference(s, t, kind), rel=1e-12)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_hidden_loss_is_the_mean_over_pairs(kind):
    students = [_states(i) for i in range(3)]
    teachers = [_states(10 + i) for i in range(3)]
    want = sum(_reference(s, t, kind) for s, t in zip(students, teachers)) / 3
    assert hidden_loss(students, teachers, kind).item() == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_gradient_matches_finite_differences(kind):
    s = _states(2, (2, 3, 4)).double().requires_grad_()
    t = _states(3, (2, 3, 4)).double()
    assert torch.autograd.gradcheck(lambda x: hidden_loss([x], [t], kind), (s,))


def test_bf16_states_are_measured_in_float32():
    s, t = _states(4).bfloat16(), _states(5).bfloat16()
    got = pair_loss(s, t, "mse")
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_reference(s.float(), t.float(), "mse"), rel=1e-5)


def test_fixed_points_read_plainly():
    t = _states(6)
    assert pair_loss(t.clone(), t, "mse").item() == 0.0
    assert pair_loss(torch.zeros_like(t), t, "mse").item() == pytest.approx(1.0)
    assert pair_loss(2.5 * t, t, "cosine").item() == pytest.approx(0.0, abs=1e-6)
    assert pair_loss(-t, t, "cosine").item() == pytest.approx(2.0, abs=1e-6)
    # the normalisation: scaling both states leaves the mse part where it was
    s = _states(7)
    assert pair_loss(100 * s, 100 * t, "mse").item() == pytest.approx(
        pair_loss(s, t, "mse").item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_the_part_of_a_batch_is_the_mean_of_its_halves(kind):
    # per-position terms: accumulation over micro-batches, or processes, give the same part
    s, t = _states(9, (4, 5, 6)), _states(10, (4, 5, 6))
    halves = (pair_loss(s[:2], t[:2], kind) + pair_loss(s[2:], t[2:], kind)) / 2
    assert pair_loss(s, t, kind).item() == pytest.approx(halves.item(), rel=1e-6)


def test_a_teacher_of_zeros_gives_a_finite_part():
    s, t = _states(8), torch.zeros(2, 5, 6)
    assert math.isfinite(pair_loss(s, t, "mse").item())
    assert math.isfinite(pair_loss(s, t, "cosine").item())


def test_bad_arguments_are_refused_in_one_line():
    s, t = _states(0), _states(1)
    with pytest.raises(InputError, match="hidden_loss must be one of mse, cosine"):
        hidden_loss([s], [t], "l1")
    with pytest.raises(InputError, match="1 student and 2 teacher"):
        hidden_loss([s], [t, t])
    with pytest.raises(InputError, match="0 student"):
        hidden_loss([], [])
    with pytest.raises(InputError, match="project the student"):
        hidden_loss([s[..., :4]], [t])


def test_layer_pairs_read_and_write_the_same_text():
    assert layer_pairs("0:1,1:3") == [(0, 1), (1, 3)]
    assert layer_pairs(" 0 : 1 ,  2:2 ") == [(0, 1), (2, 2)]
    assert pairs_text(layer_pairs("0:1, 1:3")) == "0:1,1:3"
    assert layer_pairs("1:0,1:3") == [(1, 0), (1, 3)]  # one student layer, two teacher layers


@pytest.mark.parametrize("text", ["", "0", "0:", ":1", "0:1;1:2", "a:b", "-1:2", "0:1,",
                                  "1.5:2", "0:1:2", "²:1"])
def test_bad_layer_pairs_are_refused_in_one_line(text):
    with pytest.raises(InputError, match="student:teacher layer pairs") as err:
        layer_pairs(text)
    assert "\n" not in str(err.value)


def test_a_pair_given_twice_is_refused():
    with pytest.raises(InputError, match="names the pair 0:1 twice"):
        layer_pairs("0:1,1:2,0:1")
