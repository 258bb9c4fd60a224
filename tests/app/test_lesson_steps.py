"""The lesson's numbers: computed from models, never written in."""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill_core.app import lesson
from distill_core import models
from distill_core.config import DistillConfig
from distill_core.store.runs import Run


@pytest.fixture(scope="module")
def pair(small_teacher_dir):
    teacher = AutoModelForCausalLM.from_pretrained(small_teacher_dir)
    return teacher, AutoTokenizer.from_pretrained(small_teacher_dir)


def test_capacity_counts_parameters(pair):
    teacher, _ = pair
    student = models.make_student(teacher, n_layer=1, n_embd=16, n_head=2)
    cap = lesson.capacity(teacher, student)
    t = sum(p.numel() for p in teacher.parameters())
    s = sum(p.numel() for p in student.parameters())
    assert (cap["teacher"]["parameters"], cap["student"]["parameters"]) == (t, s)
    assert cap["times_smaller"] == pytest.approx(t / s) and cap["student"]["layers"] == 1


def test_teacher_view_and_entropies():
    class Tokens:
        def decode(self, ids):
            return f"t{ids[0]}"

    logits = torch.tensor([2.0, 1.0, 0.5, -3.0])
    view = lesson.teacher_view(logits, Tokens(), 1.0, k=2)
    p = torch.softmax(logits, 0)
    assert view["teacher"] == pytest.approx(p[:2].tolist())
    assert view["entropy"] == pytest.approx(float(-(p * p.log()).sum()), abs=1e-6)
    h = lesson.entropies(logits, (0.5, 1.0, 4.0, 20.0))
    assert h == sorted(h) and h[-1] < torch.log(torch.tensor(4.0))  # rises towards log V


def test_teacher_against_itself_and_a_damaged_copy(pair):
    teacher, tok = pair
    blocks = torch.randint(0, len(tok), (4, 16))
    same = lesson.teacher_against_early(teacher, copy.deepcopy(teacher), blocks)
    assert same["teacher_ppl"] == pytest.approx(same["early_ppl"]) and same["agreement"] == 1.0
    damaged = copy.deepcopy(teacher)
    with torch.no_grad():
        for p in damaged.parameters():
            p.mul_(0.3)
    worse = lesson.teacher_against_early(teacher, damaged, blocks)
    assert worse["kl"] > 0 and worse["agreement"] < 1.0 and worse["tokens"] == 4 * 15


def test_imperfect_teacher_runs_differ_only_in_the_teacher(tmp_path):
    a, b = lesson.imperfect_teacher_configs("builtin:tiny", steps=90)
    assert (a.teacher, b.teacher) == lesson.IMPERFECT_TEACHERS
    assert {**a.to_dict(), "teacher": 0, "name": 0} == {**b.to_dict(), "teacher": 0, "name": 0}
    assert a.eval_every == 30 and a.student == "builtin:tiny"
    run = Run.create(tmp_path, a.to_dict())
    run.write_summary({"student_ppl": 3.5, "teacher_ppl": 2.5, "agreement": 0.8})
    run.set_status("done")
    (row,) = lesson.imperfect_teacher_results([run.id, "gone"], tmp_path)
    assert row == {"run": run.id, "teacher": "builtin:teacher", "state": "done",
                   "teacher_ppl": 2.5, "student_ppl": 3.5, "agreement": 0.8}


def test_every_steps_settings_are_lesson_widgets():
    keys = {"lesson_student", "lesson_prompt", "lesson_temperature", "lesson_alpha"}
    assert len(lesson.STEPS) == 5
    for step in lesson.STEPS:
        assert set(step.settings) <= keys
    assert lesson.STEPS[0].settings["lesson_student"] in lesson.LESSON_STUDENTS
    DistillConfig(alpha=lesson.STEPS[3].settings["lesson_alpha"],
                  temperature=lesson.STEPS[3].settings["lesson_temperature"])


def test_validation_blocks_are_the_lessons_validation_text(small_tokenizer):
    blocks = lesson.validation_blocks(small_tokenizer, n_blocks=4)
    config = lesson.imperfect_teacher_configs()[0]
    assert blocks.shape == (4, config.seq_len) and blocks.dtype == torch.long
    assert int(blocks.max()) < len(small_tokenizer)


def test_finished_runs_show_the_trade_off_of_done_runs_only(tmp_path):
    done = Run.create(tmp_path, {"student": "builtin:tiny", "teacher": "builtin:teacher"})
    done.write_summary({"retention_pct": 91.5, "speedup": 2.5, "size_ratio": 0.3,
                        "student_ppl": 3.0})
    done.set_status("done")
    Run.create(tmp_path, {"student": "builtin:half"}).set_status("running")
    assert lesson.finished_runs(tmp_path) == [{"id": done.id, "student": "builtin:tiny",
                                               "retention_pct": 91.5, "speedup": 2.5,
                                               "size_ratio": 0.3}]


def test_starting_the_imperfect_teacher_runs_queues_both(monkeypatch, tmp_path):
    sessions = []

    def launch(config, session=None, limits=None):  # queue the run, train nothing
        sessions.append(session)
        return Run.create(tmp_path, config.to_dict(), name=config.name)

    monkeypatch.setattr("distill_core.store.jobs.launch", launch)
    ids = lesson.start_imperfect_teacher_runs("builtin:small", "s1")
    rows = lesson.imperfect_teacher_results(ids, tmp_path)
    assert [r["teacher"] for r in rows] == list(lesson.IMPERFECT_TEACHERS)
    assert sessions == ["s1", "s1"]
    assert {Run(tmp_path, i).config()["student"] for i in ids} == {"builtin:small"}
