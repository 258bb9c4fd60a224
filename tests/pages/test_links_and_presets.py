"""Shareable links, presets and presenter mode, driven by AppTest through app.py."""

import json
import os

import pytest

from distill_core.app import presets
from distill_core.config import DistillConfig
from distill_core.training.loop import distill

LINK = {"T": "4", "alpha": "0.9", "prompt": "The sky was", "loss": "reverse_kl"}
pytestmark = pytest.mark.usefixtures("runs_dir")


def test_a_link_opens_the_explorer_in_its_state_and_then_follows_the_widgets(open_page):
    at = open_page("soft_labels", LINK)
    assert not at.exception and not at.error
    assert at.select_slider(key="temperature").value == 4.0
    assert at.slider(key="alpha").value == 0.9
    assert at.text_input(key="prompt").value == "The sky was"
    assert at.radio(key="kl_direction").value == "reverse_kl"
    assert "T = 4" in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
    at.select_slider(key="temperature").set_value(2.0).run()
    at.run()  # the link's T = 4 does not come back once the user has moved on
    assert at.select_slider(key="temperature").value == 2.0
    assert at.query_params["T"] == "2" and at.query_params["alpha"] == "0.9"
    assert at.query_params["teacher"] == "builtin:teacher"


def test_a_bad_value_in_a_link_is_one_error_line_and_the_rest_still_opens(open_page):
    at = open_page("soft_labels", {"T": "hot", "alpha": "0.25"})
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The link's T was ignored: T must be a number at least 0.05 and at most 100 (got 'hot')"]
    assert at.select_slider(key="temperature").value == 1.0
    assert at.slider(key="alpha").value == 0.25
    assert at.query_params["T"] == "1"  # the URL now says what is shown


def test_the_state_carries_over_to_the_distill_form(open_page):
    at = open_page("soft_labels", LINK)
    at.switch_page("app_pages/distill.py").run()
    assert not at.exception
    assert at.number_input(key="cfg_temperature").value == 4.0
    assert at.slider(key="cfg_alpha").value == 0.9
    assert at.selectbox(key="cfg_loss").value == "reverse_kl"


@pytest.mark.parametrize("preset", list(presets.PRESETS.values()), ids=lambda p: p.key)
def test_presets_on_the_explorer(open_page, preset):
    at = open_page("soft_labels")
    at.button(key=f"preset_{preset.key}").click().run()
    assert not at.exception
    assert at.select_slider(key="temperature").value == presets.nearest_temperature(
        preset.temperature)
    assert at.slider(key="alpha").value == preset.alpha
    assert at.radio(key="kl_direction").value == preset.loss
    assert preset.what_to_watch in at.caption[0].value
    kd = [m.value for m in at.metric if m.label == "KD part α·T²·D"][0]
    assert (kd == "0.0000 nats") == (preset.alpha == 0.0)


def test_a_preset_on_the_distill_page_sets_the_form(open_page):
    at = open_page("distill")
    at.button(key="preset_hinton").click().run()
    assert (at.slider(key="cfg_alpha").value, at.number_input(key="cfg_temperature").value,
            at.selectbox(key="cfg_loss").value) == (0.9, 4.0, "forward_kl")
    at.button(key="preset_reverse_kl").click().run()
    assert at.selectbox(key="cfg_loss").value == "reverse_kl"
    assert at.number_input(key="cfg_temperature").value == 1.0


def test_presenter_mode_from_a_link(open_page):
    at = open_page("soft_labels", {"present": "1"})
    assert not at.exception
    assert any("font-size" in h.proto.body for h in at.get("html"))
    assert "student_choice" not in [s.key for s in at.selectbox]
    assert not [m for m in at.metric if m.label.startswith("KD part")]
    assert at.query_params["present"] == "1"
    plain = open_page("soft_labels")
    assert not plain.get("html") and "student_choice" in [s.key for s in plain.selectbox]
    distill_page = open_page("distill", {"present": "1"})
    assert "cfg_steps" not in [n.key for n in distill_page.number_input]
    assert "cfg_alpha" in [s.key for s in distill_page.slider]


def test_compare_offers_every_export(open_page, runs_dir, small_teacher_dir):
    run = distill(DistillConfig(teacher=str(small_teacher_dir), student="builtin:half",
                                train_docs=100, steps=2, batch_size=4, seq_len=32, warmup=0,
                                eval_every=1, eval_blocks=4, precision="fp32",
                                runs_dir=str(runs_dir))).run
    at = open_page("compare", {"runs": run.id})
    assert not at.exception and not at.error
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert labels[:5] == ["config (JSON)", "config (YAML)", "metrics (CSV)",
                          "script to reproduce (.py)", "student (zip of its Hugging Face folder)"]
    assert labels[5:] == ["trl: config, launch command and README (zip)",
                          "training loss (PNG)", "training loss (SVG)"]
    assert not any(b.proto.disabled for b in buttons)
    assert at.query_params["runs"] == run.id


def test_exports_of_a_run_that_has_not_trained_yet_are_disabled_with_the_reason(open_page,
                                                                               runs_dir):
    from distill_core.store.runs import Run

    run = Run.create(runs_dir, DistillConfig().to_dict())
    # training, as far as the queue knows (this process is alive): a queued run would be started
    # by the page's queue pump and train a whole default run in the background
    run.set_status("running", pid=os.getpid())
    at = open_page("compare", {"runs": run.id})
    assert not at.exception
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert not buttons["config (JSON)"].disabled
    assert not buttons["script to reproduce (.py)"].disabled
    assert buttons["metrics (CSV)"].disabled and "no metrics yet" in buttons["metrics (CSV)"].help
    zipped = buttons["student (zip of its Hugging Face folder)"]
    assert zipped.disabled and "no saved student yet" in zipped.help
