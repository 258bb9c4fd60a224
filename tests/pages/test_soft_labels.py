"""The Soft labels page, driven by AppTest on the built-in pair: numbers move with T and α."""

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import models


@pytest.fixture
def page(runs_dir, open_page) -> AppTest:
    at = open_page("soft_labels")
    assert not at.exception and not at.error
    return at


def number(at: AppTest, label: str) -> float:
    """The number shown by the metric with this label ("1.470 nats" → 1.47, "3,233.6" → 3233.6)."""
    (value,) = [m.value for m in at.metric if m.label == label]
    return float(re.search(r"-?[\d,]+(\.\d+)?", value).group().replace(",", ""))


def chart(at: AppTest, i: int) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_entropy_rises_when_temperature_goes_from_1_to_8(page):
    page.select_slider(key="temperature").set_value(1.0).run()
    cold = number(page, "Teacher entropy"), number(page, "Teacher: effective choices")
    page.select_slider(key="temperature").set_value(7.9).run()
    hot = number(page, "Teacher entropy"), number(page, "Teacher: effective choices")
    assert not page.exception
    assert hot[0] > cold[0] + 1 and hot[1] > cold[1]


def test_alpha_zero_shows_no_kd_part_and_alpha_one_no_ce_part(page):
    page.slider(key="alpha").set_value(0.0).run()
    assert number(page, "KD part α·T²·D") == 0.0
    assert number(page, "Loss total") == pytest.approx(number(page, "CE part (1−α)·CE"), abs=1e-3)
    page.slider(key="alpha").set_value(1.0).run()
    assert number(page, "CE part (1−α)·CE") == 0.0
    assert number(page, "KD part α·T²·D") > 0


def test_bars_hold_the_teacher_and_student_at_the_chosen_temperature(page):
    page.select_slider(key="temperature").set_value(2.0).run()
    teacher, student = chart(page, 0)["data"]
    assert teacher["name"] == "teacher"
    assert student["name"] == "student" and teacher["x"][-1] == "everything else"
    assert sum(teacher["y"]) == pytest.approx(1.0, abs=1e-4)
    assert "T = 2" in chart(page, 0)["layout"]["title"]["text"]
    assert teacher["x"][0] == [m.value for m in page.metric if m.label == "Hard label"][0]


def test_kl_direction_switches_the_contributions_chart(page):
    assert chart(page, 1)["data"][0]["name"] == "KL(teacher‖student)"
    page.radio(key="kl_direction").set_value("reverse_kl").run()
    (bars,) = chart(page, 1)["data"]
    assert bars["name"] == "KL(student‖teacher)"
    assert sum(bars["y"]) == pytest.approx(number(page, "KL(student‖teacher)"), abs=1e-3)
    assert any("mode" in m.value for m in page.markdown)


def test_an_example_prompt_fills_the_prompt_box(page):
    page.selectbox(key="example").set_value("The sky was").run()
    assert page.text_input(key="prompt").value == "The sky was"
    assert not page.exception and not page.error


def test_sliders_never_run_a_model(page, monkeypatch):
    calls = []
    real = models.prompt_logits
    monkeypatch.setattr(models, "prompt_logits",
                        lambda *a: calls.append(a[2]) or real(*a))
    page.text_input(key="prompt").set_value("The little dog ran to the").run()
    assert len(calls) == 2  # teacher and student, once each
    for t in (0.5, 4.0, 20.0):
        page.select_slider(key="temperature").set_value(t).run()
    page.slider(key="alpha").set_value(0.9).run()
    page.radio(key="kl_direction").set_value("reverse_kl").run()
    assert len(calls) == 2 and not page.exception


@pytest.mark.parametrize("prompt, words", [("   ", "the prompt is empty"),
                                           ("and then " * 400, "tokens long but the model")])
def test_bad_prompts_show_an_error_not_a_traceback(page, prompt, words):
    page.text_input(key="prompt").set_value(prompt).run()
    assert not page.exception
    assert words in page.error[0].value
    assert not page.get("plotly_chart")


def test_a_finished_runs_student_can_be_picked(runs_dir, open_page):
    from distill_core.models import load_student, load_teacher
    from distill_core.store.runs import Run

    root = runs_dir
    run = Run.create(root, {"teacher": "builtin:teacher", "student": "builtin:tiny"}, name="t")
    teacher, tokenizer = load_teacher("builtin:teacher")
    load_student("builtin:tiny", teacher, seed=1).save_pretrained(run.student_dir)
    tokenizer.save_pretrained(run.student_dir)
    run.set_status("done")
    at = open_page("soft_labels")
    label = f"trained in run {run.id}"
    assert label in at.selectbox(key="student_choice").options
    before = number(at, "Student entropy")
    at.selectbox(key="student_choice").set_value(label).run()
    assert not at.exception and not at.error
    assert number(at, "Student entropy") != before
    assert not any("before any training" in c.value for c in at.caption)
