"""Exports of a real (tiny) finished run: config, metrics, figures, a script, the student."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from distill_core import InputError
from distill_core.app import exports, viz
from distill_core.config import DistillConfig
from distill_core.store.runs import Run, load_run
from distill_core.training.loop import distill


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_teacher_dir):
    root = tmp_path_factory.mktemp("runs")
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:half",
                           train_docs=100, steps=3, batch_size=4, seq_len=32, warmup=0,
                           eval_every=2, eval_blocks=4, precision="fp32", runs_dir=str(root),
                           alpha=0.7, temperature=3.0, name="export-me")
    return distill(config).run


def test_config_as_json_and_yaml_reads_back_as_the_same_config(run):
    as_json, as_yaml = exports.config_text(run, "json"), exports.config_text(run, "yaml")
    assert json.loads(as_json) == run.config() == yaml.safe_load(as_yaml)
    assert DistillConfig.from_yaml(as_yaml) == DistillConfig.from_json(as_json)
    with pytest.raises(InputError, match="json or yaml"):
        exports.config_text(run, "toml")


def test_metrics_csv_has_one_row_per_logged_step(run):
    rows = list(csv.DictReader(io.StringIO(exports.metrics_csv(run))))
    metrics = run.metrics()
    assert [int(r["step"]) for r in rows] == [m["step"] for m in metrics] == [1, 2, 3]
    assert list(rows[0])[:3] == ["step", "tokens", "elapsed_s"]
    assert float(rows[1]["val_ppl"]) == pytest.approx(metrics[1]["val_ppl"])
    assert rows[0]["val_ppl"] == ""  # no evaluation at step 1


def test_a_run_without_metrics_or_student_says_so(tmp_path):
    empty = Run.create(tmp_path, DistillConfig().to_dict())
    with pytest.raises(InputError, match="no metrics yet"):
        exports.metrics_csv(empty)
    with pytest.raises(InputError, match="no saved student yet"):
        exports.student_zip(empty)


def test_the_script_reproduces_the_run(run, tmp_path):
    script = tmp_path / "reproduce.py"
    script.write_text(exports.reproduce_script(run))
    compile(script.read_text(), str(script), "exec")
    root = tmp_path / "again"
    env = {**os.environ, "DISTILL_RUNS_DIR": str(root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "student perplexity" in out.stdout
    (again,) = [p.name for p in root.iterdir() if p.is_dir()]
    twin = load_run(again, root)
    assert {**twin.config(), "runs_dir": None} == {**run.config(), "runs_dir": None}
    assert twin.summary()["student_ppl"] == pytest.approx(run.summary()["student_ppl"], rel=1e-4)


def test_the_student_zip_loads_as_a_hugging_face_model(run, tmp_path):
    data = exports.student_zip(run)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        z.extractall(tmp_path)
    assert f"{run.id}-student/config.json" in names
    assert any(n.endswith(".safetensors") for n in names)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / f"{run.id}-student")
    original = AutoModelForCausalLM.from_pretrained(run.student_dir)
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, original(input_ids=x).logits)


needs_browser = pytest.mark.skipif(not shutil.which("chromium") and not
                                   os.path.exists("/usr/bin/chromium"),
                                   reason="kaleido draws with a Chromium")


@needs_browser
def test_figures_as_png_and_svg(run):
    fig = viz.learning_curves({run.id: run.metrics()})
    png = exports.figure_image(fig, "png", width=400, height=300, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 400  # IHDR width
    svg = exports.figure_image(fig, "svg").decode()
    assert svg.startswith("<svg") and "Training loss" in svg
    with pytest.raises(InputError, match="png or svg"):
        exports.figure_image(fig, "gif")


def test_the_compare_pages_downloads(run, tmp_path):
    downloads = exports.run_downloads(run)
    assert [d.file_name for d in downloads] == ["config.json", "config.yaml", "metrics.csv",
                                                f"reproduce_{run.id}.py", f"{run.id}-student.zip"]
    assert all(d.why_not is None for d in downloads)
    assert downloads[2].data == exports.metrics_csv(run)
    assert callable(downloads[4].data) and downloads[4].data() == exports.student_zip(run)

    empty = exports.run_downloads(Run.create(tmp_path, DistillConfig().to_dict()))
    why = {d.label: d.why_not for d in empty}
    assert why["config (JSON)"] is None and "no metrics yet" in why["metrics (CSV)"]
    assert "no saved student yet" in why["student (zip of its Hugging Face folder)"]
