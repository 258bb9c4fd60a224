"""The baseline at equal compute: a --baseline run trains the baseline on to the distilled
student's FLOPs and time, evaluates it there, and says whether distillation beat it."""

import math
from pathlib import Path

import pytest

from distill_core import metrics
from distill_core.app.report import equal_compute_sentence, verdict_rows, verdict_sentence
from distill_core.config import DistillConfig
from distill_core.store.runs import Run
from distill_core.training import throughput
from distill_core.training.equal_compute import MAX_FACTOR
from distill_core.training.loop import distill, prepare

KEYS = ("equal_flops_baseline_ppl", "equal_flops_baseline_steps", "equal_flops_gap_closed_pct",
        "equal_time_baseline_ppl", "equal_time_baseline_steps", "equal_time_gap_closed_pct")


@pytest.fixture(scope="module")
def base(small_teacher_dir, tmp_path_factory):
    return DistillConfig(teacher=str(small_teacher_dir), student="builtin:tiny", train_docs=100,
                         steps=3, batch_size=4, seq_len=32, warmup=0, eval_every=0,
                         eval_blocks=4, precision="fp32", compile="off", baseline=True,
                         runs_dir=str(tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def result(base):
    return distill(base)


def test_baseline_trains_on_to_the_students_flops(base, result):
    summary = result.summary
    prepared = prepare(base)
    n_student = throughput.matmul_params(result.student)
    n_teacher = throughput.matmul_params(prepared.teacher)
    expected = math.ceil(base.steps * (6 * n_student + 2 * n_teacher) / (6 * n_student))
    assert summary["equal_flops_baseline_steps"] == expected > base.steps
    tokens = base.steps * base.batch_size * base.seq_len
    assert summary["student_train_flops"] == tokens * (6 * n_student + 2 * n_teacher)
    assert summary["baseline_step_flops"] == 6 * n_student * base.batch_size * base.seq_len
    assert summary["equal_flops_baseline_ppl"] > 1
    assert summary["equal_flops_baseline_ppl"] != summary["baseline_ppl"]  # it trained on


def test_baseline_trains_on_to_the_students_seconds(base, result):
    summary = result.summary
    assert summary["student_train_s"] > 0 and summary["baseline_train_s"] > 0
    assert base.steps <= summary["equal_time_baseline_steps"] <= MAX_FACTOR * base.steps
    assert summary["equal_time_baseline_ppl"] > 1
    loss = math.log(summary["equal_flops_baseline_ppl"])
    gap = loss - summary["teacher_loss"]
    assert summary["equal_flops_gap_closed_pct"] == pytest.approx(
        100 * (loss - summary["student_loss"]) / gap)


def test_saved_baseline_is_the_one_at_steps(base, result):
    """The continuation is put back: the run's baseline folder is the baseline at `steps`."""
    from transformers import AutoModelForCausalLM

    from distill_core.training import evaluate

    run = Run.create(Path(base.runs_dir) / "saved", base.to_dict())
    stored = distill(base, run=run)
    baseline = AutoModelForCausalLM.from_pretrained(run.baseline_dir)
    prepared = prepare(base)
    ppl = evaluate.compare(baseline, None, prepared.val_blocks[:base.eval_blocks])["student_ppl"]
    assert ppl == pytest.approx(stored.summary["baseline_ppl"], rel=1e-4)
    assert stored.summary["equal_flops_baseline_ppl"] == pytest.approx(
        result.summary["equal_flops_baseline_ppl"], rel=1e-4)  # the same steps, the same answer


def test_no_baseline_no_equal_compute(base):
    summary = distill(base.replace(baseline=False, steps=2), store=False).summary
    assert not any(key in summary for key in KEYS)


def test_metrics_table_has_each_figure_once():
    for key in KEYS:
        assert metrics.get(key).key == key
    assert {"equal_flops_baseline_ppl", "equal_flops_gap_closed_pct"} <= set(
        metrics.keys("compare"))


def test_verdict_says_plainly_who_won(result):
    text = verdict_sentence(result.summary)
    assert "At equal compute, distillation" in text
    rows = dict(verdict_rows(result.summary))
    assert "baseline perplexity at the student's training FLOPs" in rows
    summary = {"student_ppl": 3.0, "equal_flops_baseline_ppl": 3.2,
               "equal_flops_baseline_steps": 60, "equal_time_baseline_ppl": 2.9,
               "equal_time_baseline_steps": 90}
    text = equal_compute_sentence(summary)
    assert "distillation beat training without a teacher" in text
    assert "(60 steps) reached perplexity 3.200 against the student's 3.000" in text
    assert "2.900, which reverses the verdict" in text
    summary.update(equal_flops_baseline_ppl=2.95, equal_time_baseline_ppl=None)
    text = equal_compute_sentence(summary)
    assert "did not beat" in text and "training time" not in text
    assert equal_compute_sentence({"student_ppl": 3.0}) == ""
