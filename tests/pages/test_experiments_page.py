"""The Experiments page over result folders on disk: a finished one (finding, figure, table), a
failed one, none yet, and a start refused while another experiment runs."""

import json
import os

import pytest

from distill_core.training import experiments


def _finished(root, name="soft-labels"):
    records = [{"train_docs": n, "seed": s, "student_ppl": kd + 0.01 * s,
                "baseline_ppl": 4.0 + 0.01 * s, "teacher_ppl": 2.5,
                "gap_closed_pct": 100 * (4.0 - kd) / 1.5}
               for n, kd in ((100, 3.4), (20000, 3.99)) for s in range(3)]
    data = {"records": records, "alpha": 0.9, "temperature": 2.0, "student": "builtin:small"}
    folder = experiments.new_folder(name, root)
    folder.mkdir(parents=True)
    result = {"name": name, "size": "default", "claim": experiments.get(name).claim,
              **experiments.summarize(name, data), "data": data, "wall_seconds": 321.0,
              "created": "2026-12-02T16:00:00+00:00", "machine": "AMD EPYC, 2 cores",
              "folder": str(folder)}
    (folder / "result.json").write_text(json.dumps(result))
    experiments.write_status(folder, "done")
    return folder, result


def test_a_finished_experiment_shows_its_finding_figure_and_table(open_page, tmp_path):
    folder, result = _finished(tmp_path)
    at = open_page("experiments", runs=tmp_path)
    assert not at.exception and not at.error
    assert at.selectbox(key="experiment_folder").value == str(folder)
    assert result["finding"] in at.success[0].value
    lines = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    assert lines[0]["x"] == [100, 20000]
    assert lines[0]["y"][0] == pytest.approx(3.41)  # the mean of 3.40, 3.41 and 3.42
    assert at.dataframe[0].value.columns[0] == "train stories"
    assert "321 s on AMD EPYC" in at.caption[-1].value


def test_no_result_yet_and_a_failed_one(open_page, tmp_path, no_reference):
    at = open_page("experiments", runs=tmp_path)
    assert not at.exception and "Not run yet" in at.info[0].value
    folder = experiments.new_folder("soft-labels", tmp_path)
    folder.mkdir(parents=True)
    experiments.write_status(folder, "failed", error="out of memory")
    at = open_page("experiments", runs=tmp_path)
    assert "failed: out of memory" in at.error[0].value


def test_start_refused_while_another_runs(open_page, tmp_path):
    folder = experiments.new_folder("tuning", tmp_path)
    folder.mkdir(parents=True)
    experiments.write_status(folder, "running", pid=os.getpid())  # alive: this test
    at = open_page("experiments", runs=tmp_path)
    at.button(key="experiment_start").click().run()
    assert not at.exception
    assert "still running" in at.error[0].value
    assert experiments.list_results(tmp_path) == [folder]
