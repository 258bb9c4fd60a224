"""The one table of summary metrics: its formats, and every view that reads it.

Adding a metric is one entry: a new Metric put into the table shows up in the verdict rows, the
run list, `distill runs` and `distill compare`, the Compare columns and the sweep's table and
heatmap, with no other change."""

import pytest

from distill_core import metrics
from distill_core.app import report, viz
from distill_core.cli import main
from distill_core.errors import InputError
from distill_core.metrics import Metric
from distill_core.store.runs import Run, compare, list_runs
from distill_core.training import sweep

SUMMARY = {"teacher_ppl": 10.0, "student_ppl": 12.5, "baseline_ppl": 15.0, "agreement": 0.61,
           "retention_pct": 80.0, "gap_closed_pct": 45.25, "speedup": 2.345,
           "latency_speedup": 1.5, "size_ratio": 0.25, "steps": 300, "tokens": 614400,
           "wall_seconds": 95.2, "student_params": 1234567, "kl": 0.4321}
CONFIG = {"teacher": "t-big", "student": "s-small", "dataset": "tinytales", "alpha": 0.5,
          "temperature": 2.0, "steps": 100, "loss": "forward_kl"}
KL = Metric("kl", "KL(teacher‖student) at T = 1", "KL", "{:.4f} nats", "nats", True,
            "How far the student's next-token distribution is from the teacher's.",
            metrics.VIEWS)


@pytest.fixture
def with_kl(monkeypatch):
    """The table with one more metric, in every view."""
    monkeypatch.setitem(metrics.METRICS, "kl", KL)
    return KL


def stored_runs(root, n=2) -> list[str]:
    ids = []
    for i in range(n):
        run = Run.create(root, {**CONFIG, "alpha": 0.5 + i / 10}, name=f"r{i}")
        run.write_summary({**SUMMARY, "student_ppl": 12.5 + i})
        run.set_status("done")
        ids.append(run.id)
    return ids


def test_verdict_rows_read_the_same_as_before_the_table():
    assert report.verdict_rows(SUMMARY) == [
        ("teacher perplexity", "10.000"), ("student perplexity", "12.500"),
        ("baseline perplexity (no teacher)", "15.000"),
        ("retention (teacher ppl / student ppl)", "80.0 %"),
        ("gap closed vs baseline", "45.2 %"), ("top-1 agreement with teacher", "61.0%"),
        ("speed-up (forward tokens/s, student / teacher)", "2.35x"),
        ("generation speed-up (ms per new token, teacher / student)", "1.50x"),
        ("size (student / teacher, on disk)", "25.0%"), ("tokens trained", "614,400"),
        ("wall time", "95 s")]
    assert ("baseline perplexity (no teacher)", "-") in report.verdict_rows(
        {**SUMMARY, "baseline_ppl": None})
    assert all(label != "gap closed vs baseline"
               for label, _ in report.verdict_rows({**SUMMARY, "gap_closed_pct": None}))


def test_columns_carry_the_unit_in_their_heading():
    get = metrics.METRICS.__getitem__
    assert (get("retention_pct").heading, get("retention_pct").cell(80.04)) == ("retention %",
                                                                                "80.0")
    assert (get("agreement").heading, get("agreement").cell(0.612)) == ("agreement %", "61.2")
    assert (get("student_ppl").heading, get("student_ppl").cell(3.1)) == ("student ppl", "3.100")
    assert (get("wall_seconds").heading, get("wall_seconds").cell(95.2)) == ("wall time (s)",
                                                                             "95")
    assert get("agreement").number(0.8) == pytest.approx(80.0)
    assert get("student_ppl").cell(None) == "-" and get("agreement").number(None) is None
    assert get("tokens").text(614400) == "614,400" and get("tokens").text("n/a") == "n/a"


def test_table_widget_formats_are_the_compare_pages():
    formats = {m.key: m.column_format() for m in metrics.shown("compare")}
    assert formats == {"teacher_ppl": "%.3f", "student_ppl": "%.3f", "baseline_ppl": "%.3f",
                       "teacher_bpb": "%.4f", "student_bpb": "%.4f", "teacher_bpc": "%.4f",
                       "student_bpc": "%.4f",
                       "retention_pct": "%.1f %%", "gap_closed_pct": "%.1f %%",
                       "equal_flops_baseline_ppl": "%.3f", "equal_flops_baseline_steps": None,
                       "equal_flops_gap_closed_pct": "%.1f %%", "equal_time_baseline_ppl": "%.3f",
                       "equal_time_baseline_steps": None, "equal_time_gap_closed_pct": "%.1f %%",
                       "agreement": "percent", "speedup": "%.2f×", "latency_speedup": "%.2f×",
                       "size_ratio": "percent", "steps": None, "tokens": None,
                       "wall_seconds": "%.0f s"}


def test_views_in_table_order():
    assert metrics.keys("list") == ("student_ppl", "baseline_ppl", "retention_pct")
    assert metrics.keys("sweep") == ("student_ppl", "agreement")
    assert metrics.keys("experiment") == (
        "teacher_ppl", "student_ppl", "baseline_ppl", "retention_pct", "gap_closed_pct",
        "equal_flops_baseline_ppl", "equal_flops_gap_closed_pct", "equal_time_baseline_ppl",
        "equal_time_gap_closed_pct", "agreement", "speedup", "latency_speedup", "size_ratio",
        "student_params", "wall_seconds")
    assert [m.better for m in metrics.shown("sweep")] == ["lower is better", "higher is better"]
    with pytest.raises(ValueError, match="view must be one of"):
        metrics.shown("table")


def test_a_bad_entry_or_name_is_refused():
    with pytest.raises(ValueError, match="unknown views"):
        Metric("x", "x", "x", "{:.1f}", "", True, "", ("verdict", "sidebar"))
    with pytest.raises(ValueError, match="one {} field"):
        Metric("x", "x", "x", "no number", "", True, "", ("verdict",))
    with pytest.raises(InputError, match="student_ppl, agreement"):
        metrics.get("teacher_ppl", "sweep")
    assert metrics.get("teacher_ppl") is metrics.METRICS["teacher_ppl"]


def test_a_new_metric_reaches_the_verdict_and_the_run_store(with_kl, tmp_path):
    assert ("KL(teacher‖student) at T = 1", "0.4321 nats") in report.verdict_rows(SUMMARY)
    ids = stored_runs(tmp_path)
    assert all(row["kl"] == 0.4321 for row in list_runs(tmp_path))
    assert [row["kl"] for row in compare(ids, tmp_path)] == [0.4321, 0.4321]


def test_a_new_metric_reaches_the_cli_tables(with_kl, tmp_path, capsys):
    ids = stored_runs(tmp_path)
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    header, _, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[-4:] == ["retention", "%", "KL", "(nats)"]
    assert all(row.split()[-2:] == ["80.0", "0.4321"] for row in rows)
    assert main(["compare", *ids, "--runs-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines if line.startswith("kl ")] == [
        ["kl", "0.4321", "nats", "0.4321", "nats"]]
    assert any(line.split()[:2] == ["latency_speedup", "1.50x"] for line in lines)


def test_the_cli_run_list_reads_as_before(tmp_path, capsys):
    stored_runs(tmp_path, 1)
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split()[-6:] == ["student", "ppl", "baseline", "ppl", "retention", "%"]
    assert row.split()[-3:] == ["12.500", "15.000", "80.0"]


def test_a_new_metric_reaches_the_sweep(with_kl):
    cells = [{"alpha": 0.5, "temperature": 2.0, "run_id": "r1", "state": "done",
              "student_ppl": 3.1, "agreement": 0.8, "kl": 0.25},
             {"alpha": 0.5, "temperature": 4.0, "run_id": "r2", "state": "running",
              "student_ppl": None, "agreement": None, "kl": None}]
    rows, header = sweep.sweep_table(cells)
    assert header == ["alpha", "T", "student ppl", "agreement %", "KL (nats)", "state", "run"]
    assert rows[0] == ["0.5", "2", "3.100", "80.0", "0.2500", "done", "r1"]
    assert rows[1][2:5] == ["-", "-", "-"]
    assert viz.sweep_metric_titles() == {
        "student_ppl": "final student perplexity (lower is better)",
        "agreement": "final top-1 agreement with teacher (higher is better)",
        "kl": "final KL(teacher‖student) at T = 1 (lower is better)"}
    heat = viz.sweep_heatmap(cells, "kl").to_dict()["data"][0]
    assert list(heat["text"][0]) == ["0.2500 nats", "running"]
    assert heat["colorscale"][0][1] == viz.sweep_heatmap(cells).to_dict()["data"][0][
        "colorscale"][0][1]  # lower is better: the same scale as perplexity's
