"""A fresh install (an empty runs folder) shows the shipped reference results on every page that
would otherwise be empty, labelled as reference; a user's rerun is shown beside it with whether
it reproduced it; and no page writes to the reference folder."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from distill_core.app import reference
from distill_core.training import experiments

SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "reference"
LABEL = "measured on"  # every reference note: "Reference run, measured on <machine>, <date>…"


@pytest.fixture(autouse=True)
def shipped(monkeypatch):
    monkeypatch.setenv(reference.REFERENCE_ENV, str(SHIPPED))


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def fingerprint(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compare_shows_the_reference_runs(open_page, runs_dir):
    at = open_page("compare")
    assert not at.exception and not at.error
    note = texts(at.info)
    assert "No runs of yours yet" in note and "Reference run, measured on" in note
    assert reference.default_entry()["machine"] in note and "train your own to compare" in note
    ids = [r.id for r in reference.default_runs()]
    assert list(at.dataframe[0].value.index) == ids
    assert len(at.get("plotly_chart")) == 3
    assert not any(b.proto.label for b in at.get("download_button"))  # nothing to take away


@pytest.mark.parametrize("name", experiments.NAMES)
def test_experiments_show_each_reference_result(open_page, runs_dir, name):
    at = open_page("experiments")
    at.selectbox(key="experiment_name").set_value(name).run()
    assert not at.exception and not at.error
    assert "Not run yet here. Reference result, measured on" in texts(at.info)
    assert reference.reference_result(name)["finding"] in at.success[0].value
    assert at.get("plotly_chart") and at.dataframe


def test_scrubber_shows_the_reference_runs_probes(open_page, runs_dir):
    at = open_page("scrubber")
    assert not at.exception and not at.error
    assert "Reference run, " + LABEL in texts(at.info)
    assert at.selectbox(key="scrub_run").value == reference.default_run().id
    assert len(at.get("plotly_chart")) == 2 and at.metric


def test_sweep_shows_the_reference_sweep(open_page, runs_dir):
    at = open_page("sweep")
    assert not at.exception and not at.error
    assert "No sweep of yours yet. Reference sweep, " + LABEL in texts(at.info)
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap"
    assert not any("Compare the finished cells" in str(e.proto) for e in at.get("page_link"))


def test_distill_shows_what_the_default_run_gives(open_page, runs_dir):
    at = open_page("distill")
    assert not at.exception and not at.error
    assert "Reference run, " + LABEL in texts(at.info)
    summary = reference.default_run().summary()
    assert f"{summary['retention_pct']:.1f} %" in at.table[0].value["value"].tolist()
    assert at.button(key="start")  # the form is still there


@pytest.mark.slow
def test_soft_labels_offers_the_reference_student(open_page, runs_dir):
    at = open_page("soft_labels")
    choice = at.selectbox(key="student_choice")
    label = next(o for o in choice.options if o.startswith("reference run"))
    choice.set_value(label).run()
    assert not at.exception and not at.error
    assert "The reference run's student, " + LABEL in texts(at.caption)


@pytest.mark.slow
def test_disagreement_offers_the_reference_run(open_page, runs_dir):
    at = open_page("disagreement")
    run_id = reference.default_run().id
    source = at.selectbox(key="dis_source")
    assert source.options[-1] == f"reference run {run_id}"
    source.set_value(run_id).run()
    assert not at.exception and not at.error
    assert "Reference run, " + LABEL in texts(at.caption)
    assert len(at.get("plotly_chart")) == 2  # the baseline and the distilled student


@pytest.mark.slow
def test_no_page_writes_to_the_reference_folder(open_page, runs_dir, tmp_path, monkeypatch):
    copy = tmp_path / "reference"
    shutil.copytree(SHIPPED, copy)
    monkeypatch.setenv(reference.REFERENCE_ENV, str(copy))
    before = fingerprint(copy)
    for page in ("compare", "experiments", "scrubber", "sweep", "distill", "disagreement"):
        assert not open_page(page).exception
    assert fingerprint(copy) == before


def rerun_of(run, runs_dir: Path, student_ppl_times: float = 1.0) -> str:
    """A copy of a reference run in the user's runs folder: a rerun with its very numbers (or
    its student perplexity scaled)."""
    target = runs_dir / f"20990101-000000-rerun-{run.id[-6:]}"
    shutil.copytree(run.path, target, ignore=shutil.ignore_patterns("student", "baseline"))
    summary = json.loads((target / "summary.json").read_text())
    summary["student_ppl"] *= student_ppl_times
    (target / "summary.json").write_text(json.dumps(summary))
    return target.name


def test_compare_says_a_rerun_reproduced_the_reference(open_page, runs_dir):
    runs_dir.mkdir(parents=True)
    mine = rerun_of(reference.default_runs()[1], runs_dir)
    at = open_page("compare", {"runs": mine})
    assert not at.exception and not at.error
    assert "Reproduced the reference: student perplexity" in texts(at.success)
    curves = json.loads(at.get("plotly_chart")[2].proto.spec)["data"]
    assert [c["name"] for c in curves] == [mine, "reference run (seed 0)"]


def test_compare_says_a_rerun_did_not_reproduce_it(open_page, runs_dir):
    runs_dir.mkdir(parents=True)
    mine = rerun_of(reference.default_run(), runs_dir, student_ppl_times=1.5)
    at = open_page("compare", {"runs": mine})
    assert not at.exception
    assert "Did not reproduce the reference" in texts(at.warning)


def test_experiments_say_a_rerun_reproduced_the_reference(open_page, runs_dir):
    entry = reference.experiment_entry("soft-labels")
    mine = runs_dir / experiments.FOLDER / "soft-labels-20990101-000000"
    shutil.copytree(entry["folder"], mine)
    at = open_page("experiments")
    assert not at.exception and not at.error
    assert at.selectbox(key="experiment_folder").value == str(mine)
    assert "Reproduced the reference" in texts(at.success)
    assert "Not run yet" not in texts(at.info)
