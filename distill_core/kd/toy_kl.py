"""Forward against reverse KL on a toy problem small enough to see whole.

The "teacher" is a distribution with two peaks on a grid of numbers; the "student" can only
make one peak: a bell curve with a mean and a width, softmaxed over the same grid. We fit the
student twice by gradient descent (Adam on mean and log-width), once on each divergence, with
the very loss code training uses (`losses.divergence`, student logits first, teacher second):

- forward KL(teacher‖student) averages over the teacher: missing any place the teacher likes
  costs a lot, so the student widens to cover both peaks and puts mass in the valley between
  them, where the teacher has almost none (mode-covering);
- reverse KL(student‖teacher) averages over the student: putting mass where the teacher has
  none costs a lot, so the student sits on one peak and ignores the other (mode-seeking).

Everything is in float64 and in nats.
"""

from __future__ import annotations

import math

import torch

from distill_core.errors import InputError
from distill_core.kd.losses import divergence

__all__ = ["demo", "explain", "fit", "grid", "one_peak_logits", "two_peaks_logits"]

PEAK_WIDTH = 0.7


def grid(n: int = 321, low: float = -8.0, high: float = 8.0) -> torch.Tensor:
    """(n,) evenly spaced points, float64."""
    return torch.linspace(low, high, n, dtype=torch.float64)


def one_peak_logits(x: torch.Tensor, mean, log_std) -> torch.Tensor:
    """Logits (n,) of a bell curve on the grid: softmax gives the discretised Gaussian."""
    return -0.5 * ((x - mean) / torch.exp(log_std)) ** 2


def two_peaks_logits(x: torch.Tensor, separation: float = 5.0, left_weight: float = 0.6,
                     width: float = PEAK_WIDTH) -> torch.Tensor:
    """Log-probabilities (n,) of two bell curves at ±separation/2 with weights w and 1 − w."""
    if not 0.0 < left_weight < 1.0:
        raise InputError(f"the left peak's weight must be between 0 and 1 (got {left_weight:g})")
    if not 0.0 < width <= 3.0 or not 0.0 <= separation <= 10.0:
        raise InputError(f"peaks need a width in (0, 3] and a separation in [0, 10] "
                         f"(got width {width:g}, separation {separation:g})")
    log_width = torch.tensor(math.log(width))
    parts = torch.stack([math.log(left_weight) + one_peak_logits(x, -separation / 2, log_width),
                         math.log(1 - left_weight) + one_peak_logits(x, separation / 2,
                                                                     log_width)])
    logits = torch.logsumexp(parts, dim=0)  # (n,)
    return logits - torch.logsumexp(logits, dim=0)


def fit(target_logits: torch.Tensor, x: torch.Tensor, kind: str, start_mean: float = 1.0,
        start_std: float = 0.5, steps: int = 800, lr: float = 0.1) -> dict:
    """Fit a one-peaked student to `target_logits` by Adam on the `kind` divergence at T = 1.

    Returns the fitted mean and std, the student's probabilities, its divergence in both
    directions, how its mass splits (left of 0, right of 0, and in the valley |x| < 1), and
    the loss every 10 steps.
    """
    if kind not in ("forward_kl", "reverse_kl"):
        raise InputError(f"kind must be forward_kl or reverse_kl (got {kind!r})")
    mean = torch.tensor(float(start_mean), dtype=torch.float64, requires_grad=True)
    log_std = torch.tensor(math.log(start_std), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([mean, log_std], lr=lr)
    history = []
    for step in range(steps):
        loss = divergence(one_peak_logits(x, mean, log_std), target_logits, kind=kind)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            history.append(loss.item())
    with torch.no_grad():
        logits = one_peak_logits(x, mean, log_std)
        q = torch.softmax(logits, dim=0)
        p = torch.softmax(target_logits, dim=0)
        out = {"kind": kind, "mean": float(mean), "std": float(torch.exp(log_std)),
               "probs": q.tolist(), "history": history,
               "forward_kl": float(divergence(logits, target_logits, kind="forward_kl")),
               "reverse_kl": float(divergence(logits, target_logits, kind="reverse_kl")),
               "left_mass": float(q[x < 0].sum()), "right_mass": float(q[x > 0].sum()),
               "valley_mass": float(q[x.abs() < 1].sum()),
               "target_valley_mass": float(p[x.abs() < 1].sum())}
    return out


def demo(separation: float = 5.0, left_weight: float = 0.6, start_mean: float = 1.0) -> dict:
    """The target and both fits from the same start: {"x", "target", "forward", "reverse"}.

    Forward KL has one best fit wherever it starts; reverse KL has one near each peak and
    settles on the peak nearer its start, even the smaller one.
    """
    x = grid()
    target = two_peaks_logits(x, separation, left_weight)
    return {"x": x.tolist(), "target": torch.softmax(target, 0).tolist(),
            "separation": separation, "left_weight": left_weight,
            "forward": fit(target, x, "forward_kl", start_mean),
            "reverse": fit(target, x, "reverse_kl", start_mean)}


def explain(demo: dict) -> str:
    """What the two fits in `demo` did, in two sentences with their numbers (markdown)."""
    fwd, rev = demo["forward"], demo["reverse"]
    cover = (f"**Forward KL covers the peaks.** It averages over the target, so missing either "
             f"peak costs a lot: the student widens to width {fwd['std']:.2f} and puts "
             f"{100 * fwd['valley_mass']:.1f} % of its mass in the valley between them, where "
             f"the target has {100 * fwd['target_valley_mass']:.1f} %.")
    if abs(fwd["mean"] - rev["mean"]) < 0.1 and abs(fwd["std"] - rev["std"]) < 0.1:
        return ("The peaks overlap so much that the target has one broad hump: both directions "
                f"give nearly the same student (centre {fwd['mean']:.2f}, width "
                f"{fwd['std']:.2f}). Pull the peaks apart to see them differ.")
    if rev["std"] > 1.5 * PEAK_WIDTH:
        seek = (f"**Reverse KL** averages over the student. From this start it got stuck "
                f"between the peaks (centre {rev['mean']:.2f}, width {rev['std']:.2f}): a "
                "local minimum, worse than sitting on either peak. Start it further from 0.")
    else:
        side = "left" if rev["mean"] < 0 else "right"
        bigger = (side == "left") == (demo["left_weight"] >= 0.5)
        seek = (f"**Reverse KL seeks one peak.** It averages over the student, so mass where "
                f"the target has none costs a lot: the student sits on the {side} peak (centre "
                f"{rev['mean']:.2f}, width {rev['std']:.2f}, {100 * rev['valley_mass']:.1f} % "
                "in the valley) and leaves the other out. " + (
                    "Here that is the bigger peak; started on the other side, it would settle "
                    "on the smaller one." if bigger else "It is the smaller peak: reverse KL "
                    "settles on the peak nearer its start, not on the best one."))
    return cover + "  \n" + seek
