"""Tests for distill_core.kd.losses: values against a plain float64 reference, limits, masking,
numerical stability and argument checks."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill_core.errors import InputError
from distill_core.kd.losses import KINDS, divergence, entropy, kd_loss, soften

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


# ---------------------------------------------------------------- sparse (top-k) teacher targets

from distill_core.kd.losses import TopK, top_k  # noqa: E402

V_SPARSE = 512
K_GRID = (1, 2, 4, 8, 16, 32, 64, 128, V_SPARSE // 2, V_SPARSE)  # doubling up to V


def _peaked(seed, shape=(2, 16, V_SPARSE)):
    """Teacher-like logits: a Zipf-shaped ranking (log-prob ~ -3.6 log rank) over a random token
    order per position, plus noise; the student is the teacher plus larger noise."""
    g = torch.Generator().manual_seed(seed)
    n, v = math.prod(shape[:-1]), shape[-1]
    base = -3.6 * torch.log(torch.arange(1, v + 1, dtype=torch.float64))
    perm = torch.stack([torch.randperm(v, generator=g) for _ in range(n)]).view(shape)
    teacher = (base[perm] + 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)).float()
    student = teacher + 2.0 * torch.randn(shape, generator=g)
    return student, teacher


def _sparse_errors(kind, temperature, seed=0):
    s, t = _peaked(seed)
    full = divergence(s, t, kind=kind, temperature=temperature).item()
    assert full > 1e-2
    return full, [abs(divergence(s, top_k(t, k), kind=kind, temperature=temperature).item() - full)
                  / full for k in K_GRID]


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("kind", KINDS)
def test_sparse_error_shrinks_with_k_and_vanishes_at_full_vocab(kind, temperature):
    # At T = 1 the k + 1 buckets are a coarse-graining of the vocabulary, and a finer one for
    # larger k: by the data-processing inequality the error can only shrink. At T != 1 the
    # teacher's rest mass is spread like the student's before softening; the error must still
    # shrink as more of the teacher is kept.
    full, errors = _sparse_errors(kind, temperature)
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:])), errors
    assert errors[0] > 1e-2  # k = 1 really loses something, so the comparison is not vacuous
    assert errors[-1] <= 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_sparse_loss_exact_with_one_token_left_over(kind):
    # one rest token: its softened mass is known exactly whatever T
    s, t = _peaked(0)
    for temperature in (0.5, 2.0, 4.0):
        full = divergence(s, t, kind=kind, temperature=temperature).item()
        one_left = divergence(s, top_k(t, V_SPARSE - 1), kind=kind,
                              temperature=temperature).item()
        assert one_left == pytest.approx(full, rel=1e-5)


def test_top_k_fields_and_rest_mass():
    _, t = _peaked(1)
    p = torch.softmax(t.double(), -1)
    for k in (1, 8, 64, V_SPARSE - 1):
        tk = top_k(t, k)
        assert tk.vocab == V_SPARSE
        assert tk.logp.shape == tk.ids.shape == (2, 16, k) and tk.log_rest.shape == (2, 16)
        assert tk.logp.dtype == torch.float32
        # the k most likely tokens, in descending order, with their log-probabilities
        want_p, want_ids = p.topk(k, dim=-1)
        assert torch.equal(tk.ids, want_ids)
        torch.testing.assert_close(tk.logp.double(), want_p.log(), atol=1e-5, rtol=1e-5)
        rest = (1 - want_p.sum(-1)).clamp_min(1e-300).log()
        torch.testing.assert_close(tk.log_rest.double(), rest, atol=1e-4, rtol=1e-4)
    assert torch.isneginf(top_k(t, V_SPARSE).log_rest).all()  # nothing left over


@pytest.mark.parametrize("k", [0, V_SPARSE + 1, 2.0, True])
def test_top_k_bad_k(k):
    with pytest.raises(InputError, match="k must be"):
        top_k(_peaked(0)[1], k)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_kd_loss_with_full_top_k_equals_dense(kind, temperature, alpha):
    s, t = _peaked(2)
    labels = torch.randint(0, V_SPARSE, s.shape[:-1], generator=torch.Generator().manual_seed(3))
    labels[0, :3] = -100
    grads, values = [], []
    for teacher in (t, top_k(t, V_SPARSE)):
        x = s.clone().requires_grad_(True)
        total, parts = kd_loss(x, teacher, labels, alpha=alpha, temperature=temperature,
                               kind=kind, beta=0.3)
        total.backward()
        grads.append(x.grad)
        values.append((total.item(), parts["kd"].item(), parts["ce"].item()))
    for dense, sparse in zip(*values):
        assert sparse == pytest.approx(dense, rel=1e-5, abs=1e-7)
    assert values[0][1] > 1e-2  # a real divergence, not 0 = 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-7)
    assert grads[0].abs().max() > 0


def test_kd_loss_sparse_teacher_small_k_still_pulls_towards_teacher():
    s, t = _peaked(4)
    x = s.clone().requires_grad_(True)
    total, _ = kd_loss(x, top_k(t, 8), None, alpha=1.0, temperature=1.0)
    total.backward()
    stepped = (x - 5.0 * x.grad).detach()
    assert divergence(stepped, t, kind="forward_kl") < divergence(s, t, kind="forward_kl")


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_t1_ce_reuse_matches_cross_entropy(temperature):
    s, t = _peaked(5)
    labels = torch.randint(0, V_SPARSE, s.shape[:-1], generator=torch.Generator().manual_seed(6))
    labels[1, 4:9] = -100
    want = F.cross_entropy(s.reshape(-1, V_SPARSE), labels.reshape(-1), ignore_index=-100)
    for teacher in (t, top_k(t, 16)):
        _, parts = kd_loss(s, teacher, labels, alpha=0.5, temperature=temperature)
        assert parts["ce"].item() == pytest.approx(want.item(), rel=1e-6)


def test_t1_ce_reuse_keeps_ce_gradient():
    # at T = 1 the CE is taken from the KD term's log-softmax: its gradient must still flow
    s, t = _peaked(7)
    labels = torch.randint(0, V_SPARSE, s.shape[:-1], generator=torch.Generator().manual_seed(8))
    x = s.clone().requires_grad_(True)
    _, parts = kd_loss(x, top_k(t, 16), labels, alpha=0.5, temperature=1.0)
    parts["ce"].backward()
    y = s.clone().requires_grad_(True)
    F.cross_entropy(y.reshape(-1, V_SPARSE), labels.reshape(-1)).backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-8)


def test_bad_top_k_teacher_rejected():
    s, t = _peaked(0)
    good = top_k(t, 8)
    bad = [
        good._replace(vocab=V_SPARSE + 1),  # vocab differs from the student's
        good._replace(logp=good.logp[:, :-1]),  # fewer positions than the student
        good._replace(ids=good.ids[..., :4]),  # logp and ids disagree on k
        good._replace(log_rest=good.log_rest[:, :-1]),
        top_k(t[:1], 8),  # another batch size
        TopK(good.logp.tolist(), good.ids, good.log_rest, V_SPARSE),  # not tensors
    ]
    for teacher in bad:
        with pytest.raises(InputError):
            kd_loss(s, teacher, None, alpha=1.0, temperature=1.0)
        with pytest.raises(InputError):
            divergence(s, teacher, kind="forward_kl")


@pytest.mark.parametrize("bad", ["log_rest", "ids"])
def test_malformed_top_k_contents_rejected(bad):
    s, t = _peaked(0)
    good = top_k(t, 8)
    teacher = (good._replace(log_rest=None) if bad == "log_rest"
               else good._replace(ids=good.ids + V_SPARSE))
    with pytest.raises(InputError):
        kd_loss(s, teacher, None, alpha=1.0, temperature=1.0)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("alpha", [1.0, 0.4])
@pytest.mark.parametrize("k", [5, 50, None])  # None: the dense teacher
def test_fused_forward_kl_gradient_matches_autograd(temperature, alpha, k):
    # kd_loss's forward_kl computes its gradient in closed form; autograd through divergence
    # and cross_entropy (the general path) must give the same loss and gradient
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(2, 8, 300, generator=g), 4 * torch.randn(2, 8, 300, generator=g)
    y = torch.randint(0, 300, (2, 8), generator=g)
    teacher = t if k is None else top_k(t, k)
    a = s.clone().requires_grad_(True)
    total, _ = kd_loss(a, teacher, y, alpha=alpha, temperature=temperature)
    total.backward()
    b = s.clone().requires_grad_(True)
    kd = divergence(b, teacher, kind="forward_kl", temperature=temperature)
    ce = F.cross_entropy(b.reshape(-1, 300), y.reshape(-1))
    ref = temperature**2 * kd if alpha == 1.0 else alpha * temperature**2 * kd + (1 - alpha) * ce
    ref.backward()
    torch.testing.assert_close(total, ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------- exact rest bucket (issue 19)


def _confident(margin, seed=20, k=4, shape=(3, 6, 48)):
    """A teacher, its top-k, and a student that is the teacher with `margin` nats added to the
    teacher's top token. On every other token q ∝ p, so the k + 1 buckets lose nothing: the
    bucketed divergence must equal the dense one exactly."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    tk = top_k(t.float(), k)
    s = t.scatter_add(-1, tk.ids[..., :1], torch.full(shape[:-1] + (1,), margin,
                                                       dtype=torch.float64))
    return s, t, tk


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("margin", [100.0, 200.0])
def test_rest_bucket_exact_for_a_very_confident_student(margin, temperature):
    # the rest bucket used to be clamped at log-probability −80: at a margin of 100 nats the
    # bucketed KL came out near 61 instead of about 71
    s, t, tk = _confident(margin)
    want = _reference(s, t, "forward_kl", temperature, None, torch.ones(s.shape[:-1], dtype=bool))
    assert want.item() > 0.5 * margin / temperature  # the regime the clamp got wrong
    got = divergence(s.float(), tk, kind="forward_kl", temperature=temperature)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    # the default loss's closed-form gradient against float64 autograd through the dense formula
    x = s.float().requires_grad_(True)
    total, parts = kd_loss(x, tk, None, alpha=1.0, temperature=temperature)
    total.backward()
    assert parts["kd"].item() == pytest.approx(want.item(), rel=1e-5)
    ref_x = s.clone().requires_grad_(True)
    log_p = torch.log_softmax(t / temperature, -1)
    log_q = torch.log_softmax(ref_x / temperature, -1)
    ref = temperature**2 * (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    ref.backward()
    torch.testing.assert_close(x.grad.double(), ref_x.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_rest_of_zero_mass_gives_no_nan(kind):
    # a top-k teacher with nothing left over (log_rest = −inf) below the full vocabulary, and at
    # k = V: every value and gradient is free of nan
    s, t = _peaked(9)
    full = top_k(t, V_SPARSE)
    logp = torch.log_softmax(t.topk(8, -1).values, -1)
    nothing_left = TopK(logp, t.topk(8, -1).indices, torch.full(t.shape[:-1], -math.inf),
                        V_SPARSE)
    for teacher in (full, nothing_left):
        x = s.clone().requires_grad_(True)
        total, parts = kd_loss(x, teacher, None, alpha=1.0, temperature=2.0, kind=kind, beta=0.3)
        total.backward()
        assert not torch.isnan(total) and not torch.isnan(x.grad).any()
    d = divergence(s, nothing_left, kind="forward_kl").item()  # Σ over the top 8 only
    q = torch.log_softmax(s.double(), -1).gather(-1, nothing_left.ids)
    want = (logp.double().exp() * (logp.double() - q)).sum(-1).mean().item()
    assert d == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- temperature range, shared rules


@pytest.mark.parametrize("temperature", [0.049, 100.5, 1e-40, 1e4])
def test_loss_temperature_range(temperature):
    s, t = _logits(70), _logits(71)
    with pytest.raises(InputError, match=r"^temperature must be from 0\.05 to 100, got") as e:
        kd_loss(s, t, _labels(72), alpha=0.5, temperature=temperature)
    assert "\n" not in str(e.value)
    for edge in (0.05, 100):
        total, _ = kd_loss(s, t, _labels(72), alpha=0.5, temperature=edge)
        assert torch.isfinite(total)


@pytest.mark.parametrize("kind, beta", [("jsd", 0.0), ("jsd", 1.0), ("skew_kl", 1.0)])
def test_beta_rule_shared_with_config(kind, beta):
    from distill_core.config import DistillConfig

    with pytest.raises(InputError) as in_config:
        DistillConfig(loss=kind, beta=beta)
    with pytest.raises(InputError) as in_loss:
        divergence(_logits(73), _logits(74), kind=kind, beta=beta)
    assert str(in_config.value) == str(in_loss.value)


def test_kl_between_per_position():
    from distill_core.kd.losses import kl_between

    p, q = _logits(75), _logits(76)
    got = kl_between(p, q, temperature=1.5)
    assert got.shape == (B, T_LEN) and got.dtype == torch.float32
    want = _reference(q, p, "forward_kl", 1.5, None, torch.ones(B, T_LEN, dtype=torch.bool))
    assert got.double().mean().item() == pytest.approx(want.item(), rel=1e-5)
    assert kl_between(p, p).abs().max() < 1e-6
    with pytest.raises(InputError, match="same shape"):
        kl_between(p, q[..., :-1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("k", [None, 16])
@pytest.mark.parametrize("kind", ["forward_kl", "jsd"])
def test_no_host_sync_in_the_loss_on_a_gpu(kind, k):
    # nothing in the loss's forward or backward waits for the device
    s, t = _peaked(10)
    s, t = s.cuda(), t.cuda()
    labels = torch.randint(0, V_SPARSE, s.shape[:-1], device="cuda")
    labels[0, :3] = -100
    teacher = t if k is None else top_k(t, k)
    x = s.clone().requires_grad_(True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for chunk_size in (None, 5):
            total, _ = kd_loss(x, teacher, labels, alpha=0.5, temperature=2.0, kind=kind,
                               chunk_size=chunk_size)
            total.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(x.grad).all()
