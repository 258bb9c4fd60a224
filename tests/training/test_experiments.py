"""The experiments: honest statistics, findings computed from the numbers, each of the five at
its tiny size (table, files, figure), the CLI and the background start."""

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


# --- findings follow the numbers ----------------------------------------------------------------


def _soft_labels(kd_small: float, kd_large: float) -> dict:
    records = []
    for n, kd in ((100, kd_small), (20000, kd_large)):
        for seed, (wiggle, base) in enumerate(((0.0, 0.0), (0.03, 0.01), (-0.03, -0.01))):
            records.append({"train_docs": n, "seed": seed, "student_ppl": kd + wiggle,
                            "baseline_ppl": 4.0 + base, "teacher_ppl": 2.5,
                            "gap_closed_pct": 100 * (4.0 - kd) / 1.5})
    return {"records": records, "alpha": 0.9, "temperature": 1.0, "student": "builtin:small"}


def test_paired_runs_are_compared_by_their_differences():
    # KD is 0.3 below its baseline in every seed, while the seeds themselves differ by 0.5
    data = {"records": [{"train_docs": 100, "seed": s, "student_ppl": 3.0 + 0.5 * s,
                         "baseline_ppl": 3.3 + 0.5 * s, "teacher_ppl": 2.5,
                         "gap_closed_pct": 37.5} for s in range(3)]}
    assert clear_difference([3.0, 3.5, 4.0], [3.3, 3.8, 4.3]) == 0  # as unpaired groups
    out = experiments.summarize("soft-labels", data)
    assert out["rows"][0][-2:] == ["-0.300 ± 0.000", "KD clearly better"]
    assert "beat the no-teacher baseline clearly at 100 stories" in out["finding"]


def test_soft_labels_finding_is_computed_from_the_numbers():
    helped = experiments.summarize("soft-labels", _soft_labels(3.4, 3.99))
    assert "beat the no-teacher baseline clearly at 100 stories" in helped["finding"]
    assert "no clear difference from the baseline at 20,000 stories" in helped["finding"]
    assert "40.0 ± 0.0 % of the baseline-to-teacher gap with 100" in helped["finding"]
    assert "0.7 ± 0.0 % with 20,000 (clearly more with fewer stories)" in helped["finding"]
    hurt = experiments.summarize("soft-labels", _soft_labels(4.5, 3.5))
    assert "clearly worse than the baseline at 100 stories" in hurt["finding"]
    assert hurt["finding"] != helped["finding"]
    assert helped["header"][0] == "train stories" and len(helped["rows"]) == 2


def _temperature(ppl_by_t: dict) -> dict:
    noise = {1.0: (0.0, 0.01, 0.02), 2.0: (0.0, 0.02, 0.01), 4.0: (0.01, -0.01, 0.02)}
    records = [{"temperature": t, "seed": s, "student_ppl": p + noise[t][s]}
               for t, p in ppl_by_t.items() for s in range(3)]
    teacher = [{"temperature": t, "entropy": 0.5 * t, "top_k_mass": 1 / t} for t in ppl_by_t]
    return {"records": records, "teacher": teacher, "alpha": 0.9, "top_k": 64}


def test_temperature_finding_names_the_best_t_and_its_ties():
    two = experiments.summarize("temperature", _temperature({1.0: 3.5, 2.0: 3.0, 4.0: 3.01}))
    assert "lowest at T = 2 (3.010 ± 0.010)" in two["finding"]
    assert "no clear difference from T = 4" in two["finding"]
    assert "entropy went from 0.50 to 2.00 nats" in two["finding"]
    one = experiments.summarize("temperature", _temperature({1.0: 2.5, 2.0: 3.0, 4.0: 3.01}))
    assert "lowest at T = 1" in one["finding"] and "clearly below every other" in one["finding"]
    assert [row[-1] for row in one["rows"]] == ["best", "clearly higher (+0.500 ± 0.010)",
                                                "clearly higher (+0.507 ± 0.015)"]


def test_tuning_finding_names_the_best_cell():
    grid = {(0.0, 1.0): 3.4, (0.0, 2.0): 3.4, (0.5, 1.0): 3.2, (0.5, 2.0): 3.05}
    records = [{"alpha": a, "temperature": t, "seed": 0, "student_ppl": p, "agreement": 0.9,
                "run_id": f"r{i}"} for i, ((a, t), p) in enumerate(grid.items())]
    records += [{"alpha": a, "temperature": t, "seed": s, "student_ppl": p, "agreement": 0.9}
                for s in (1, 2) for (a, t), p in (((0.5, 2.0), 3.06 + 0.01 * s),
                                                  ((0.5, 1.0), 3.21))]
    data = {"records": records, "repeated": [[0.5, 2.0], [0.5, 1.0]], "sweep_id": "s",
            "student": "builtin:half"}
    out = experiments.summarize("tuning", data)
    assert out["finding"].startswith("The best cell of the α × T grid was α = 0.5, T = 2 ")
    assert "clearly better than the runner-up α = 0.5, T = 1" in out["finding"]
    assert "against 3.400 with no teacher" in out["finding"]
    assert experiments.best_cells(data) == ((0.5, 2.0), (0.5, 1.0))
    title = experiment_figure({"name": "tuning", "data": data}).layout.title.text
    assert "best over 3 seeds: α = 0.5, T = 2 (3.067 ± 0.015)" in title


def test_teacher_profile_over_temperature(small_teacher_dir):
    from distill_core import models
    from distill_core.kd.losses import entropy

    teacher, tokenizer = models.load_teacher(str(small_teacher_dir))
    blocks = torch.randint(0, len(tokenizer), (5, 16))
    profile = experiments.teacher_profile(teacher, tokenizer, blocks, [1.0, 2.0, 8.0], k=4,
                                          batch=2)
    logits = models.next_token_logits(teacher, blocks, len(tokenizer)).float()
    assert profile[0]["entropy"] == pytest.approx(entropy(logits).mean().item(), rel=1e-5)
    assert profile[0]["entropy"] < profile[1]["entropy"] < profile[2]["entropy"]
    assert 1 >= profile[0]["top_k_mass"] > profile[1]["top_k_mass"] > profile[2]["top_k_mass"]


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
    result = experiments.run(name, "tiny", root=tmp_path, progress=lines.append)
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


def test_unknown_experiment_or_size():
    with pytest.raises(InputError, match="no experiment named 'nope'"):
        experiments.run("nope")
    with pytest.raises(InputError, match="no size 'huge'"):
        experiments.run("tuning", "huge")


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
