"""The Compare page, driven by AppTest over two real (tiny) finished runs."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import metrics
from distill_core.app import report
from distill_core.config import DistillConfig
from distill_core.store.runs import load_run
from distill_core.training.loop import distill


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, small_teacher_dir):
    """(runs root, [id with a baseline, id without]), trained in this process in seconds."""
    root = tmp_path_factory.mktemp("runs")
    base = {"teacher": str(small_teacher_dir), "student": "builtin:half", "train_docs": 100,
            "steps": 3, "batch_size": 4, "seq_len": 32, "warmup": 0, "eval_every": 1,
            "eval_blocks": 4, "precision": "fp32", "runs_dir": str(root)}
    ids = [distill(DistillConfig(**base, alpha=0.5, baseline=True, name="with-baseline")).run.id,
           distill(DistillConfig(**base, alpha=0.9, name="pure-kd")).run.id]
    return root, ids


def chart(at: AppTest, i: int) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_two_runs_side_by_side(open_page, two_runs):
    root, ids = two_runs
    at = open_page("compare", runs=root)
    at.multiselect(key="compare_runs").set_value(ids).run()
    assert not at.exception and not at.error
    assert at.query_params["runs"] == ",".join(ids)
    summaries = {i: load_run(i, root).summary() for i in ids}

    assert list(at.dataframe[0].value.index) == ids

    cards = [m.value for m in at.markdown]
    for i in ids:
        assert report.verdict_sentence(summaries[i]) in cards
    with_baseline = report.verdict_sentence(summaries[ids[0]])
    assert f"keeps {summaries[ids[0]]['retention_pct']:.1f} %" in with_baseline
    assert f"closes {summaries[ids[0]]['gap_closed_pct']:.1f} %" in with_baseline
    assert "closes" not in report.verdict_sentence(summaries[ids[1]])

    losses, ppl, agreement = (chart(at, i)["data"] for i in range(3))
    for i in ids:
        parts = [t for t in losses if t["name"].startswith(i + " ·")
                 and not t["name"].endswith("(no teacher)")]
        assert len(parts) == 3  # total, KD, CE
        assert sum(t["name"] == f"{i} · student" for t in ppl) == 1
    assert [t["name"] for t in agreement] == ids
    metrics = load_run(ids[1], root).metrics()
    assert agreement[1]["y"] == pytest.approx([100 * r["agreement"] for r in metrics])
    teacher = [t for t in ppl if t["name"] == "teacher"]
    assert len(teacher) == 1
    assert teacher[0]["y"] == pytest.approx([summaries[ids[0]]["teacher_ppl"]] * 2)


def test_a_new_metric_in_the_table_is_a_new_column(open_page, two_runs, monkeypatch):
    """One entry in distill_core.metrics makes a column of the Final metrics table, formatted
    and explained by that entry."""
    root, ids = two_runs
    monkeypatch.setitem(metrics.METRICS, "kl", metrics.Metric(
        "kl", "KL(teacher‖student) at T = 1", "KL", "{:.4f} nats", "nats", True,
        "How far the student is from the teacher.", ("compare",)))
    at = open_page("compare", {"runs": ",".join(ids)}, runs=root)
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(frame["kl"]) == pytest.approx([load_run(i, root).summary()["kl"] for i in ids])
    assert "latency_speedup" in frame.columns and "speedup" in frame.columns
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["kl"]["help"] == "How far the student is from the teacher."
    assert columns["kl"]["type_config"]["format"] == "%.4f nats"


def test_runs_named_in_the_url_are_preselected(open_page, two_runs):
    root, ids = two_runs
    at = open_page("compare", {"runs": f"{ids[1]},no-such-run"}, runs=root)
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [ids[1]]
    assert list(at.dataframe[0].value.index) == [ids[1]]


def test_latest_finished_runs_are_the_default(open_page, two_runs):
    root, ids = two_runs
    at = open_page("compare", runs=root)
    assert set(at.multiselect(key="compare_runs").value) == set(ids)


def test_no_runs_yet(open_page, tmp_path, no_reference):
    at = open_page("compare", runs=tmp_path / "empty")
    assert not at.exception
    assert "No runs yet" in at.info[0].value
    assert not at.get("plotly_chart")


def test_a_run_exported_for_a_trainer_at_scale(open_page, two_runs):
    from distill_core.app import export_files, export_targets

    root, ids = two_runs
    at = open_page("compare", {"runs": ",".join(ids)}, runs=root)
    assert not at.exception
    choice = at.selectbox(key="export_to")
    assert choice.options == [export_targets.TARGETS[t] for t in export_targets.TARGETS]
    choice.set_value("axolotl").run()
    assert not at.exception
    data = export_files.export_zip(load_run(at.selectbox(key="export_run").value, root),
                                   "axolotl")
    assert data[:2] == b"PK"
