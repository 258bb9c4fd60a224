"""The Soft labels page, driven by AppTest on the built-in pair: numbers move with T and α."""

import json
import re
from pathlib import Path

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


# --- a real pretrained teacher ----------------------------------------------------------------

def open_on_pair(t_spec: str, s_spec: str, page: str = "soft_labels") -> AppTest:
    app = str(Path(__file__).resolve().parents[2] / "app.py")
    at = AppTest.from_file(app, default_timeout=300)
    at.session_state["teacher"], at.session_state["student"] = t_spec, s_spec
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    return at.run()


def test_a_teacher_not_fetched_is_offered_not_fetched(runs_dir, tmp_path, monkeypatch):
    from distill_core.models import loading, pretrained

    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path / "models"))
    for module in (loading, pretrained):
        monkeypatch.setattr(module, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"),
                            raising=False)
    at = open_on_pair("smollm2-135m", "builtin:half")
    assert not at.exception and not at.get("plotly_chart") and not at.metric
    assert "not on this machine yet" in at.info[0].value
    assert at.button(key="fetch_smollm2-135m").label == "Fetch smollm2-135m"


@pytest.mark.slow
def test_real_teacher_soft_labels(smollm2_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(smollm2_dir.parent))
    pair = models.PAIRS["smollm2-135m"]
    at = open_on_pair(pair.teacher, pair.student)
    assert not at.exception and not at.error
    assert at.selectbox(key="example").options[0] == "The capital of France is"
    assert at.text_input(key="prompt").value == "The capital of France is"
    assert [m.value for m in at.metric if m.label == "Hard label"] == ["␣Paris"]
    assert at.radio(key="soft_view").value == "mass"  # the bars hide most of a real vocabulary
    at.select_slider(key="temperature").set_value(2.0).run()
    lines = chart(at, 0)["data"]
    assert [line["name"].split(" (")[0] for line in lines] == [
        "teacher at T = 1", "teacher at T = 2", "student at T = 2"]
    assert lines[0]["x"][-1] == 49_152 and lines[1]["y"][-1] == pytest.approx(1.0)
    assert lines[1]["y"][0] < lines[0]["y"][0]  # softened: the top token holds less
    caption = next(c.value for c in at.caption if "of the teacher's probability is held" in c.value)
    at_1, at_2 = [int(n.replace(",", "")) for n in re.findall(r"top ([\d,]+)", caption)]
    assert at_2 > at_1
    at.radio(key="soft_view").set_value("bars").run()
    teacher, _ = chart(at, 0)["data"]
    assert teacher["x"][-1] == "everything else" and teacher["y"][-1] > 0.5
    assert any("outside these bars" in c.value for c in at.caption)
    at.radio(key="soft_view").set_value("ranks").run()
    assert "Log-probability by rank" in chart(at, 0)["layout"]["title"]["text"]
    at.selectbox(key="example").set_value("def fibonacci(n):\n    if n").run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric if m.label == "Hard label"] == ["␣=="]
