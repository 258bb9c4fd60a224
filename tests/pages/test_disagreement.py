"""The Disagreement page: the built-in pair on a validation passage, and a run's student before
and after distillation side by side."""

import json

import pytest

from distill_core.config import DistillConfig
from distill_core.training.loop import distill


def _html(at) -> list[str]:
    return [e.proto.body for e in at.get("html")]


def test_the_built_in_pair_colours_a_passage_and_shows_a_token(open_page, runs_dir):
    at = open_page("disagreement")
    assert not at.exception and not at.error
    assert at.selectbox(key="dis_source").value.startswith("the chosen pair")
    (spans,) = _html(at)
    assert spans.count("<span") == len(at.selectbox(key="dis_token").options)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "T = 1" in chart["layout"]["title"]["text"]
    at.select_slider(key="dis_t").set_value(4.0).run()
    at.radio(key="dis_measure").set_value("ce_diff").run()
    assert not at.exception and "rgba(31,119,180" in _html(at)[0]  # blue: student does better
    at.radio(key="dis_how").set_value("your own").run()
    at.text_area(key="dis_text").set_value("The sky was blue and the sun was warm.").run()
    assert not at.exception and "sun" in _html(at)[0]
    at.selectbox(key="dis_token").set_value(2).run()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "T = 4" in chart["layout"]["title"]["text"]
    at.text_area(key="dis_text").set_value("   ").run()
    assert "empty" in at.error[0].value and not at.exception


@pytest.fixture
def run(small_teacher_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:tiny", steps=2,
                           train_docs=200, batch_size=4, seq_len=32, eval_every=0,
                           eval_blocks=4, precision="fp32", baseline=True,
                           runs_dir=str(runs_dir))
    return distill(config).run


def test_a_run_shows_its_student_before_and_after(open_page, run):
    at = open_page("disagreement")
    at.selectbox(key="dis_source").set_value(run.id).run()
    assert not at.exception and not at.error
    assert len(_html(at)) == 2 and len(at.get("plotly_chart")) == 2
    labels = "".join(m.value for m in at.markdown)
    assert "baseline (trained without the teacher)" in labels and "after distillation" in labels
    at.toggle(key="dis_both").set_value(False).run()
    assert len(_html(at)) == 1 and len(at.get("plotly_chart")) == 1
