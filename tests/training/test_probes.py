"""Probes: snapshots of both models on fixed prompts, appended per evaluation, read back."""

import copy
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill_core.training import probes
from distill_core.store.runs import Run


@pytest.fixture(scope="module")
def models(small_teacher_dir):
    teacher = AutoModelForCausalLM.from_pretrained(small_teacher_dir)
    tokenizer = AutoTokenizer.from_pretrained(small_teacher_dir)
    student = copy.deepcopy(teacher)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return student.train(), teacher.eval(), tokenizer


def test_snapshot_holds_both_distributions_on_the_teachers_top_tokens(models):
    student, teacher, tokenizer = models
    snap = probes.snapshot(student, teacher, tokenizer, k=5)
    assert list(snap) == list(probes.PROMPTS)
    for prompt, view in snap.items():
        assert len(view["tokens"]) == len(view["teacher"]) == len(view["student"]) == 5
        assert view["teacher"] == sorted(view["teacher"], reverse=True)
        assert sum(view["teacher"]) + view["teacher_rest"] == pytest.approx(1.0, abs=1e-5)
        assert sum(view["student"]) + view["student_rest"] == pytest.approx(1.0, abs=1e-5)
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            t = teacher(input_ids=ids).logits[0, -1, :len(tokenizer)].softmax(-1)
            s = student.eval()(input_ids=ids).logits[0, -1, :len(tokenizer)].softmax(-1)
            student.train()
        assert view["ids"] == t.topk(5).indices.tolist()
        assert view["student"] == pytest.approx(s[view["ids"]].tolist(), abs=1e-6)
        assert view["kl"] == pytest.approx(float((t * (t / s).log()).sum()), abs=1e-5)
    assert student.training and not teacher.training  # modes given back


def test_a_student_equal_to_its_teacher_has_zero_kl(models):
    _, teacher, tokenizer = models
    snap = probes.snapshot(copy.deepcopy(teacher), teacher, tokenizer)
    for view in snap.values():
        assert view["student"] == pytest.approx(view["teacher"])
        assert abs(view["kl"]) < 1e-6


def test_record_appends_and_load_skips_a_torn_line(tmp_path, models):
    student, teacher, tokenizer = models
    run = Run.create(tmp_path, {"steps": 20})
    probes.record(run, 10, student, teacher, tokenizer)
    with open(run.path / probes.FILE, "ab") as f:
        f.write(b'{"step": 15, "probes": {"cut of')  # a kill in the middle of a line
    probes.record(run, 20, student, teacher, tokenizer)
    probes.record(run, 0, student, teacher, tokenizer)
    lines = probes.load(run)
    assert [line["step"] for line in lines] == [0, 10, 20]
    assert lines[1]["probes"] == json.loads(json.dumps(probes.snapshot(student, teacher,
                                                                       tokenizer)))
    raw = (run.path / probes.FILE).read_bytes().splitlines()
    assert len(raw) == 4 and json.loads(raw[2])["step"] == 20  # the torn line stays alone


def test_load_of_a_run_without_probes_is_empty(tmp_path):
    assert probes.load(Run.create(tmp_path, {})) == []
