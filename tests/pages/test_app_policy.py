"""The server's limits reach every page and every link: read once per script run in app.py."""

import pytest

pytestmark = pytest.mark.usefixtures("runs_dir")


def test_a_step_in_superscript_digits_is_one_line_not_a_traceback(open_page):
    at = open_page("lesson", {"step": "²"})
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The link's step was ignored: step must be a whole number from 1 to 99 (got '²')"]


def test_pages_load_models_within_the_servers_parameter_limit(open_page, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", "1000")
    at = open_page("soft_labels")
    assert not at.exception
    assert any("parameters, over this server's limit of 1,000" in e.value for e in at.error)
    assert not at.get("plotly_chart")  # nothing was drawn from a model it may not load


def test_with_the_hub_off_a_link_cannot_bring_a_hub_model_in(open_page, monkeypatch):
    monkeypatch.setenv("DISTILL_ALLOW_HUB", "0")
    at = open_page("soft_labels", {"teacher": "some-org/any-model", "T": "4"})
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The link's teacher was ignored: teacher 'some-org/any-model' is on the Hugging Face "
        "hub, and this server does not fetch from the hub (DISTILL_ALLOW_HUB is off): pick a "
        "built-in one or a local folder this app shares"]
    assert at.session_state["teacher"] == "builtin:teacher"
    assert at.select_slider(key="temperature").value == 4.0  # the rest of the link still counts


def test_a_mistake_in_the_limits_stops_every_page_with_one_line(open_page, monkeypatch):
    monkeypatch.setenv("DISTILL_ALLOW_HUB", "perhaps")
    at = open_page("soft_labels")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "DISTILL_ALLOW_HUB must be on or off (true/false, 1/0) (got 'perhaps')"]
