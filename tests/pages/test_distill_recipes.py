"""The Distill page's recipe menu: a recipe fills the whole form, which then starts that run."""

import pytest

from distill_core.store.runs import list_runs
from distill_core.training import recipes


def test_choosing_a_recipe_fills_the_form(open_page, runs_dir):
    at = open_page("distill")
    assert at.selectbox(key="recipe").value is None  # the form starts as it always did
    assert set(recipes.describe_recipes()) <= set(at.selectbox(key="recipe").options)
    at.get_by_key("cfg_steps").set_value(999)
    at.run()
    at.selectbox(key="recipe").set_value("classroom").run()
    assert not at.exception and not at.error and not at.warning
    classroom = recipes.load_recipe("classroom")
    assert at.text_input(key="cfg_student").value == classroom.student
    assert at.get_by_key("cfg_steps").value == classroom.steps  # 999 is gone
    assert at.checkbox(key="cfg_baseline").value is True
    assert at.radio(key="data_source").value == "built-in corpus"
    assert at.selectbox(key="corpus").value == "tinytales"
    assert any(recipes.describe_recipes()["classroom"] in c.value for c in at.caption)


def test_a_recipes_run_starts_with_its_settings(open_page, runs_dir, small_teacher_dir,
                                                monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    at = open_page("distill")
    at.selectbox(key="recipe").set_value("classroom").run()
    at.text_input(key="cfg_teacher").set_value(str(small_teacher_dir))
    for name, value in {"steps": 2, "warmup": 0, "seq_len": 32, "batch_size": 4,
                        "eval_blocks": 4, "train_docs": 100}.items():
        at.get_by_key(f"cfg_{name}").set_value(value)
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    (row,) = list_runs(runs_dir)
    classroom = recipes.load_recipe("classroom")
    assert (row["student"], row["alpha"], row["steps"]) == (classroom.student, classroom.alpha, 2)


def test_a_recipe_whose_teacher_is_not_fetched_offers_the_fetch(open_page, runs_dir, tmp_path,
                                                                monkeypatch):
    from distill_core.models import loading

    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(loading, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"))
    at = open_page("distill")
    at.selectbox(key="recipe").set_value("smollm2-cpu").run()
    assert not at.exception
    assert at.text_input(key="cfg_teacher").value == "smollm2-135m"
    assert at.selectbox(key="corpus").value == "python-docs"
    assert any("not on this machine yet" in info.value for info in at.info)
    at.button(key="start").click().run()
    assert "teacher: smollm2-135m is not on this machine yet" in at.error[0].value
