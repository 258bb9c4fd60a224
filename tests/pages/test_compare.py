"""The Compare page, driven by AppTest over two real (tiny) finished runs."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.app import report
from distill_core.config import DistillConfig
from distill_core.store.runs import load_run
from distill_core.training.loop import distill
from distill_core.app.viz import TEACHER_COLOR, student_color

APP = str(Path(__file__).resolve().parents[2] / "app.py")


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


def open_compare(monkeypatch, root, query=None) -> AppTest:
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/compare.py")
    at.query_params.update(query or {})
    return at.run()


def chart(at: AppTest, i: int) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_two_runs_side_by_side(monkeypatch, two_runs):
    root, ids = two_runs
    at = open_compare(monkeypatch, root)
    at.multiselect(key="compare_runs").set_value(ids).run()
    assert not at.exception and not at.error
    assert at.query_params["runs"] == ",".join(ids)
    summaries = {i: load_run(i, root).summary() for i in ids}

    table = at.dataframe[0].value
    assert list(table.index) == ids
    for i in ids:
        for key in ("student_ppl", "teacher_ppl", "retention_pct", "speedup", "size_ratio"):
            assert table.loc[i, key] == pytest.approx(summaries[i][key])
    assert table.loc[ids[0], "gap_closed_pct"] == pytest.approx(summaries[ids[0]]["gap_closed_pct"])

    cards = [m.value for m in at.markdown]
    for i in ids:
        assert report.verdict_sentence(summaries[i]) in cards
    with_baseline = report.verdict_sentence(summaries[ids[0]])
    assert f"keeps {summaries[ids[0]]['retention_pct']:.1f} %" in with_baseline
    assert f"closes {summaries[ids[0]]['gap_closed_pct']:.1f} %" in with_baseline
    assert "closes" not in report.verdict_sentence(summaries[ids[1]])

    losses, ppl, agreement = (chart(at, i)["data"] for i in range(3))
    for n, i in enumerate(ids):
        parts = [t for t in losses if t["name"].startswith(i + " ·")
                 and not t["name"].endswith("(no teacher)")]
        assert [t["line"]["color"] for t in parts] == [student_color(n)] * 3
        assert sum(t["name"] == f"{i} · student" for t in ppl) == 1
    assert [t["name"] for t in agreement] == ids
    metrics = load_run(ids[1], root).metrics()
    assert agreement[1]["y"] == pytest.approx([100 * r["agreement"] for r in metrics])
    teacher = [t for t in ppl if t["name"] == "teacher"]
    assert len(teacher) == 1 and teacher[0]["line"]["color"] == TEACHER_COLOR
    assert teacher[0]["y"] == pytest.approx([summaries[ids[0]]["teacher_ppl"]] * 2)


def test_runs_named_in_the_url_are_preselected(monkeypatch, two_runs):
    root, ids = two_runs
    at = open_compare(monkeypatch, root, {"runs": f"{ids[1]},no-such-run"})
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [ids[1]]
    assert list(at.dataframe[0].value.index) == [ids[1]]


def test_latest_finished_runs_are_the_default(monkeypatch, two_runs):
    root, ids = two_runs
    at = open_compare(monkeypatch, root)
    assert set(at.multiselect(key="compare_runs").value) == set(ids)


def test_no_runs_yet(monkeypatch, tmp_path):
    at = open_compare(monkeypatch, tmp_path / "empty")
    assert not at.exception
    assert "No runs yet" in at.info[0].value
    assert not at.get("plotly_chart")
