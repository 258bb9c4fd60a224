"""report: progress, ETA and verdict text. form: widgets from DistillConfig. launch: the checks
made before a run starts."""

import dataclasses
import os

import pytest

from distill_core.app import form, launch, report
from distill_core.cli import verdict_table
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store import jobs

SUMMARY = {"teacher_ppl": 10.0, "student_ppl": 12.5, "baseline_ppl": 15.0, "agreement": 0.61,
           "retention_pct": 80.0, "gap_closed_pct": 45.25, "speedup": 2.345, "size_ratio": 0.25,
           "steps": 300, "tokens": 614400, "wall_seconds": 95.2}


def test_progress_and_eta_from_the_last_logged_step():
    metrics = [{"step": 1, "elapsed_s": 0.5}, {"step": 30, "elapsed_s": 15.0}]
    p = report.progress(metrics, 300)
    assert p["step"] == 30 and p["fraction"] == pytest.approx(0.1)
    assert p["eta_s"] == pytest.approx(135.0)
    assert "step 30 / 300" in report.progress_text("running", p)
    assert "about 2 min 15 s left" in report.progress_text("running", p)
    assert report.progress([], 300) == {"step": 0, "steps": 300, "fraction": 0.0,
                                        "elapsed_s": None, "eta_s": None}
    assert "loading" in report.progress_text("running", report.progress([], 300))


@pytest.mark.parametrize("seconds, text", [(None, "-"), (4.4, "4 s"), (65, "1 min 05 s"),
                                           (3725, "1 h 02 min")])
def test_duration(seconds, text):
    assert report.duration(seconds) == text


def test_verdict_rows_are_the_cli_table():
    rows = report.verdict_rows(SUMMARY)
    table = verdict_table(SUMMARY)
    for label, value in rows:
        assert any(line.startswith(label) and line.endswith(value) for line in table.splitlines())
    assert len(rows) == len(table.splitlines()) - 2


def test_verdict_sentence_uses_the_measured_numbers():
    text = report.verdict_sentence(SUMMARY)
    assert text == ("The student keeps 80.0 % of the teacher's quality at 25.0 % of its size and "
                    "runs 2.35× faster. It closes 45.2 % of the gap to the teacher (against the "
                    "same student trained without one).")
    slow = report.verdict_sentence({**SUMMARY, "speedup": 0.8, "gap_closed_pct": None})
    assert "0.80× the teacher's speed" in slow and "gap" not in slow
    assert "no final measurements" in report.verdict_sentence({})


def test_stalled_means_a_dead_process_behind_an_active_state():
    assert not jobs.stalled({"state": "running", "pid": os.getpid()})
    assert jobs.stalled({"state": "running", "pid": 2**22 + 12345})
    assert not jobs.stalled({"state": "done", "pid": 2**22 + 12345})
    assert not jobs.stalled({"state": "queued"})  # not started yet


def test_the_form_covers_every_field_with_its_help_and_limits():
    fields = form.form_fields({"teacher": "my/teacher"})
    names = [f.name for f in dataclasses.fields(DistillConfig)]
    assert list(fields) == [n for n in names if n not in form.NOT_IN_FORM]
    assert sorted(n for g in form.GROUPS.values() for n in g) == sorted(fields)
    for f in DistillConfig.fields_help():
        if f["name"] in fields:
            assert fields[f["name"]]["kwargs"]["help"].startswith(f["help"])
    assert fields["teacher"]["kwargs"]["value"] == "my/teacher"
    assert fields["alpha"]["widget"] == "slider"
    assert fields["alpha"]["kwargs"].items() >= {"min_value": 0.0, "max_value": 1.0,
                                                 "value": 0.5}.items()
    assert fields["loss"]["widget"] == "selectbox"
    assert fields["steps"]["kwargs"]["value"] == 150 and fields["steps"]["kwargs"]["min_value"] == 1
    assert fields["temperature"]["kwargs"]["min_value"] > 0
    assert fields["baseline"]["widget"] == "checkbox"
    assert fields["name"]["kwargs"]["value"] == ""


def test_the_forms_initial_values_are_the_config_defaults():
    def initial(kwargs):
        return kwargs["options"][kwargs["index"]] if "options" in kwargs else kwargs["value"]

    values = {name: initial(f["kwargs"]) for name, f in form.form_fields().items()}
    assert DistillConfig(**values) == DistillConfig()


def test_checks_before_launch(small_teacher_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    ok = DistillConfig(teacher=str(small_teacher_dir), seq_len=64, warmup=0,
                       runs_dir=str(tmp_path / "runs"))
    launch.check_before_launch(ok)
    for change, message in [({"student": "nobody/no-such-model"}, "not in the local Hugging Face"),
                            ({"teacher": "/no/such/folder"}, "teacher: no model folder"),
                            ({"student": "builtin:huge"}, "unknown built-in model"),
                            ({"seq_len": 65}, "context of 64 tokens"),
                            ({"dataset": "/no/such/file.txt"}, "no data file")]:
        with pytest.raises(InputError, match=message):
            launch.check_before_launch(ok.replace(**change))


def test_a_run_that_ended_badly_gets_one_notice(tmp_path):
    from distill_core.store.runs import Run

    run = Run.create(tmp_path, {"steps": 10})
    assert report.notice(run, {"state": "running", "pid": os.getpid()}, 3) is None
    kind, text = report.notice(run, {"state": "running", "pid": 2**22 + 12345}, 3)
    assert kind == "warning" and "stopped without saying why" in text and "log.txt" in text
    assert report.notice(run, {"state": "failed", "error": "out of memory"}, 3) == (
        "error", "out of memory")
    assert report.notice(run, {"state": "failed"}, 3)[1].startswith("The run failed; see ")
    kind, text = report.notice(run, {"state": "cancelled"}, 3)
    assert kind == "warning" and text.startswith("Cancelled at step 3;")
    assert report.notice(run, {"state": "done"}, 10) is None


def test_run_caption():
    config = {"student": "builtin:tiny", "teacher": "builtin:teacher", "dataset": "tinytales",
              "alpha": 0.9, "temperature": 4.0, "loss": "forward_kl", "steps": 300}
    assert report.run_caption(config) == ("builtin:tiny learning from builtin:teacher on "
                                          "tinytales · α = 0.9 · T = 4.0 · forward_kl · 300 steps")


def test_start_run_checks_then_queues_and_stores_an_upload(small_teacher_dir, tmp_path,
                                                           monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    queued = []
    monkeypatch.setattr(jobs, "launch", lambda config, session=None, fresh=False, limits=None: queued.append(
        (config, session)) or "queued")
    values = {"teacher": str(small_teacher_dir), "seq_len": 64, "warmup": 0}
    stories = "\n\n".join(f"Story {i}: Tom saw a red ball." for i in range(5)).encode()
    assert launch.start_run(values, "s1", ("my stories.txt", stories)) == "queued"
    ((config, session),) = queued
    assert session == "s1" and config.runs_dir == str(root)
    assert config.dataset.startswith(str(root / "uploads")) and config.dataset.endswith(
        "-my_stories.txt")
    with pytest.raises(InputError, match="context of 64 tokens"):
        launch.start_run({**values, "seq_len": 65}, "s1")
    assert len(queued) == 1
