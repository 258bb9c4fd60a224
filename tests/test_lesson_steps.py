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
