"""The Distill page, driven by AppTest: a real background run, bad input, reattaching, cancel."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.app import report
from distill_core.store.runs import Run, list_runs, load_run

TINY = {"steps": 3, "seq_len": 32, "batch_size": 4, "warmup": 0, "eval_every": 2,
        "eval_blocks": 4, "train_docs": 100}


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, small_teacher_dir):
    root = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    return root


def fill(at: AppTest, teacher, **fields) -> AppTest:
    """Tiny settings (a field given as None is not on the form, e.g. train_docs for uploads)."""
    at.text_input(key="cfg_teacher").set_value(str(teacher))
    for name, value in {**TINY, **fields}.items():
        if value is not None:
            at.get_by_key(f"cfg_{name}").set_value(value)
    at.selectbox(key="cfg_precision").set_value("fp32")
    return at


def wait_until_finished(run: Run, seconds=120) -> dict:
    deadline = time.time() + seconds
    while (status := run.status()).get("state") in report.ACTIVE_STATES:
        assert time.time() < deadline, f"run still {status.get('state')} after {seconds} s"
        time.sleep(0.5)
    return status


def test_start_watch_and_see_the_verdict(open_page, runs_dir, small_teacher_dir):
    at = fill(open_page("distill"), small_teacher_dir)
    at.checkbox(key="cfg_baseline").check()
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state["run"]
    assert at.query_params["run"] == run_id  # a reload finds it
    assert at.get("progress")  # the live panel is up before the run ends
    run = load_run(run_id, runs_dir)
    assert run.config()["teacher"] == str(small_teacher_dir)
    assert run.config()["runs_dir"] == str(runs_dir)

    status = wait_until_finished(run)
    assert status["state"] == "done", (run.path / "log.txt").read_text()[-2000:]
    at.run()
    assert not at.exception and not at.error
    summary = run.summary()
    shown = at.table[0].value
    assert list(zip(shown["metric"], shown["value"])) == report.verdict_rows(summary)
    verdict = at.success[0].value
    assert f"keeps {summary['retention_pct']:.1f} %" in verdict
    assert f"{100 * summary['size_ratio']:.1f} % of its size" in verdict
    assert f"closes {summary['gap_closed_pct']:.1f} %" in verdict
    assert at.get("page_link")[0].proto.page.endswith("compare")
    assert len(at.get("plotly_chart")) == 3  # losses, perplexity, agreement

    # a new session (a reload, another tab) with the run in the URL shows the same run
    again = open_page("distill", {"run": run_id})
    assert not again.exception
    assert again.table[0].value.equals(shown)


def test_a_pair_whose_tokenizers_differ_trains_from_the_page(open_page, runs_dir,
                                                             small_teacher_dir):
    """Issue 21 from the app: the small teacher (its own 600-token tokenizer) teaching a student
    cut from the built-in teacher (3,392 tokens) trains across tokenizers, and the verdict
    reads in bits per byte."""
    at = fill(open_page("distill"), small_teacher_dir, student="builtin:teacher:small")
    at.checkbox(key="cfg_baseline").check()
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    run = load_run(at.session_state["run"], runs_dir)
    status = wait_until_finished(run, seconds=240)
    assert status["state"] == "done", (run.path / "log.txt").read_text()[-2000:]
    at.run()
    assert not at.exception and not at.error
    summary = run.summary()
    assert summary["cross_tokenizer"] in ("uld", "aligned")
    assert summary["retention_unit"] == "bits per byte" and summary["agreement"] is None
    assert f"closes {summary['gap_closed_pct']:.1f} %" in at.success[0].value


@pytest.mark.parametrize("field, value, message", [
    ("student", "nobody/no-such-model", "nobody/no-such-model"),
    ("teacher", "/no/such/teacher", "no model folder"),
    ("seq_len", 128, "context of 64 tokens"),
    ("warmup", 30, "warmup must be between 0 and steps=3"),
])
def test_bad_settings_show_an_error_and_start_nothing(open_page, runs_dir, small_teacher_dir,
                                                      field, value, message):
    at = fill(open_page("distill"), small_teacher_dir)
    at.get_by_key(f"cfg_{field}").set_value(value)
    at.button(key="start").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert list_runs(runs_dir) == [] and "run" not in at.session_state


def test_binary_upload_is_refused(open_page, runs_dir, small_teacher_dir):
    at = open_page("distill")
    at.radio(key="data_source").set_value("uploaded file").run()
    fill(at, small_teacher_dir, train_docs=None)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    at.file_uploader(key="upload").set_value(("stories.txt", png, "text/plain"))
    at.button(key="start").click().run()
    assert not at.exception
    assert any("binary" in e.value for e in at.error), [e.value for e in at.error]
    assert list_runs(runs_dir) == [] and not list((runs_dir / "uploads").glob("*"))


def test_runs_in_progress_are_listed_and_cancel_stops_them(open_page, runs_dir):
    # A stand-in for a training process: the page only talks to it through its pid.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = Run.create(runs_dir, {"steps": 10})
        run.set_status("running", pid=worker.pid)
        run.log_metrics({"step": 4, "elapsed_s": 2.0, "loss": 3.0, "kd": 2.0, "ce": 4.0})
        at = open_page("distill")
        assert at.selectbox(key="reattach").options == [run.id]
        at.selectbox(key="reattach").set_value(run.id).run()
        assert at.session_state["run"] == run.id and at.query_params["run"] == run.id
        assert at.get("progress")[0].proto.value == 40
        assert "step 4 / 10" in at.get("progress")[0].proto.text
        assert "about 3 s left" in at.get("progress")[0].proto.text
        at.button(key="cancel").click().run()
        assert not at.exception
        assert worker.wait(timeout=10) == -15  # SIGTERM
    finally:
        worker.kill()


def test_an_uploaded_file_becomes_the_runs_dataset(open_page, runs_dir, small_teacher_dir):
    import json

    from distill_core.data import tinytales

    lines = [json.dumps({"story": text}) for text, _ in tinytales.generate(80, seed=3)]
    at = open_page("distill")
    at.radio(key="data_source").set_value("uploaded file").run()
    fill(at, small_teacher_dir, train_docs=None, text_column="story", eval_every=0)
    at.file_uploader(key="upload").set_value(
        ("../my stories.jsonl", "\n".join(lines).encode(), "application/json"))
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    run = load_run(at.session_state["run"], runs_dir)
    dataset = Path(run.config()["dataset"])
    assert dataset.parent == runs_dir / "uploads" and dataset.name.endswith("-my_stories.jsonl")
    status = wait_until_finished(run)
    assert status["state"] == "done", (run.path / "log.txt").read_text()[-2000:]
