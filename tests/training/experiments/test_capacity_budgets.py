"""capacity: every student gets a start and a budget where it learns, and the smallest student
is compared across teachers too; run at the tiny size."""

import pytest

from distill_core.config import DistillConfig
from distill_core.training import experiments
from distill_core.training.experiments.capacity import budget, student_config
from distill_core.training.experiments.labels import EARLY_TEACHER

TINY = experiments.SIZES["tiny"]


def test_random_start_students_learn_hidden_states_for_longer():
    base = DistillConfig(teacher_cache=True, steps=2)
    tiny = student_config(base, "builtin:tiny", TINY)
    assert (tiny.hidden_weight, tiny.steps, tiny.teacher_cache) == (1.0, 4, False)
    half = student_config(base, "builtin:half", TINY)  # cut from the teacher: as it was
    assert (half.hidden_weight, half.steps, half.teacher_cache) == (0.0, 2, True)
    assert budget(tiny) == "4 steps + hidden states" and budget(half) == "2 steps"


@pytest.mark.slow
def test_capacity_at_tiny_size_compares_teachers_for_the_smallest_student(tmp_path):
    result = experiments.run("capacity", TINY, root=tmp_path)
    records = result["data"]["records"]
    early_tiny = [r for r in records if r["teacher"] == EARLY_TEACHER
                  and r["student"] == "builtin:tiny"]
    assert len(early_tiny) == TINY.seeds
    assert all(r["student_ppl"] > 1 for r in records)
    assert "; for the smallest, the tiny student reached perplexity" in result["finding"]
    starts = {row[1]: row[3] for row in result["rows"] if row[0] == "teacher"}
    assert starts == {"tiny": "random, 4 steps + hidden states",
                      "half": "teacher layers, 2 steps"}
