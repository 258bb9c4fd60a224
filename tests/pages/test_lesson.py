"""The Lesson page, driven by AppTest on the built-in pair: each "try this" sets its widget."""

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.app import lesson
from distill_core.models import describe, load_student, load_teacher
from distill_core.store.runs import Run


@pytest.fixture
def page(runs_dir, open_page) -> AppTest:
    at = open_page("lesson")
    assert not at.exception and not at.error
    return at


def metric(at: AppTest, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def number(at, label) -> float:
    return float(re.search(r"-?[\d,]+(\.\d+)?", metric(at, label)).group().replace(",", ""))


def test_step_1_try_this_picks_the_tiny_student_and_shows_the_gap(page):
    teacher = load_teacher("builtin:teacher")[0]
    assert number(page, "Teacher parameters") == describe(teacher)["parameters"]
    page.button(key="try_1").click().run()
    assert page.selectbox(key="lesson_student").value == "builtin:tiny"
    tiny = describe(load_student("builtin:tiny", teacher))["parameters"]
    assert number(page, "Student parameters") == tiny
    assert metric(page, "Capacity gap") == f"{describe(teacher)['parameters'] / tiny:.1f}× " \
                                           "fewer parameters"


def test_step_2_and_3_soft_labels_and_temperature(page):
    page.button(key="next").click().run()
    assert page.radio(key="lesson_step").value == 2
    page.button(key="try_2").click().run()
    assert page.text_input(key="lesson_prompt").value == "They ate cake and drank"
    assert metric(page, "Hard label") == "␣milk"
    hard, soft = (t["y"] for t in json.loads(page.get("plotly_chart")[0].proto.spec)["data"])
    assert hard[0] == 1 and sum(hard) == 1 and sum(soft) == pytest.approx(1.0, abs=1e-4)
    assert number(page, "Soft label on it") == pytest.approx(soft[0], abs=1e-3)
    cold = number(page, "Effective choices")
    page.button(key="next").click().run()
    page.button(key="try_3").click().run()
    assert page.select_slider(key="lesson_temperature").value == 4.0
    assert number(page, "Effective choices") > 3 * cold
    assert page.query_params["T"] == "4" and page.query_params["step"] == "3"
    assert not page.exception and not page.error


def test_step_4_presets_set_alpha_and_temperature(page):
    page.radio(key="lesson_step").set_value(4).run()
    page.button(key="preset_no_teacher").click().run()
    assert page.slider(key="lesson_alpha").value == 0.0
    assert number(page, "KD part α·T²·D") == 0.0
    page.button(key="try_4").click().run()
    assert page.slider(key="lesson_alpha").value == 0.9
    assert number(page, "KD part α·T²·D") > 0


def test_step_5_measures_the_early_teacher_and_starts_two_runs(page, tmp_path, monkeypatch):
    page.radio(key="lesson_step").set_value(5).run()
    assert not page.exception and not page.error
    assert number(page, "Early teacher perplexity") > number(page, "Teacher perplexity") > 1
    assert 0 < number(page, "Same top token") < 100
    launched = []

    def launch(config, session=None, limits=None):  # queue the run, do not train it in this test
        assert session == page.session_state["session_id"]
        launched.append(config)
        return Run.create(tmp_path / "runs", config.to_dict(), name=config.name)

    monkeypatch.setattr("distill_core.store.jobs.launch", launch)
    page.button(key="try_5").click().run()
    assert [c.teacher for c in launched] == list(lesson.IMPERFECT_TEACHERS)
    table = page.dataframe[0].value
    assert list(table["teacher"]) == list(lesson.IMPERFECT_TEACHERS)
    assert list(table["state"]) == ["queued", "queued"]
