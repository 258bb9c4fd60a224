"""The loss's two terms over rows of positions, as autograd differentiates them.

    kd = Σ D_T(teacher, student)  and  ce = Σ −log q_1(label)   over the rows that count

Rows that do not count (an ignored label, a masked position) are computed like the others and
left out of the sums with `torch.where`, so no step waits for the device to say how many there
are, and autograd gives them a zero gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distill_core.kd.divergences import rows_divergence

__all__ = ["kept_sum", "loss_sums"]


def kept_sum(values: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """Σ values (N,) over the rows where keep (N,) is True (all rows when keep is None)."""
    return values.sum() if keep is None else torch.where(keep, values, 0.0).sum()


def loss_sums(x: torch.Tensor, teacher, y, keep, *, alpha: float, temperature: float,
              kind: str, beta: float | None):
    """(Σ kd, Σ ce) over the kept rows of x (N, V), differentiable: the teacher's rows (dense,
    top-k, or None at α = 0), labels y (N,) or None (ce = 0), keep (N,) or None. With α = 1
    the ce is reported without grad. At T = 1 the KD term's softmax also serves the ce."""
    log_q, kd, ce = None, x.new_zeros(()), x.new_zeros(())
    if alpha > 0.0:
        log_q = F.log_softmax(x / temperature, dim=-1)  # (N, V)
        kd = kept_sum(rows_divergence(log_q, teacher, kind, temperature, beta), keep)
    if y is not None:
        with torch.set_grad_enabled(torch.is_grad_enabled() and alpha < 1.0):
            if log_q is not None and temperature == 1.0:
                nll = -log_q.gather(-1, y[:, None])[:, 0]
            else:
                nll = F.cross_entropy(x, y, reduction="none")
            ce = kept_sum(nll, keep)
    return kd, ce
