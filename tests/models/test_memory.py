"""Model sizes from safetensors headers, free memory, and refusing a model before loading it."""

import json
import re
import shutil
import struct
from pathlib import Path

import pytest

from distill_core import models
from distill_core.models import memory
from distill_core.errors import InputError
from distill_core.store.limits import load_limits


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("DISTILL_MAX_MEMORY_GB", "DISTILL_MAX_MODEL_PARAMS", "DISTILL_CLASSROOM_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def huge_model(folder: Path, small_teacher_dir: Path, rows=1_000_000, cols=1_000_000) -> Path:
    """A model folder whose safetensors header declares a rows x cols float32 tensor (4 TB for
    the default) with no data behind it: only a header reader can take its measure."""
    folder.mkdir()
    shutil.copy(small_teacher_dir / "config.json", folder / "config.json")
    header = json.dumps({"lm_head.weight": {"dtype": "F32", "shape": [rows, cols],
                                            "data_offsets": [0, rows * cols * 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return folder


def test_parameters_from_headers_match_the_loaded_model(small_teacher_dir):
    model = models.load_pretrained(str(small_teacher_dir))
    assert memory.folder_params(small_teacher_dir) == sum(p.numel() for p in model.parameters())
    assert memory.folder_params(small_teacher_dir.parent) is None  # no safetensors there


def test_free_memory_is_read_from_the_kernel():
    free = memory.available_bytes()
    total = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo")
                 if line.startswith("MemTotal:"))
    assert 0 < free <= total


def test_a_model_too_large_for_this_machine_is_refused_before_loading(tmp_path,
                                                                      small_teacher_dir):
    folder = huge_model(tmp_path / "huge", small_teacher_dir)
    with pytest.raises(InputError) as err:
        models.load_pretrained(str(folder))  # reading the weights would fail: there are none
    message = str(err.value)
    assert "1,000,000,000,000 parameters" in message and "needs ~4,000.0 GB" in message
    shown = float(re.search(r"([\d,.]+) GB available", message).group(1).replace(",", ""))
    assert shown == pytest.approx(memory.available_bytes() / 1e9, rel=0.2)  # this machine's
    assert "\n" not in message


def test_a_configured_memory_limit_is_named(small_teacher_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_MEMORY_GB", "0.0001")  # 100 kB
    with pytest.raises(InputError, match=r"needs ~0\.\d\d MB, 0\.10 MB available \(this "
                                         r"server's limit, DISTILL_MAX_MEMORY_GB\)"):
        models.load_pretrained(str(small_teacher_dir), limits=load_limits())
    monkeypatch.setenv("DISTILL_MAX_MEMORY_GB", "1")
    models.load_pretrained(str(small_teacher_dir), limits=load_limits())


def test_a_configured_model_size_limit_is_named(small_teacher_dir, monkeypatch):
    params = memory.folder_params(small_teacher_dir)
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", str(params - 1))
    with pytest.raises(InputError, match=f"has {params:,} parameters, over this server's limit "
                                         f"of {params - 1:,} .DISTILL_MAX_MODEL_PARAMS"):
        models.load_teacher(str(small_teacher_dir), limits=load_limits())
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", str(params))
    models.load_teacher(str(small_teacher_dir), limits=load_limits())


@pytest.mark.parametrize("content", [b"", b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}",
                                     b"\xff" * 8 + b"{}", struct.pack("<Q", 2) + b"[]"])
def test_a_broken_safetensors_header_is_one_clear_line(tmp_path, small_teacher_dir, content):
    folder = tmp_path / "broken"
    folder.mkdir()
    shutil.copy(small_teacher_dir / "config.json", folder / "config.json")
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(InputError, match="is not a valid safetensors file"):
        models.load_pretrained(str(folder))


@pytest.mark.parametrize("n, text", [(4e12, "4,000.0 GB"), (1.25e9, "1.2 GB"),
                                     (3.5e8, "350 MB"), (3.5e5, "0.35 MB")])
def test_sizes_for_people(n, text):
    assert memory.size_text(n) == text


def test_cost_at_scale_counts_models_optimiser_and_the_logits_fused_losses_avoid():
    cost = memory.at_scale(360_000_000, 135_000_000, 8, 2048, 49_152)
    assert cost["teacher"] == 2 * 360_000_000 and cost["student"] == 16 * 135_000_000
    assert cost["logits"] == 3 * 8 * 2048 * 49_152 * 4  # ~9.7 GB: more than the models
    assert cost["total"] == cost["fused"] + cost["logits"] and cost["logits"] > cost["fused"]
    unknown = memory.at_scale(1, 1, 1, 8, None)
    assert unknown["logits"] is None and unknown["total"] is None and unknown["fused"] == 18
    with pytest.raises(InputError, match="seq_len must be a whole number"):
        memory.at_scale(1, 1, 1, 0, 10)
    assert [memory.parameter_count(x) for x in ("124M", "1.1B", "82,000", "?", 7)] == \
        [124_000_000, 1_100_000_000, 82_000, None, 7]
