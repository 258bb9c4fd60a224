"""The classroom figures in viz.py, checked through their figure dicts with real numbers."""

import pytest
import torch

from distill_core.app import lesson, viz
from distill_core.kd import toy_kl
from distill_core.kd.explore import TEMPERATURES, soft_label_view


class Tokens:
    def decode(self, ids):
        return f"t{ids[0]}"


VIEW = soft_label_view(torch.tensor([3.0, 1.0, 0.0, -1.0]), torch.tensor([1.0, 1.0, 1.0, 1.0]),
                       Tokens(), temperature=2.0, k=2)


def data(fig):
    return {t["name"]: t for t in fig.to_dict()["data"]}


def test_hard_vs_soft_bars():
    t = data(viz.hard_vs_soft_bars(VIEW))
    hard, soft = t["hard label (one-hot)"], t["soft label (teacher)"]
    assert list(hard["x"]) == ["t0", "t1", "everything else"]
    assert list(hard["y"]) == [1.0, 0.0, 0.0]
    p = torch.softmax(torch.tensor([3.0, 1.0, 0.0, -1.0]) / 2.0, 0).tolist()
    assert list(soft["y"]) == pytest.approx([p[0], p[1], p[2] + p[3]], abs=1e-6)
    assert soft["marker"]["color"] == viz.TEACHER_COLOR


def test_soft_label_bars_can_rename_its_two_sides():
    names = list(data(viz.soft_label_bars(VIEW, names=("trained teacher", "early teacher"))))
    assert names == ["trained teacher", "early teacher"]


def test_entropy_curve_marks_the_chosen_temperature():
    logits = torch.tensor([3.0, 1.0, 0.0, -1.0])
    h = lesson.entropies(logits)
    fig = viz.entropy_curve(TEMPERATURES, h, 4.0)
    t = data(fig)
    assert list(t["teacher entropy"]["y"]) == h
    assert list(t["T = 4"]["y"]) == [h[TEMPERATURES.index(4.0)]]
    assert fig.to_dict()["layout"]["xaxis"]["type"] == "log"


def test_probe_figures():
    lines = [{"step": s, "probes": {"p": {**VIEW, "kl": kl}, "q": {**VIEW, "kl": 2 * kl}}}
             for s, kl in ((0, 0.9), (10, 0.4), (20, 0.1))]
    bars = viz.probe_bars(lines[1], "q")
    assert "step 10" in bars.to_dict()["layout"]["title"]["text"]
    t = data(viz.probe_kl_curves(lines))
    assert list(t["“q …”"]["x"]) == [0, 10, 20]
    assert list(t["“q …”"]["y"]) == [1.8, 0.8, 0.2]


def test_toy_kl_fit_draws_the_target_and_the_student():
    demo = toy_kl.demo(5.0, 0.6, 1.0)
    fig = viz.toy_kl_fit(demo, "reverse_kl")
    t = data(fig)
    assert list(t["student (one peak)"]["y"]) == demo["reverse"]["probs"]
    assert list(t["target (two peaks)"]["y"]) == demo["target"]
    assert f"{demo['reverse']['reverse_kl']:.3f} nats" in fig.to_dict()["layout"]["title"]["text"]


CELLS = [{"alpha": a, "temperature": t, "run_id": f"r-{a}-{t}", "state": s, "student_ppl": p,
          "agreement": g}
         for a, t, s, p, g in ((0.0, 1.0, "done", 3.1, 0.80), (0.0, 4.0, "done", 3.3, 0.75),
                               (0.9, 1.0, "running", None, None), (0.9, 4.0, "queued", None,
                                                                  None))]


def test_sweep_heatmap_rows_are_alpha_columns_temperature():
    fig = viz.sweep_heatmap(CELLS)
    heat, cells = fig.to_dict()["data"]
    assert list(heat["y"]) == ["0", "0.9"] and list(heat["x"]) == ["1", "4"]
    assert [list(r) for r in heat["z"]] == [[3.1, 3.3], [None, None]]
    assert [list(r) for r in heat["text"]] == [["3.100", "3.300"], ["running", "queued"]]
    assert list(cells["customdata"]) == ["r-0.0-1.0", "r-0.0-4.0", "r-0.9-1.0", "r-0.9-4.0"]
    agree = viz.sweep_heatmap(CELLS, "agreement").to_dict()["data"][0]
    assert list(agree["z"][0]) == pytest.approx([80.0, 75.0])
    with pytest.raises(ValueError):
        viz.sweep_heatmap(CELLS, "loss")


def test_tick_labels_leave_room_for_the_axis_title_and_the_legend():
    """The legend sits at the figure's own bottom and the margins grow to fit long tick labels
    (checked in a real browser by tests/e2e/test_browser.py)."""
    layout = viz.hard_vs_soft_bars(VIEW).to_dict()["layout"]
    assert layout["legend"]["yref"] == "container" and layout["legend"]["y"] == 0
    assert layout["legend"]["yanchor"] == "bottom"
    assert layout["xaxis"]["automargin"] and layout["xaxis"]["title"]["standoff"] > 0
