"""The forward/reverse KL toy: forward KL matches the target's moments, reverse KL a peak."""

import math

import pytest
import torch

from distill_core import InputError
from distill_core.kd import toy_kl


@pytest.fixture(scope="module")
def demo():
    return toy_kl.demo(separation=5.0, left_weight=0.6, start_mean=1.0)


def test_target_is_a_normalised_two_peaked_distribution(demo):
    p = torch.tensor(demo["target"], dtype=torch.float64)
    x = torch.tensor(demo["x"], dtype=torch.float64)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(p[x < 0].sum()) == pytest.approx(0.6, abs=1e-3)
    peaks = [float(x[i]) for i in range(1, len(x) - 1) if p[i - 1] < p[i] > p[i + 1]]
    assert peaks == pytest.approx([-2.5, 2.5], abs=0.05)


def test_forward_kl_covers_both_peaks(demo):
    fwd = demo["forward"]
    # the best Gaussian under KL(p‖q) matches p's mean and variance
    assert fwd["mean"] == pytest.approx(0.6 * -2.5 + 0.4 * 2.5, abs=0.03)
    variance = 0.7**2 + 0.6 * 2.5**2 + 0.4 * 2.5**2 - 0.5**2
    assert fwd["std"] == pytest.approx(math.sqrt(variance), rel=0.03)
    assert fwd["valley_mass"] > 10 * fwd["target_valley_mass"]
    assert min(fwd["left_mass"], fwd["right_mass"]) > 0.35


def test_reverse_kl_settles_on_the_peak_nearer_its_start(demo):
    rev = demo["reverse"]
    assert rev["mean"] == pytest.approx(2.5, abs=0.02)
    assert rev["std"] == pytest.approx(0.7, abs=0.02)
    assert rev["left_mass"] < 0.01  # the bigger, left peak is left out
    left = toy_kl.demo(5.0, 0.6, start_mean=-1.0)["reverse"]
    assert left["mean"] == pytest.approx(-2.5, abs=0.02)
    assert left["reverse_kl"] < rev["reverse_kl"]  # the other peak was the better minimum


def test_each_fit_wins_on_its_own_divergence(demo):
    fwd, rev = demo["forward"], demo["reverse"]
    assert fwd["forward_kl"] < rev["forward_kl"] and rev["reverse_kl"] < fwd["reverse_kl"]
    assert fwd["history"][-1] == pytest.approx(fwd["forward_kl"], rel=1e-3)
    assert fwd["history"][0] > fwd["history"][-1]


def test_reported_divergences_match_a_direct_sum(demo):
    p = torch.tensor(demo["target"], dtype=torch.float64)
    q = torch.tensor(demo["forward"]["probs"], dtype=torch.float64)
    assert float((p * (p / q).log()).sum()) == pytest.approx(demo["forward"]["forward_kl"],
                                                            rel=1e-6)
    assert float((q * (q / p).log()).sum()) == pytest.approx(demo["forward"]["reverse_kl"],
                                                            rel=1e-6)


def test_explanations_follow_the_numbers(demo):
    text = toy_kl.explain(demo)
    assert "sits on the right peak" in text and "smaller peak" in text
    assert f"{100 * demo['forward']['valley_mass']:.1f} %" in text
    close = toy_kl.demo(separation=2.0)
    assert "nearly the same student" in toy_kl.explain(close)


def test_bad_targets_are_refused():
    with pytest.raises(InputError, match="between 0 and 1"):
        toy_kl.two_peaks_logits(toy_kl.grid(), left_weight=1.0)
    with pytest.raises(InputError, match="forward_kl or reverse_kl"):
        toy_kl.fit(toy_kl.two_peaks_logits(toy_kl.grid()), toy_kl.grid(), "jsd")
