"""The tools' loss conventions, written out here, against TRL's own function and our kd_loss."""

import pytest
import torch
import torch.nn.functional as F

from distill_core.app.conventions import CONVENTIONS, TOOLS, generalized_jsd, loss_table
from distill_core.kd.losses import kd_loss


def batch(n=12, v=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, v, generator=g), 2 * torch.randn(n, v, generator=g),
            torch.randint(0, v, (n,), generator=g))


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_our_rewrite_of_the_generalized_jsd_is_trls(beta, temperature):
    gkd = pytest.importorskip("trl.experimental.gkd", reason="trl is not installed")
    s, t, _ = batch()
    ours = generalized_jsd(F.log_softmax(t / temperature, -1), F.log_softmax(s / temperature, -1),
                           beta).mean()
    every = torch.zeros(1, s.shape[0], dtype=torch.long)
    theirs = gkd.GKDTrainer.generalized_jsd_loss(s[None], t[None], labels=every, beta=beta,
                                                 temperature=temperature)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-5)


def test_the_ends_of_beta_jump():
    s, t, _ = batch()
    log_p, log_q = F.log_softmax(t, -1), F.log_softmax(s, -1)
    at_zero, near_zero = generalized_jsd(log_p, log_q, 0.0), generalized_jsd(log_p, log_q, 1e-6)
    assert float(at_zero.mean()) > 0.1 and float(near_zero.mean()) < 1e-4


def test_who_matches_ours_for_forward_kl_at_t_2():
    s, t, y = batch()
    rows = {r["tool"]: r for r in loss_table(s, t, y, alpha=0.5, temperature=2.0,
                                             top_k=s.shape[-1])}
    total, _ = kd_loss(s, t, y, alpha=0.5, temperature=2.0)
    assert rows["ours"]["total"] == pytest.approx(float(total), abs=1e-5)
    for same in ("DistillKit", "Axolotl"):  # T^2 and (1 - alpha) CE, as ours (top k = V)
        assert rows[same]["total - ours"] == pytest.approx(0.0, abs=1e-5)
    assert rows["TRL GKDTrainer"]["ce weight"] == 0.0 and rows["Liger fused JSD"]["kd weight"] == 0.5
    assert set(TOOLS) <= set(rows) and all(CONVENTIONS[tool].source for tool in TOOLS)
