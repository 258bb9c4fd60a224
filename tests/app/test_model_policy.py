"""app.model_policy: the one way the app loads a model, with this server's limits applied."""

import pytest

from distill_core.app import model_policy
from distill_core.errors import InputError
from distill_core.policy import Limits


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def one_line(call, *args) -> str:
    with pytest.raises(InputError) as err:
        call(*args)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_built_ins_always_hub_ids_only_while_allowed(root):
    off = Limits(allow_hub=False)
    for spec in ("builtin:teacher", " builtin:half "):
        assert model_policy.allowed_model(spec, "teacher", off) == spec.strip()
    assert model_policy.allowed_model("org/model", "student", Limits()) == "org/model"
    msg = one_line(model_policy.allowed_model, "org/model", "student", off)
    assert msg.startswith("student 'org/model' is on the Hugging Face hub") and \
        "DISTILL_ALLOW_HUB" in msg
    # refused before anything is fetched: loading (and its tokenizer) say the same
    assert one_line(model_policy.load_teacher, "org/model", off) == msg.replace("student",
                                                                                 "teacher", 1)
    assert "hub" in one_line(model_policy.load_tokenizer, "org/model", "builtin:teacher", off)


def test_local_folders_only_where_the_app_shares_them(root, small_teacher_dir):
    msg = one_line(model_policy.allowed_model, str(small_teacher_dir), "teacher", Limits())
    assert "that this app may read" in msg
    shared = Limits(model_dirs=(str(small_teacher_dir.parent),), allow_hub=False)
    assert model_policy.allowed_model(str(small_teacher_dir), "teacher", shared) == \
        str(small_teacher_dir)
    assert "teacher: unknown built-in model" in one_line(
        model_policy.allowed_model, "builtin:nope", "teacher", Limits())


def test_loading_applies_the_parameter_and_memory_limits(root):
    model, tok = model_policy.load_teacher("builtin:teacher", Limits())
    params = sum(p.numel() for p in model.parameters())
    assert params > 4_000_000 and tok is not None
    msg = one_line(model_policy.load_teacher, "builtin:teacher", Limits(max_model_params=1000))
    assert f"{params:,} parameters" in msg and "DISTILL_MAX_MODEL_PARAMS" in msg
    assert "memory" in one_line(model_policy.load_teacher, "builtin:teacher",
                                Limits(max_memory_gb=0.001))
    student = model_policy.load_student("builtin:half", model, Limits())
    assert sum(p.numel() for p in student.parameters()) < params
