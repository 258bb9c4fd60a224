"""A step's time from this machine's record: a timing asked for, else precision=auto's own."""

import json

import pytest
import torch

from distill_core import models
from distill_core.training import precision, step_time


@pytest.fixture(scope="module")
def pair():
    teacher, _ = models.load_teacher("builtin:teacher")
    return teacher, models.load_student("builtin:tiny", teacher)


def test_no_record_then_a_timing_is_remembered_for_its_shapes_only(pair, tmp_path):
    teacher, student = pair
    assert step_time.recorded_step(teacher, student, 16, 128, cache_dir=tmp_path) is None
    calls = []
    entry = step_time.measure_step(teacher, student, 16, 128, cache_dir=tmp_path,
                                   timer=lambda t, s, scale_to: calls.append(scale_to) or 0.75)
    assert calls == [(16, 128)] and entry["seconds"] == 0.75 and entry["source"] == "timing"
    again = step_time.recorded_step(teacher, student, 16, 128, cache_dir=tmp_path)
    assert again == entry and again["measured_at"] and again["measured_on"]
    assert step_time.recorded_step(teacher, student, 16, 64, cache_dir=tmp_path) is None
    other = models.load_student("builtin:half", teacher)  # another shape: not this record
    assert step_time.recorded_step(teacher, other, 16, 128, cache_dir=tmp_path) is None


def test_precision_autos_timing_is_scaled_from_its_rows_to_the_batch(pair, tmp_path):
    teacher, student = pair
    batch = torch.zeros(4, 128, dtype=torch.long)  # a run's micro-batch: batch 16, grad_accum 4
    key = precision.cache_key(student, teacher, batch, "cpu")
    (tmp_path / precision.CACHE_FILE).write_text(json.dumps({key: {
        "precision": "bf16", "fp32_step_s": 0.3, "bf16_step_s": 0.2, "rows": 3,
        "measured_on": "Some CPU", "measured_at": "2026-01-02"}}))
    got = step_time.recorded_step(teacher, student, 16, 128, micro_batch=4, cache_dir=tmp_path)
    assert got["source"] == "precision" and got["seconds"] == pytest.approx(0.3 / 3 * 16)
    assert (got["measured_on"], got["measured_at"]) == ("Some CPU", "2026-01-02")
    assert step_time.recorded_step(teacher, student, 16, 128, cache_dir=tmp_path) is None
    step_time.measure_step(teacher, student, 16, 128, cache_dir=tmp_path,
                           timer=lambda *a, **k: 9.0)  # a timing asked for comes first
    assert step_time.recorded_step(teacher, student, 16, 128, micro_batch=4,
                                   cache_dir=tmp_path)["seconds"] == 9.0
