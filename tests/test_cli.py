"""The `distill` command line: real runs on small models, exit codes, a kill mid-run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from distill_core.cli import main
from distill_core.runs import list_runs


def _run_args(teacher_dir, runs_dir, *extra):
    return ["run", "--teacher", str(teacher_dir), "--student", "builtin:half",
            "--train-docs", "200", "--batch-size", "4", "--seq-len", "32", "--warmup", "2",
            "--eval-blocks", "4", "--runs-dir", str(runs_dir), "--quiet", *extra]


def test_twenty_step_run_through_the_cli(small_teacher_dir, tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "distill_core.cli",
           *_run_args(small_teacher_dir, runs, "--steps", "20", "--eval-every", "10",
                      "--baseline")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for label in ("teacher perplexity", "student perplexity", "baseline perplexity",
                  "retention", "gap closed", "speed-up", "size"):
        assert label in done.stdout
    (row,) = list_runs(runs)
    assert row["state"] == "done" and row["baseline_ppl"] is not None
    metrics = [json.loads(line) for line in (runs / row["id"] / "metrics.jsonl").open()]
    assert len(metrics) == 20 and "val_ppl" in metrics[9]


def test_runs_show_compare_export(small_teacher_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(_run_args(small_teacher_dir, runs, "--steps", "3", "--name", "a")) == 0
    assert main(_run_args(small_teacher_dir, runs, "--steps", "3", "--alpha", "0.9",
                          "--name", "b")) == 0
    ids = [r["id"] for r in list_runs(runs)]
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    listing = capsys.readouterr().out
    assert all(i in listing for i in ids)
    assert main(["compare", *ids, "--runs-dir", str(runs)]) == 0
    table = capsys.readouterr().out
    assert "0.9" in table and "student_ppl" in table
    assert main(["show", ids[0], "--runs-dir", str(runs)]) == 0
    assert "done" in capsys.readouterr().out
    out = tmp_path / "exported"
    assert main(["export", ids[0], str(out), "--runs-dir", str(runs)]) == 0
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).config.n_layer == 1


@pytest.mark.parametrize("flags, words", [
    (["--alpha", "1.5"], "alpha"),
    (["--temperature", "0"], "temperature"),
    (["--temperature", "nan"], "temperature"),
    (["--steps", "0"], "steps"),
    (["--student", "builtin:nope"], "unknown built-in"),
    (["--dataset", "missing.txt"], "missing.txt"),
    (["--seq-len", "4096"], "seq_len"),
])
def test_bad_input_exits_2_with_one_line(small_teacher_dir, tmp_path, capsys, flags, words):
    code = main(_run_args(small_teacher_dir, tmp_path / "runs", "--steps", "2", *flags))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert words in err and "\n" not in err and "Traceback" not in err


def test_unknown_run_exits_2(tmp_path, capsys):
    assert main(["show", "no-such-run", "--runs-dir", str(tmp_path)]) == 2
    assert main(["show", "../etc", "--runs-dir", str(tmp_path)]) == 2


def test_pairs_lists_the_registry(capsys):
    assert main(["pairs"]) == 0
    out = capsys.readouterr().out
    for name in ("builtin", "distilgpt2", "TinyStories-3M", "pythia-70m", "SmolLM2-135M"):
        assert name in out


def test_killed_run_leaves_a_readable_store(small_teacher_dir, tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "distill_core.cli",
           *_run_args(small_teacher_dir, runs, "--steps", "5000", "--eval-every", "0")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    metrics = None
    while time.time() < deadline:
        found = list(runs.glob("*/metrics.jsonl")) if runs.exists() else []
        if found and len(found[0].read_text().splitlines()) >= 5:
            metrics = found[0]
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert metrics is not None, "the run never logged five steps"
    lines = metrics.read_text().splitlines()
    records = [json.loads(line) for line in lines[:-1]]  # the last may be torn by the kill
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    (row,) = list_runs(runs)
    assert row["state"] == "running"  # nobody was left to say otherwise
    assert json.loads((metrics.parent / "config.json").read_text())["steps"] == 5000
