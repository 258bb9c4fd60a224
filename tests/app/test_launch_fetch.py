"""The app's checks before a run never fetch a pretrained model: one not fetched yet is refused,
with what to do, in one line (the Pair page and the Distill page's recipe menu fetch it, with
its progress shown)."""

import pytest

from distill_core.app import launch
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.models import loading, pretrained


@pytest.fixture
def empty_models_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path / "models"))
    for module in (loading, pretrained):
        monkeypatch.setattr(module, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"))
    return tmp_path


@pytest.mark.parametrize("teacher, student, role", [
    ("smollm2-135m", "builtin:half-ends", "teacher"),
    ("smollm2-135m", "distilbert/distilgpt2", "teacher"),
    ("builtin:teacher", "smollm2-135m", "student")])
def test_a_model_not_fetched_is_refused_not_fetched(empty_models_cache, teacher, student, role):
    config = DistillConfig(teacher=teacher, student=student, dataset="python-docs",
                           runs_dir=str(empty_models_cache / "runs"))
    with pytest.raises(InputError) as err:
        launch.check_before_launch(config)
    message = str(err.value)
    assert message.startswith(f"{role}: smollm2-135m is not on this machine yet")
    assert "distill fetch smollm2-135m" in message and "\n" not in message


def test_the_tokenizer_check_itself_never_fetches(empty_models_cache):
    from distill_core import models

    config = DistillConfig(teacher="smollm2-135m", student="builtin:teacher",
                           runs_dir=str(empty_models_cache / "runs"))
    assert launch._check_tokenizers(models.resolve("smollm2-135m"),
                                    models.resolve("builtin:teacher"), config) is None
