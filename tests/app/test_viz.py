"""Figure builders, checked by reading the figure dict (no browser)."""

import pytest
import torch

from distill_core.kd import losses
from distill_core.app import viz
from distill_core.kd.explore import soft_label_view


@pytest.fixture(scope="module")
def view(small_tokenizer):
    g = torch.Generator().manual_seed(0)
    vocab = len(small_tokenizer)
    teacher = 3 * torch.randn(vocab, generator=g)
    student = 3 * torch.randn(vocab, generator=g)
    return soft_label_view(teacher, student, small_tokenizer, 2.0, k=8) | {
        "_logits": (teacher, student)}


def test_soft_label_bars_teacher_then_student_with_the_views_numbers(view):
    fig = viz.soft_label_bars(view, title="Next token").to_dict()
    teacher, student = fig["data"]
    assert [t["type"] for t in fig["data"]] == ["bar", "bar"]
    assert (teacher["name"], teacher["marker"]["color"]) == ("teacher", viz.TEACHER_COLOR)
    assert (student["name"], student["marker"]["color"]) == ("student", viz.student_color(0))
    assert list(teacher["x"]) == [*view["tokens"], "everything else"]
    assert list(teacher["y"]) == [*view["teacher"], view["teacher_rest"]]
    assert list(student["y"]) == [*view["student"], view["student_rest"]]
    assert fig["layout"]["barmode"] == "group"
    assert fig["layout"]["yaxis"]["title"]["text"] == "probability"
    assert "T = 2" in fig["layout"]["title"]["text"]
    assert "%{y:.4f}" in teacher["hovertemplate"]


@pytest.mark.parametrize("kind, name, color", [
    ("forward_kl", "KL(teacher‖student)", viz.TEACHER_COLOR),
    ("reverse_kl", "KL(student‖teacher)", viz.student_color(0))])
def test_kl_contributions_bars_sum_to_the_divergence(view, kind, name, color):
    fig = viz.kl_contributions(view, kind).to_dict()
    (bars,) = fig["data"]
    assert (bars["name"], bars["marker"]["color"]) == (name, color)
    assert list(bars["x"])[-1] == "everything else"
    assert list(bars["y"]) == [*view[kind], view[f"{kind}_rest"]]
    teacher, student = view["_logits"]
    whole = float(losses.divergence(student, teacher, kind=kind, temperature=2.0))
    assert sum(bars["y"]) == pytest.approx(whole, rel=1e-4)
    assert fig["layout"]["yaxis"]["title"]["text"] == "contribution (nats)"


def test_kl_contributions_refuses_other_kinds(view):
    with pytest.raises(ValueError, match="forward_kl"):
        viz.kl_contributions(view, "jsd")
