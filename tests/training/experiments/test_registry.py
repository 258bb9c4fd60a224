"""The registry (names, claims), the sizes, and the result folder read back."""

import json
import os
import subprocess
import sys

import pytest

from distill_core.errors import InputError
from distill_core.training import experiments


def test_one_list_of_names_each_with_its_claim():
    assert experiments.NAMES == ("soft-labels", "temperature", "capacity", "tuning", "limits")
    assert experiments.get("capacity").claim == (
        "A student can only hold what its size allows, and learns more from a better teacher.")
    for name in experiments.NAMES:
        e = experiments.get(name)
        assert e.name == name and e.claim.endswith(".")
        assert callable(e.plan) and callable(e.table) and callable(e.finding)
    with pytest.raises(InputError, match="no experiment named 'nope'; choose one of: "
                       "soft-labels, temperature"):
        experiments.get("nope")


def test_sizes_are_one_type():
    tiny = experiments.size_named("tiny")
    assert tiny is experiments.SIZES["tiny"] and tiny.name == "tiny"
    assert list(tiny.seed_range) == [0, 1] and tiny.config["steps"] == 2
    assert experiments.SIZES["default"].train_docs == (300, 3000, 20000)
    with pytest.raises(InputError, match="no size 'huge'; choose one of: default, tiny"):
        experiments.size_named("huge")


def test_summarize_writes_every_cell_as_text():
    data = {"records": [{"train_docs": 100, "seed": s, "student_ppl": 3.0, "baseline_ppl": 3.3,
                         "teacher_ppl": 2.5, "gap_closed_pct": 37.5} for s in range(2)]}
    out = experiments.summarize("soft-labels", data)
    assert out["rows"][0][:2] == ["100", "2"]
    assert all(isinstance(c, str) for row in out["rows"] for c in row)


def test_new_folders_never_clash_and_list_newest_first(tmp_path):
    first = experiments.new_folder("tuning", tmp_path)
    first.mkdir(parents=True)
    second = experiments.new_folder("tuning", tmp_path)
    assert second != first and second.parent == tmp_path / "_experiments"
    second.mkdir()
    (tmp_path / "_experiments" / "notes").mkdir()  # no timestamp: not a result
    old = tmp_path / "_experiments" / "tuning-20200101-000000"
    old.mkdir()
    assert experiments.list_results(tmp_path, "tuning") == [second, first, old]
    assert experiments.list_results(tmp_path, "limits") == []
    with pytest.raises(InputError, match="no experiment named"):
        experiments.new_folder("nope", tmp_path)


def test_load_result_reads_status_result_and_the_last_log_line(tmp_path):
    folder = experiments.new_folder("limits", tmp_path)
    folder.mkdir(parents=True)
    assert experiments.load_result(folder)["status"] == {"state": "unknown"}
    experiments.write_status(folder, "done")
    (folder / "result.json").write_text(json.dumps({"finding": "F."}))
    (folder / "log.txt").write_text("[1/2] one\n[2/2] two\n\n")
    loaded = experiments.load_result(folder)
    assert loaded["status"] == {"state": "done", "pid": os.getpid()}
    assert loaded["result"] == {"finding": "F."} and loaded["last_line"] == "[2/2] two"
    (folder / "result.json").write_text("{half written")  # unreadable: as if not there
    assert experiments.load_result(folder)["result"] is None
    (folder / "status.json").write_text("[]")
    assert experiments.load_result(folder)["status"] == {"state": "unknown"}


def test_a_running_folder_whose_process_is_gone_reads_as_failed(tmp_path):
    folder = experiments.new_folder("tuning", tmp_path)
    folder.mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    experiments.write_status(folder, "running", pid=int(gone))
    status = experiments.load_result(folder)["status"]
    assert status["state"] == "failed" and "process stopped" in status["error"]
    experiments.write_status(folder, "running")  # this process: alive
    assert experiments.load_result(folder)["status"]["state"] == "running"
