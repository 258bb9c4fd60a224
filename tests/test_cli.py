"""The `distill` command line: real runs on small models, exit codes, a kill mid-run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from distill_core.cli import main
from distill_core.store.runs import list_runs, load_run


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


def test_run_and_runs_share_the_runs_root_of_the_environment(small_teacher_dir, tmp_path,
                                                              monkeypatch, capsys):
    """Without --runs-dir, `distill run` saves where `distill runs` looks: $DISTILL_RUNS_DIR."""
    runs = tmp_path / "class-runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(runs))
    monkeypatch.chdir(tmp_path)
    args = _run_args(small_teacher_dir, runs, "--steps", "2")
    at = args.index("--runs-dir")
    assert main(args[:at] + args[at + 2:]) == 0
    assert len(list_runs(runs)) == 1 and not (tmp_path / "runs").exists()
    capsys.readouterr()
    assert main(["runs"]) == 0
    assert list_runs(runs)[0]["id"] in capsys.readouterr().out


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


# ---------------------------------------------------------------- distill sweep


def _tiny_flags(teacher_dir, runs_dir):
    return ["--teacher", str(teacher_dir), "--student", "builtin:half", "--train-docs", "200",
            "--steps", "4", "--batch-size", "8", "--seq-len", "32", "--warmup", "1",
            "--eval-every", "0", "--eval-blocks", "4", "--precision", "fp32",
            "--runs-dir", str(runs_dir)]


def _env():
    env = dict(os.environ)
    env.pop("DISTILL_CACHE_DIR", None)  # the cache goes under the test's runs root
    return env


def test_sweep_trains_every_cell_on_one_teacher_cache(small_teacher_dir, tmp_path):
    runs = tmp_path / "runs"
    flags = _tiny_flags(small_teacher_dir, runs)
    at = flags.index("--eval-every")
    del flags[at:at + 2]  # a sweep's own default: evaluate each cell at its end only
    cmd = [sys.executable, "-m", "distill_core.cli", "sweep", "--alpha", "0,1",
           "--temperature", "1,2", *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    (sweep_line,) = [line for line in lines if line.startswith("sweep ")]
    sweep_id = sweep_line.split()[1]
    assert (runs / "_sweeps" / f"{sweep_id}.json").exists()
    header = lines.index(next(line for line in lines if line.startswith("alpha")))
    body = lines[header + 2:]  # after the header and its dashes
    assert len(body) == 4
    assert [tuple(row.split()[:2]) for row in body] == [("0", "1"), ("0", "2"), ("1", "1"),
                                                         ("1", "2")]
    assert all(row.split()[4] == "done" for row in body)
    plan = json.loads((runs / "_sweeps" / f"{sweep_id}.json").read_text())
    rows = {r["id"]: r for r in list_runs(runs)}
    assert len(rows) == 4 and all(r["state"] == "done" for r in rows.values())
    computed = []
    for cell in plan["cells"]:
        summary = json.loads((runs / cell["run_id"] / "summary.json").read_text())
        assert summary["teacher_mode"] == "cached"
        assert cell["run_id"] in done.stdout
        computed.append(summary["teacher_cache_computed"])
    # the four cells train side by side (training/side_by_side.py): the group fills the cache
    # once, as the first student asks for each batch, and every cell reports that one count
    assert computed[0] > 0 and computed == [computed[0]] * 4
    for cell in plan["cells"]:  # each cell evaluated once, at its end
        run = load_run(cell["run_id"], runs)
        assert run.config()["eval_every"] == 0
        assert [r["step"] for r in run.metrics() if "val_loss" in r] == [4]


@pytest.mark.parametrize("grid, words", [
    (["--alpha", "0,x", "--temperature", "1"], "alpha"),
    (["--alpha", "2", "--temperature", "1"], "alpha"),
    (["--alpha", "0,1"], "--temperature"),
    (["--alpha", "0.5", "--temperature", "1,-1"], "temperature"),
])
def test_sweep_bad_grid_exits_2_with_one_line(small_teacher_dir, tmp_path, capsys, grid, words):
    runs = tmp_path / "runs"
    code = main(["sweep", *grid, *_tiny_flags(small_teacher_dir, runs)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert words in err and "\n" not in err and "Traceback" not in err
    assert list_runs(runs) == []  # nothing was planned
    assert not list(runs.glob("_sweeps/*.json"))


# ---------------------------------------------------------------- distill run --resume

# The training process is slowed down (a pause after each logged step) so that the kill lands
# mid-run, after a checkpoint, whatever the machine's speed.
_SLOW_CLI = ("import sys, time\n"
             "from distill_core.store import runs\n"
             "log = runs.Run.log_metrics\n"
             "def slow(self, record):\n"
             "    log(self, record)\n"
             "    time.sleep(0.3)\n"
             "runs.Run.log_metrics = slow\n"
             "from distill_core.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")


def test_killed_run_resumes_to_the_uninterrupted_result(small_teacher_dir, tmp_path,
                                                         capsys, monkeypatch):
    monkeypatch.delenv("DISTILL_CACHE_DIR", raising=False)
    from distill_core.config import DistillConfig
    from distill_core.store.jobs import mark_orphans
    from distill_core.training.loop import distill

    runs = tmp_path / "runs"
    cmd = [sys.executable, "-c", _SLOW_CLI,
           *_run_args(small_teacher_dir, runs, "--steps", "8", "--eval-every", "0",
                      "--checkpoint-every", "2", "--precision", "fp32", "--name", "crash")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    deadline, run_dir = time.time() + 120, None
    try:
        while time.time() < deadline and proc.poll() is None:
            found = list(runs.glob("*/checkpoint/state.pt")) if runs.exists() else []
            if found:
                metrics = found[0].parent.parent / "metrics.jsonl"
                if len(metrics.read_text().splitlines()) >= 3:
                    run_dir = found[0].parent.parent
                    break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert run_dir is not None, f"no checkpoint and 3 steps before the end: {proc.stderr.read()}"
    logged = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").open()]
    assert 3 <= len(logged) < 8
    assert mark_orphans(runs) == [run_dir.name]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"

    assert main(["run", "--resume", run_dir.name, "--runs-dir", str(runs), "--quiet"]) == 0
    assert f"run {run_dir.name} saved" in capsys.readouterr().out
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").open()]
    assert steps == list(range(1, 9))  # steps after the checkpoint were redone, once each
    assert not (run_dir / "checkpoint").exists()
    resumed = json.loads((run_dir / "summary.json").read_text())

    config = DistillConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    whole = distill(config.replace(name="whole"), store=False).summary
    assert resumed["student_loss"] == pytest.approx(whole["student_loss"], abs=1e-6)
    assert resumed["agreement"] == pytest.approx(whole["agreement"], abs=1e-9)
    assert resumed["tokens"] == whole["tokens"]


def test_resume_unknown_run_exits_2(tmp_path, capsys):
    assert main(["run", "--resume", "no-such-run", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-run" in err and "\n" not in err


def test_pairs_say_their_cost_at_scale(capsys):
    assert main(["pairs", "--batch-size", "2", "--seq-len", "512"]) == 0
    out = capsys.readouterr().out
    assert "models+AdamW" in out and "logits 2x512xV" in out and "Cut Cross-Entropy" in out
    assert main(["pairs", "--seq-len", "0"]) == 2
    assert "seq_len must be a whole number" in capsys.readouterr().err
