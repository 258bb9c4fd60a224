"""The KL direction page: both fits drawn, numbers from toy_kl, sentences that follow them."""

import json

import pytest

from distill_core.kd import toy_kl


@pytest.fixture
def page(open_page):
    at = open_page("kl_direction")
    assert not at.exception and not at.error
    return at


def test_forward_covers_and_reverse_seeks(page):
    at = page
    demo = toy_kl.demo(5.0, 0.6, 1.0)
    values = [(m.label, m.value) for m in at.metric]
    assert values[:3] == [("Centre", f"{demo['forward']['mean']:.2f}"),
                          ("Width", f"{demo['forward']['std']:.2f}"),
                          ("Mass in the valley", f"{100 * demo['forward']['valley_mass']:.1f} %")]
    assert values[3] == ("Centre", "2.50")
    forward, reverse = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert forward["data"][1]["y"] == demo["forward"]["probs"]
    assert "reverse KL" in reverse["layout"]["title"]["text"]
    text = " ".join(m.value for m in at.markdown)
    assert "covers the peaks" in text and "sits on the right peak" in text


def test_moving_the_start_moves_the_reverse_fit_to_the_other_peak(page):
    at = page
    at.slider(key="start_mean").set_value(-1.0).run()
    centres = [m.value for m in at.metric if m.label == "Centre"]
    assert centres[1] == "-2.50"
    assert "sits on the left peak" in " ".join(m.value for m in at.markdown)
    at.slider(key="separation").set_value(2.0).run()
    assert "nearly the same student" in " ".join(m.value for m in at.markdown)
