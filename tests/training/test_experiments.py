"""The experiments end to end: honest statistics, each of the five at its tiny size (table,
files, figure), the CLI and the background start. Each claim's table and finding from known
numbers, clause by clause: tests/training/experiments/."""

import json
import os
import signal
import time

import pytest
import torch

from distill_core.app.experiment_figures import experiment_figure, save_figure
from distill_core.app.launch import launch_experiment
from distill_core.cli import main
from distill_core.errors import InputError
from distill_core.training import experiments
from distill_core.training.stats import (clear_difference, mean_spread, overlap, pareto_front,
                                         plus_minus)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine run faster on one thread than on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- statistics -------------------------------------------------------------------------------


def test_mean_and_spread():
    mean, spread = mean_spread([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and spread == pytest.approx(1.0)  # sample std, n - 1
    assert mean_spread([4.5]) == (4.5, 0.0)
    with pytest.raises(ValueError):
        mean_spread([])


def test_overlap_and_clear_difference():
    assert overlap((3.0, 0.1), (3.15, 0.05))  # touching counts as overlapping
    assert not overlap((3.0, 0.1), (3.3, 0.1))
    assert clear_difference([3.0, 3.01, 2.99], [3.3, 3.31, 3.29]) == -1
    assert clear_difference([3.3, 3.31, 3.29], [3.0, 3.01, 2.99]) == 1
    assert clear_difference([3.0, 3.2, 3.1], [3.15, 3.25, 3.05]) == 0
    assert clear_difference([3.0], [9.0]) is None  # one run: the spread is unknown
    assert plus_minus([1.0, 2.0, 3.0], ".2f") == "2.00 ± 1.00"
    assert plus_minus([2.5]) == "2.500" and plus_minus([]) == "-"


def test_pareto_front():
    # (speed-up, perplexity): faster and lower is better
    points = [(1.0, 2.5), (2.0, 3.0), (1.5, 3.5), (4.0, 9.0), (4.0, 10.0)]
    assert pareto_front(points) == [0, 1, 3]


# --- the built-in students ---------------------------------------------------------------------


def test_large_preset_copies_three_of_four_teacher_layers():
    from distill_core import models

    teacher, _ = models.load_teacher("builtin:teacher")
    large = models.load_student("builtin:large", teacher)
    assert large.config.num_hidden_layers == 3 and large.config.hidden_size == 256
    assert torch.equal(large.transformer.h[2].mlp.c_fc.weight,
                       teacher.transformer.h[2].mlp.c_fc.weight)


# --- each experiment at its tiny size -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["soft-labels", "temperature", "capacity", "tuning"])
def test_experiment_at_tiny_size(name, tmp_path):
    lines = []
    result = experiments.run(name, experiments.SIZES["tiny"], root=tmp_path,
                             progress=lines.append)
    folder = tmp_path / "_experiments" / result["folder"].rsplit("/", 1)[-1]
    assert result["rows"] and all(len(r) == len(result["header"]) for r in result["rows"])
    assert lines and result["finding"].endswith(".") and ". " not in result["finding"]
    assert result["finding"] == experiments.summarize(name, result["data"])["finding"]
    assert json.loads((folder / "status.json").read_text())["state"] == "done"
    assert (folder / "finding.txt").read_text().strip() == result["finding"]
    assert (folder / "table.csv").read_text().splitlines()[0].split(",")[0] == \
        result["header"][0]
    paths = save_figure(experiment_figure(result), folder, png=False)  # the CLI test: PNG
    assert paths[0].name == "figure.html" and paths[0].stat().st_size > 1000
    assert experiments.load_result(folder)["result"]["finding"] == result["finding"]
    assert experiments.list_results(tmp_path, name) == [folder]


@pytest.mark.slow
def test_limits_through_the_cli(tmp_path, capsys):
    out = tmp_path / "limits-out"
    assert main(["experiment", "limits", "--size", "tiny", "--out", str(out),
                 "--runs-dir", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert "on the front" in printed and f"finding: {result['finding']}" in printed
    assert [row[0] for row in result["rows"]][:3] == ["teacher", "tiny", "half"]
    assert (out / "figure.html").exists()  # figure.png too where kaleido finds a browser


def test_unknown_experiment_or_size(tmp_path):
    with pytest.raises(InputError, match="no experiment named 'nope'"):
        experiments.run("nope")
    with pytest.raises(InputError, match="no size 'huge'"):
        experiments.run("tuning", experiments.size_named("huge"))
    with pytest.raises(InputError, match="no size 'huge'"):
        launch_experiment("tuning", "huge", tmp_path)


def test_launch_in_the_background_one_at_a_time(tmp_path):
    folder = launch_experiment("temperature", "tiny", tmp_path)
    assert folder.parent == tmp_path / "_experiments"
    assert experiments.load_result(folder)["status"]["state"] in ("queued", "running")
    with pytest.raises(InputError, match="still running"):
        launch_experiment("capacity", "tiny", tmp_path)
    pid = experiments.load_result(folder)["status"]["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash: the folder must not stay "running" for ever
    deadline = time.time() + 30
    while experiments.load_result(folder)["status"]["state"] != "failed":
        assert time.time() < deadline
        time.sleep(0.1)
    assert "process stopped" in experiments.load_result(folder)["status"]["error"]
    second = launch_experiment("capacity", "tiny", tmp_path)  # the way is free again
    os.kill(experiments.load_result(second)["status"]["pid"], signal.SIGKILL)
