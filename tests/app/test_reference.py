"""The reference results shipped in assets/reference/: they load, they are in the format this
code writes (summary.json keys, the metrics table, experiment tables and findings), they stay
under 15 MB, and `reproduces` decides reproduced-or-not on real numbers."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from distill_core import metrics, models
from distill_core.app import reference
from distill_core.app.experiment_figures import experiment_figure
from distill_core.app.report import verdict_rows
from distill_core.config import DistillConfig
from distill_core.store.runs import FINISHED_STATES, Run, run_folders
from distill_core.training import experiments, probes, sweep
from distill_core.training.stats import mean_spread

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "assets" / "reference"
PROVENANCE = ("command", "created", "machine", "package_version")


@pytest.fixture(autouse=True)
def shipped(monkeypatch):
    """The shipped set, whatever $DISTILL_REFERENCE_DIR says outside the tests."""
    monkeypatch.setenv(reference.REFERENCE_ENV, str(SHIPPED))


def test_the_manifest_lists_every_item_with_its_provenance():
    manifest = reference.manifest()
    assert manifest["format"] == 1 and manifest["rebuild"].startswith("python bench/reference.py")
    entries = [manifest["default_run"], manifest["sweep"], *manifest["experiments"].values()]
    assert sorted(manifest["experiments"]) == sorted(experiments.NAMES)
    for entry in entries:
        assert all(entry.get(k) for k in PROVENANCE), entry
    assert manifest["default_run"]["command"].startswith("distill run --baseline")
    assert manifest["default_run"]["seeds"] == [0, 1, 2]
    for run in reference.default_runs():
        assert all(reference.about(run.path).get(k) for k in PROVENANCE)
    for name in experiments.NAMES:
        command = reference.about(reference.experiment_entry(name)["folder"])["command"]
        assert command == manifest["experiments"][name]["command"]
        assert command.startswith(f"distill experiment {name} --size ")


def test_the_set_stays_under_15_mb():
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert 0 < size <= 15e6


def test_the_default_runs_summaries_hold_every_metric_of_the_table():
    runs = reference.default_runs()
    assert len(runs) == 3
    assert [r.config()["seed"] for r in runs] == [0, 1, 2]
    for run in runs:
        summary = run.summary()
        assert set(metrics.METRICS) <= set(summary), set(metrics.METRICS) - set(summary)
        for key in ("teacher_ppl", "student_ppl", "baseline_ppl", "retention_pct",
                    "gap_closed_pct", "agreement", "speedup"):  # measured, not left out
            assert metrics.METRICS[key].text(summary[key]) != "-", key
        assert [label for label, _ in verdict_rows(summary)] == \
            [m.label for m in metrics.shown("verdict")]
        assert run.status()["state"] == "done" and run.metrics()
        assert reference.same_settings(run.config(), runs[0].config())


def test_every_reference_run_is_finished_so_nothing_can_cancel_or_delete_it():
    states = {run.status().get("state") for run in run_folders(SHIPPED)}
    assert states and states <= set(FINISHED_STATES) - {"failed"}


def test_seed_0_keeps_its_probes_and_bf16_students_the_views_load():
    run = reference.default_run()
    lines = probes.load(run)
    assert lines and set(lines[-1]["probes"]) == set(probes.PROMPTS)
    _, tokenizer = models.load_teacher(run.config()["teacher"])
    for folder in (run.student_dir, run.baseline_dir):
        with safe_open(folder / "model.safetensors", "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}  # noqa: SIM118
        student = models.load_student(str(folder))
        logits = models.prompt_logits(student, tokenizer, "Once there was a girl named")
        assert torch.isfinite(logits).all()
    assert list(reference.reference_students(run.config()["teacher"]).values()) == \
        [str(run.student_dir)]
    assert reference.reference_students("builtin:teacher-early") == {}
    for other in reference.default_runs()[1:]:
        assert not other.student_dir.exists()  # only seed 0 needs its students


@pytest.mark.parametrize("name", experiments.NAMES)
def test_each_experiment_result_is_in_the_current_format(name):
    result = reference.reference_result(name)
    assert result["name"] == name
    for record in result["data"]["records"]:
        assert set(experiments.RECORD_METRICS) <= set(record)
    # the table and the finding, computed again from the shipped numbers by today's code
    assert experiments.summarize(name, result["data"]) == \
        {k: result[k] for k in ("header", "rows", "finding")}
    assert experiment_figure(result).data
    folder = Path(reference.experiment_entry(name)["folder"])
    assert (folder / "finding.txt").read_text().strip() == result["finding"]


def test_the_sweep_reads_back_with_the_sweep_metrics():
    entry = reference.sweep_entry()
    cells = sweep.cells(entry["id"], SHIPPED)
    assert len(cells) >= 2 and all(c["state"] == "done" for c in cells)
    for key in metrics.keys("sweep"):
        assert all(c[key] is not None for c in cells)
    assert entry["command"].startswith("distill sweep --alpha")


# ---------------------------------------------------------------- reproduced or not


def test_reproduces_on_the_reference_seeds_own_numbers():
    ppl = [s["student_ppl"] for s in reference.reference_summaries()]
    mean, spread = mean_spread(ppl)
    assert spread > 0
    for value in ppl:  # a rerun of any reference seed reproduces it
        assert reference.reproduces([value], ppl) is True
    assert reference.reproduces([mean + 1.9 * spread], ppl) is True
    assert reference.reproduces([mean + 2.1 * spread], ppl) is False
    assert reference.reproduces([mean - 2.1 * spread], ppl) is False
    assert reference.reproduces(ppl, ppl) is True  # several seeds: overlap
    assert reference.reproduces([v * 1.5 for v in ppl], ppl) is False
    assert reference.reproduces([ppl[0]], ppl[:1]) is None  # spread unknown


def test_reproduces_with_measured_numbers():
    # student perplexities of three seeds of one setting, and two reruns of it
    seeds = [3.412, 3.398, 3.431]
    assert reference.reproduces([3.405], seeds) is True
    assert reference.reproduces([3.52], seeds) is False
    assert reference.reproduces([3.40, 3.43], seeds) is True
    assert reference.reproduces([3.60, 3.62], seeds) is False


def test_a_rerun_of_the_default_run_against_the_reference():
    summaries = reference.reference_summaries()
    outcome = reference.run_reproduction(summaries[1], summaries)
    assert outcome["reproduced"] is True
    assert outcome["text"].startswith("Reproduced the reference: student perplexity")
    assert [c.what for c in outcome["checks"]] == ["student perplexity",
                                                   "baseline perplexity (no teacher)"]
    worse = {**summaries[0], "student_ppl": 2 * summaries[0]["student_ppl"]}
    outcome = reference.run_reproduction(worse, summaries)
    assert outcome["reproduced"] is False
    assert "Did not reproduce" in outcome["text"] and "outside" in outcome["text"]
    assert "baseline" not in outcome["text"]  # only the check that failed is named


def test_a_rerun_of_an_experiment_against_the_reference():
    ref = reference.reference_result("soft-labels")
    same = reference.experiment_reproduction(ref, ref)
    assert same["reproduced"] is True and same["checks"]
    records = [{**r, "student_ppl": 3 * r["student_ppl"]} for r in ref["data"]["records"]]
    worse = {**ref, "data": {**ref["data"], "records": records}}
    assert reference.experiment_reproduction(worse, ref)["reproduced"] is False
    other_size = reference.experiment_reproduction({**ref, "size": "other"}, ref)
    assert other_size["reproduced"] is None and "Not compared" in other_size["text"]


def test_same_settings_but_for_the_seed():
    base = DistillConfig(baseline=True).to_dict()
    assert reference.same_settings({**base, "seed": 5, "name": "mine"}, base)
    assert not reference.same_settings({**base, "alpha": 0.3}, base)
    assert not reference.same_settings({**base, "no_such_field": 1}, base)
    run = reference.default_run()
    assert reference.is_default_run({**run.config(), "seed": 7, "runs_dir": "elsewhere"})


def test_no_reference_folder_reads_as_empty(monkeypatch, tmp_path):
    monkeypatch.setenv(reference.REFERENCE_ENV, str(tmp_path / "none"))
    assert reference.manifest() == {} and reference.default_runs() == []
    assert reference.experiment_entry("temperature") == {} and reference.sweep_entry() == {}
    assert reference.reference_students("builtin:teacher") == {}
    assert not (tmp_path / "none").exists()  # reading never creates it


# ---------------------------------------------------------------- the rebuild, tiny


def load_rebuild_script():
    spec = importlib.util.spec_from_file_location("reference_script",
                                                  ROOT / "bench" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_tiny_rebuild_writes_the_shipped_format(tmp_path):
    script = load_rebuild_script()
    out = tmp_path / "reference"
    manifest = script.rebuild(out, "tiny", names=["soft-labels"], work=tmp_path / "work")
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert not (tmp_path / "work").exists()  # the temporary runs folder is gone
    fresh = [Run(out, i) for i in manifest["default_run"]["runs"]]
    shipped = reference.default_runs(SHIPPED)
    # the same files and the same summary keys as the shipped set: a change of format shows
    assert {p.name for p in fresh[0].path.iterdir()} == {p.name for p in shipped[0].path.iterdir()}
    assert {p.name for p in fresh[1].path.iterdir()} == {p.name for p in shipped[1].path.iterdir()}
    assert set(fresh[0].summary()) == set(shipped[0].summary())
    assert set(json.loads(fresh[0].config_path.read_text())) == set(shipped[0].config())
    assert [json.loads((r.path / "reference.json").read_text())["command"] for r in fresh] == \
        [f"distill run --baseline {' '.join(script.TINY)} --seed {s}" for s in (0, 1, 2)]
    result = reference.reference_result("soft-labels", out)
    assert set(result) == set(reference.reference_result("soft-labels", SHIPPED))
    assert reference.sweep_entry(out)["id"] and sweep.cells(manifest["sweep"]["id"], out)
    assert str(tmp_path) not in (out / fresh[0].id / "config.json").read_text()
