"""Tests for distill_core.losses: values against a plain float64 reference, limits, masking,
numerical stability and argument checks."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.losses import KINDS, divergence, entropy, kd_loss, soften

B, T_LEN, V = 3, 7, 40


def _logits(seed, scale=2.0, shape=(B, T_LEN, V), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _mask(seed, shape=(B, T_LEN)):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(shape, generator=g) > 0.35
    m[0, 0] = True  # at least one position kept
    return m


def _reference(student, teacher, kind, temperature, beta, mask):
    """Mean over mask of the per-position divergence, directly from the formulas in float64."""
    p = torch.softmax(teacher.double() / temperature, dim=-1)
    q = torch.softmax(student.double() / temperature, dim=-1)

    def kl(a, b):
        return (a * (a.log() - b.log())).sum(-1)

    if kind == "forward_kl":
        d = kl(p, q)
    elif kind == "reverse_kl":
        d = kl(q, p)
    elif kind == "jsd":
        m = beta * p + (1 - beta) * q
        d = beta * kl(p, m) + (1 - beta) * kl(q, m)
    elif kind == "tvd":
        d = 0.5 * (p - q).abs().sum(-1)
    elif kind == "skew_kl":
        d = kl(p, beta * p + (1 - beta) * q)
    return d[mask].mean()


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("kind", KINDS)
def test_zero_for_equal_inputs_positive_otherwise(kind):
    s, t = _logits(0), _logits(1)
    same = divergence(s, s.clone(), kind=kind, temperature=2.0, beta=0.3)
    diff = divergence(s, t, kind=kind, temperature=2.0, beta=0.3)
    assert same.item() >= 0.0
    assert same.item() < 1e-6
    assert diff.item() > 1e-2


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_jsd_symmetric_at_half(temperature):
    s, t = _logits(2), _logits(3)
    a = divergence(s, t, kind="jsd", temperature=temperature, beta=0.5)
    b = divergence(t, s, kind="jsd", temperature=temperature, beta=0.5)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    # in general swapping sides swaps β ↔ 1 − β; away from 0.5 it is not symmetric
    flat, peaked = _logits(2, scale=0.5), _logits(3, scale=4.0)
    a = divergence(flat, peaked, kind="jsd", temperature=temperature, beta=0.1)
    b = divergence(peaked, flat, kind="jsd", temperature=temperature, beta=0.9)
    c = divergence(peaked, flat, kind="jsd", temperature=temperature, beta=0.1)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    assert abs(a.item() - c.item()) > 0.01 * a.item()  # float32 rounding is ~1e-6


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_matches_float64_reference(kind, temperature):
    s, t, m = _logits(4), _logits(5), _mask(6)
    beta = 0.3
    got = divergence(s, t, kind=kind, temperature=temperature, beta=beta, mask=m)
    want = _reference(s, t, kind, temperature, beta, m)
    assert got.dtype == torch.float32
    assert got.shape == ()
    assert got.item() == pytest.approx(want.item(), rel=1e-4, abs=1e-6)


def test_reference_distinguishes_kinds_and_beta():
    s, t = _logits(7), _logits(8)
    values = [divergence(s, t, kind=k, beta=0.3).item() for k in KINDS]
    assert len({round(v, 6) for v in values}) == len(KINDS)
    # skew at β = 0 is forward KL; larger β pulls the mixture toward p and shrinks it
    fkl = divergence(s, t, kind="forward_kl")
    assert torch.allclose(divergence(s, t, kind="skew_kl", beta=0.0), fkl, rtol=1e-6)
    s1 = divergence(s, t, kind="skew_kl", beta=0.1).item()
    s5 = divergence(s, t, kind="skew_kl", beta=0.5).item()
    assert fkl.item() > s1 > s5 > 0
    assert s5 <= math.log(2) + 1e-6  # KL(p‖βp + …) ≤ −log β


def test_float64_input_stays_float64():
    s, t = _logits(9, dtype=torch.float64), _logits(10, dtype=torch.float64)
    got = divergence(s, t, kind="forward_kl")
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(_reference(s, t, "forward_kl", 1.0, None, torch.ones(B, T_LEN, dtype=torch.bool)).item(), rel=1e-12)


def test_soften_and_entropy():
    z = _logits(11)
    p = soften(z, 1.5)
    assert torch.allclose(p, torch.softmax(z.double() / 1.5, -1).float(), atol=1e-7)
    assert torch.allclose(p.sum(-1), torch.ones(B, T_LEN), atol=1e-6)

    h = entropy(z, temperature=1.5)
    assert h.shape == (B, T_LEN)
    ref = -(torch.softmax(z.double() / 1.5, -1) * torch.log_softmax(z.double() / 1.5, -1)).sum(-1)
    assert torch.allclose(h.double(), ref, rtol=1e-5)
    assert torch.allclose(entropy(torch.zeros(2, V)), torch.full((2,), math.log(V)), rtol=1e-6)
    peaked = torch.zeros(V)
    peaked[3] = 1e4
    assert entropy(peaked).item() == 0.0


# ---------------------------------------------------------------- temperature


def test_high_temperature_goes_uniform():
    s, t = _logits(12), _logits(13)
    assert (soften(s, 1e4) - 1.0 / V).abs().max().item() < 1e-3
    for kind in KINDS:
        d = divergence(s, t, kind=kind, temperature=1e4, beta=0.3).item()
        # KL-type ~ Var(Δz) / (2 T²); tvd only ~ 1/T
        assert 0.0 <= d < (1e-3 if kind == "tvd" else 1e-6), kind


def test_t_squared_keeps_gradient_scale():
    s, t = _logits(14, scale=1.0), _logits(15, scale=1.0)
    norms, raw = [], []
    for temperature in (1.0, 2.0, 4.0, 8.0):
        x = s.clone().requires_grad_()
        d = divergence(x, t, kind="forward_kl", temperature=temperature)
        (g,) = torch.autograd.grad(temperature**2 * d, x)
        norms.append(g.norm().item())
        raw.append(g.norm().item() / temperature**2)
    assert max(norms) / min(norms) < 3.0
    # without T² the gradient shrinks ~ 1/T²: by far more than 3x over T = 1 … 8
    assert raw[0] / raw[-1] > 20.0


# ---------------------------------------------------------------- kd_loss


def _labels(seed, ignore_frac=0.3):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, V, (B, T_LEN), generator=g)
    y[torch.rand(B, T_LEN, generator=g) < ignore_frac] = -100
    y[0, 0] = 5
    return y


def test_kd_loss_combines_terms():
    s, t, y = _logits(16).requires_grad_(), _logits(17), _labels(18)
    temperature, alpha = 2.0, 0.4
    total, parts = kd_loss(s, t, y, alpha=alpha, temperature=temperature, kind="reverse_kl")
    keep = y != -100
    kd_ref = divergence(s, t, kind="reverse_kl", temperature=temperature, mask=keep)
    ce_ref = F.cross_entropy(s.reshape(-1, V), y.reshape(-1), ignore_index=-100)
    assert torch.allclose(parts["kd"], kd_ref)
    assert torch.allclose(parts["ce"], ce_ref, rtol=1e-6)
    assert torch.allclose(total, alpha * temperature**2 * kd_ref + (1 - alpha) * ce_ref, rtol=1e-6)
    total.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_alpha_zero_is_plain_cross_entropy():
    s, y = _logits(19).requires_grad_(), _labels(20)
    total, parts = kd_loss(s, None, y, alpha=0.0, temperature=3.0)
    assert torch.equal(total, parts["ce"])
    assert parts["kd"].item() == 0.0
    assert torch.allclose(total, F.cross_entropy(s.reshape(-1, V), y.reshape(-1)), rtol=1e-6)
    total.backward()
    assert s.grad is not None
    with_teacher, _ = kd_loss(s, _logits(21), y, alpha=0, temperature=3.0)
    assert torch.equal(with_teacher, total)


def test_alpha_one_is_pure_distillation():
    s, t, y = _logits(22), _logits(23), _labels(24)
    temperature = 4.0
    total, parts = kd_loss(s, t, y, alpha=1.0, temperature=temperature, kind="jsd", beta=0.5)
    assert torch.equal(total, temperature**2 * parts["kd"])
    assert parts["ce"].item() > 0  # still reported
    # no labels: every position counts, ce part is 0
    total, parts = kd_loss(s, t, None, alpha=1, temperature=temperature)
    assert parts["ce"].item() == 0.0
    assert torch.allclose(parts["kd"], divergence(s, t, kind="forward_kl", temperature=temperature))
    assert torch.equal(total, temperature**2 * parts["kd"])


def test_missing_teacher_or_labels_rejected():
    s, t, y = _logits(25), _logits(26), _labels(27)
    with pytest.raises(InputError, match="teacher_logits"):
        kd_loss(s, None, y, alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="labels"):
        kd_loss(s, t, None, alpha=0.5, temperature=1.0)


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize("kind", KINDS)
def test_masked_positions_are_ignored(kind):
    s, t, m = _logits(28), _logits(29), _mask(30)
    clean = divergence(s, t, kind=kind, temperature=1.5, beta=0.3, mask=m)
    s2, t2 = s.clone(), t.clone()
    s2[~m] = 1e4
    t2[~m] = -1e4
    t2[~m, 0] = 1e4
    dirty = divergence(s2, t2, kind=kind, temperature=1.5, beta=0.3, mask=m.int())
    assert torch.equal(clean, dirty)
    subset = divergence(s[m], t[m], kind=kind, temperature=1.5, beta=0.3)  # (N, V), no mask
    assert torch.allclose(clean, subset, rtol=1e-6, atol=1e-8)
    assert not torch.allclose(clean, divergence(s, t, kind=kind, temperature=1.5, beta=0.3))


def test_ignore_index_excluded_from_ce_and_kd():
    s, t, y = _logits(31), _logits(32), _labels(33, ignore_frac=0.5)
    keep = y != -100
    args = dict(alpha=0.5, temperature=2.0, kind="forward_kl")
    total, parts = kd_loss(s, t, y, **args)
    s2, t2 = s.clone(), t.clone()
    s2[~keep] = torch.linspace(-1e4, 1e4, V)
    t2[~keep] = -torch.linspace(-1e4, 1e4, V)
    total2, parts2 = kd_loss(s2, t2, y, **args)
    assert torch.equal(total, total2)
    assert torch.equal(parts["ce"], parts2["ce"]) and torch.equal(parts["kd"], parts2["kd"])
    # equals the loss on the kept positions alone
    total3, parts3 = kd_loss(s[keep], t[keep], y[keep], **args)
    assert torch.allclose(parts["kd"], parts3["kd"], rtol=1e-6)
    assert torch.allclose(parts["ce"], parts3["ce"], rtol=1e-6)
    assert torch.allclose(total, total3, rtol=1e-6)


def test_nothing_unmasked_gives_zero_with_grad_path():
    s = _logits(34).requires_grad_()
    t = _logits(35)
    d = divergence(s, t, kind="forward_kl", mask=torch.zeros(B, T_LEN, dtype=torch.bool))
    assert d.item() == 0.0
    d.backward()
    assert torch.equal(s.grad, torch.zeros_like(s))
    y = torch.full((B, T_LEN), -100)
    total, parts = kd_loss(s, t, y, alpha=0.5, temperature=2.0)
    assert total.item() == 0.0 and parts["ce"].item() == 0.0 and parts["kd"].item() == 0.0
    assert total.requires_grad


# ---------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("kind", KINDS)
def test_extreme_logits_stay_finite(dtype, temperature, kind):
    g = torch.Generator().manual_seed(36)
    s = ((torch.rand(2, 5, V, generator=g) * 2 - 1) * 1e4).to(dtype)
    t = ((torch.rand(2, 5, V, generator=g) * 2 - 1) * 1e4).to(dtype)
    s[0, 0] = t[0, 0]  # one position with identical inputs
    s[1, :, :3] = 1e4  # ties at the top
    t[1, :, -3:] = -1e4
    s.requires_grad_()
    d = divergence(s, t, kind=kind, temperature=temperature, beta=0.3)
    assert d.dtype == torch.float32
    assert torch.isfinite(d) and d.item() >= -1e-6
    (g_s,) = torch.autograd.grad(d, s)
    assert torch.isfinite(g_s.float()).all()
    total, parts = kd_loss(s, t, _labels(37)[:2, :5], alpha=0.5, temperature=temperature, kind=kind, beta=0.3)
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in parts.values())
    (g_s,) = torch.autograd.grad(total, s)
    assert torch.isfinite(g_s.float()).all()
    assert torch.isfinite(entropy(s.detach(), temperature)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_never_negative_for_near_equal_inputs(kind):
    s = _logits(38, scale=5.0)
    t = s + 1e-4 * _logits(39)
    for temperature in (0.05, 1.0, 100.0):
        d = divergence(s, t, kind=kind, temperature=temperature, beta=0.3)
        assert d.item() >= 0.0


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_bad_alpha(alpha):
    with pytest.raises(InputError, match="alpha"):
        kd_loss(_logits(40), _logits(41), _labels(42), alpha=alpha, temperature=1.0)


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, float("inf"), float("nan"), True, None])
def test_bad_temperature(temperature):
    s, t = _logits(43), _logits(44)
    with pytest.raises(InputError, match="temperature"):
        divergence(s, t, kind="forward_kl", temperature=temperature)
    with pytest.raises(InputError, match="temperature"):
        kd_loss(s, t, _labels(45), alpha=0.5, temperature=temperature)
    with pytest.raises(InputError, match="temperature"):
        soften(s, temperature)


@pytest.mark.parametrize("beta", [0, 1.0])
def test_jsd_degenerate_beta_points_to_kl(beta):
    with pytest.raises(InputError, match=r"beta.*forward_kl.*reverse_kl"):
        divergence(_logits(46), _logits(47), kind="jsd", beta=beta)


@pytest.mark.parametrize("kind, beta", [("jsd", -0.2), ("jsd", 1.3), ("jsd", float("nan")), ("skew_kl", 1.0), ("skew_kl", -0.1), ("skew_kl", None)])
def test_bad_beta(kind, beta):
    with pytest.raises(InputError, match="beta"):
        divergence(_logits(48), _logits(49), kind=kind, beta=beta)


def test_beta_ignored_by_kinds_without_it():
    s, t = _logits(50), _logits(51)
    assert torch.equal(divergence(s, t, kind="tvd", beta=7.0), divergence(s, t, kind="tvd"))


@pytest.mark.parametrize("kind", ["kl", "Forward_KL", None])
def test_unknown_kind(kind):
    with pytest.raises(InputError, match="kind must be one of forward_kl, reverse_kl, jsd, tvd, skew_kl"):
        divergence(_logits(52), _logits(53), kind=kind)


def test_shape_errors():
    s = _logits(54)
    with pytest.raises(InputError, match=f"vocab sizes differ: student {V} vs teacher {V + 3}"):
        divergence(s, _logits(55, shape=(B, T_LEN, V + 3)), kind="forward_kl")
    with pytest.raises(InputError, match="vocab sizes differ"):
        kd_loss(s, _logits(55, shape=(B, T_LEN, V - 1)), _labels(56), alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="same shape"):
        divergence(s, _logits(57, shape=(B, T_LEN + 1, V)), kind="forward_kl")
    with pytest.raises(InputError, match="labels shape"):
        kd_loss(s, _logits(58), _labels(59)[:, :-1], alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="labels shape"):
        kd_loss(s, None, _labels(59)[:, :-1], alpha=0.0, temperature=1.0)
    with pytest.raises(InputError, match="mask shape"):
        divergence(s, _logits(60), kind="forward_kl", mask=torch.ones(B, T_LEN + 1, dtype=torch.bool))


def test_label_value_and_type_errors():
    s, t = _logits(61), _logits(62)
    y = _labels(63)
    y[1, 1] = V
    with pytest.raises(InputError, match="labels must be token ids"):
        kd_loss(s, t, y, alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="labels must be an integer tensor"):
        kd_loss(s, t, _labels(63).float(), alpha=0.5, temperature=1.0)
    with pytest.raises(InputError, match="student_logits must be a floating-point"):
        divergence(torch.zeros(B, T_LEN, V, dtype=torch.long), t, kind="forward_kl")
