"""On-policy distillation (GKD): the student's own continuations, the loss on them, the loop."""

import os
import signal

import pytest
import torch
import torch.nn.functional as F

from distill_core import cli, models
from distill_core.config import DistillConfig
from distill_core.kd.losses import kd_loss
from distill_core.store.runs import load_run
from distill_core.training import on_policy
from distill_core.training.loop import Cancelled, distill, resume_run
from distill_core.training.on_policy_experiment import compare_on_policy, comparison_table


def _config(teacher_dir, tmp_path, **over):
    base = dict(teacher=str(teacher_dir), student="builtin:tiny", train_docs=200, steps=4,
                batch_size=8, seq_len=32, eval_every=0, eval_blocks=4, lr=3e-3, alpha=0.5,
                precision="fp32", runs_dir=str(tmp_path / "runs"), on_policy=0.5)
    return DistillConfig(**{**base, **over})


def test_gkd_loss_is_kd_loss_where_nothing_was_sampled():
    torch.manual_seed(0)
    s, t = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    y = torch.randint(0, 11, (2, 5))
    for alpha in (0.3, 1.0):
        want, want_parts = kd_loss(s, t, y, alpha=alpha, temperature=2.0, kind="jsd", beta=0.3)
        got, parts = on_policy.gkd_loss(s, t, y, torch.zeros(2, 5, dtype=torch.bool),
                                        alpha=alpha, temperature=2.0, kind="jsd", beta=0.3)
        assert got.item() == pytest.approx(want.item(), rel=1e-6)
        assert parts["kd"].item() == pytest.approx(want_parts["kd"].item(), rel=1e-6)
        assert parts["ce"].item() == pytest.approx(want_parts["ce"].item(), rel=1e-6)


def test_gkd_loss_leaves_the_sampled_tokens_out_of_the_cross_entropy():
    torch.manual_seed(1)
    s = torch.randn(3, 6, 13, requires_grad=True)
    t, y = torch.randn(3, 6, 13), torch.randint(0, 13, (3, 6))
    generated = on_policy.generated_positions(torch.zeros(3, 7, dtype=torch.long), 2, 3)
    assert generated.sum() == 2 * 4 and not generated[:, :2].any() and not generated[2].any()
    total, parts = on_policy.gkd_loss(s, t, y, generated, alpha=0.25, temperature=2.0)
    log_p, log_q = F.log_softmax(t / 2, -1), F.log_softmax(s / 2, -1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()  # every position
    ce = F.cross_entropy(s[~generated], y[~generated])  # the real next tokens only
    assert parts["kd"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert parts["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert total.item() == pytest.approx(0.25 * 4 * kl.item() + 0.75 * ce.item(), rel=1e-5)
    total.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_continue_blocks_keeps_the_prefix_and_is_seeded(small_teacher_dir):
    model, _ = models.load_teacher(str(small_teacher_dir))
    model.train()
    x = torch.randint(0, 500, (4, 24))
    state = torch.get_rng_state()
    a = on_policy.continue_blocks(model, x, 3, 10, 1.0, seed=7, vocab=400)
    assert torch.equal(torch.get_rng_state(), state)  # training's random numbers untouched
    assert model.training  # back in train mode
    b = on_policy.continue_blocks(model, x, 3, 10, 1.0, seed=7, vocab=400)
    c = on_policy.continue_blocks(model, x, 3, 10, 1.0, seed=8, vocab=400)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :10], x[:, :10]) and torch.equal(a[3], x[3])
    assert not torch.equal(a[:3, 10:], x[:3, 10:]) and (a[:3, 10:] < 400).all()
    # at a tiny temperature sampling is greedy decoding
    cold = on_policy.continue_blocks(model, x, 2, 10, 1e-4, seed=1)
    with torch.no_grad():
        greedy = model.eval().generate(input_ids=x[:2, :10], do_sample=False, max_new_tokens=14,
                                       min_new_tokens=14, eos_token_id=None, pad_token_id=0)
    assert torch.equal(cold[:2], greedy)
    assert on_policy.on_policy_rows(8, 0.5) == 4 and on_policy.on_policy_rows(3, 0.5) == 2
    assert on_policy.on_policy_rows(8, 0.0) == 0 and on_policy.on_policy_rows(8, 1.0) == 8


def test_on_policy_run_counts_its_generation_and_repeats_exactly(small_teacher_dir, tmp_path):
    config = _config(small_teacher_dir, tmp_path)
    one = distill(config, store=False)
    two = distill(config, store=False)
    off = distill(config.replace(on_policy=0.0), store=False)
    assert [r["loss"] for r in one.history] == [r["loss"] for r in two.history]
    assert [r["loss"] for r in one.history] != [r["loss"] for r in off.history]
    per_step = 4 * (32 - 16)  # 4 of 8 rows, 16 new tokens each
    assert [r["generated_tokens"] for r in one.history] == [per_step * k for k in (1, 2, 3, 4)]
    s = one.summary
    assert (s["on_policy"], s["generated_tokens"]) == (0.5, 4 * per_step)
    assert 0 < s["generation_s"] == pytest.approx(one.history[-1]["generation_s"], abs=1e-3)
    assert (off.summary["on_policy"], off.summary["generated_tokens"]) == (0.0, 0)
    assert "generated_tokens" not in off.history[-1]  # off-policy records are as before


def test_on_policy_run_resumes_to_the_same_student(small_teacher_dir, tmp_path):
    config = _config(small_teacher_dir, tmp_path, steps=4, checkpoint_every=2,
                     on_policy_prefix=8, on_policy_temperature=1.5)
    whole = distill(config.replace(name="whole"))

    def stop_at_3(e):
        if e["type"] == "step" and e["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Cancelled):
        distill(config.replace(name="cut"), on_event=stop_at_3)
    (cut,) = (tmp_path / "runs").glob("*cut*")
    resumed = resume_run(load_run(cut.name, config.runs_dir))
    assert resumed.summary["generated_tokens"] == whole.summary["generated_tokens"] == 4 * 4 * 24
    assert resumed.summary["student_loss"] == whole.summary["student_loss"]


def test_compare_on_policy_runs_both_and_tabulates(small_teacher_dir, tmp_path, capsys):
    rows = compare_on_policy(_config(small_teacher_dir, tmp_path, steps=2), (0.0, 1.0),
                             eval_blocks=4)
    assert [r["on_policy"] for r in rows] == [0.0, 1.0]
    assert rows[0]["generated_tokens"] == 0 and rows[1]["generated_tokens"] == 2 * 8 * 16
    assert rows[1]["generation_s"] > 0
    assert all(r["sample_kl"] >= 0 and r["teacher_nll_of_samples"] > 0 for r in rows)
    body, header = comparison_table(rows)
    assert len(body) == 2 and len(header) == len(body[0])
    # the command line: the same two runs, stored, and the ratios last
    code = cli.main(["on-policy", "--teacher", str(small_teacher_dir), "--student",
                     "builtin:tiny", "--train-docs", "200", "--steps", "2", "--batch-size", "4",
                     "--seq-len", "32", "--eval-every", "0", "--eval-blocks", "4",
                     "--precision", "fp32", "--quiet", "--runs-dir", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("on-policy / off-policy: training time")
    assert len(list((tmp_path / "cli").glob("*/summary.json"))) == 2


def test_rows_are_counted_over_the_whole_batch_and_spread_over_micro_batches():
    assert on_policy.rows_per_micro_batch(16, 0.1, 4) == [1, 1, 0, 0]  # round(1.6) = 2 in all
    assert on_policy.rows_per_micro_batch(16, 0.5, 4) == [2, 2, 2, 2]
    assert on_policy.rows_per_micro_batch(16, 0.6, 4) == [3, 3, 2, 2]  # round(9.6) = 10
    assert on_policy.rows_per_micro_batch(8, 1.0, 2) == [4, 4]
    assert on_policy.rows_per_micro_batch(8, 0.0, 8) == [0] * 8
    for batch, pieces in ((16, 4), (12, 3), (8, 8), (7, 1)):
        for fraction in (0.05, 0.1, 0.3, 0.5, 0.77, 1.0):
            plan = on_policy.rows_per_micro_batch(batch, fraction, pieces)
            assert sum(plan) == on_policy.on_policy_rows(batch, fraction)
            assert max(plan) - min(plan) <= 1 and max(plan) <= batch // pieces


def test_a_small_fraction_with_grad_accum_still_writes_rows(small_teacher_dir, tmp_path):
    # λ = 0.1 of 16 sequences in 4 micro-batches of 4: per micro-batch round(0.4) was 0 rows
    config = _config(small_teacher_dir, tmp_path, steps=2, batch_size=16, grad_accum=4,
                     on_policy=0.1, eval_blocks=2)
    result = distill(config, store=False)
    per_step = 2 * (32 - 16)  # 2 of 16 rows, 16 new tokens each
    assert [r["generated_tokens"] for r in result.history] == [per_step, 2 * per_step]
    assert result.summary["on_policy_realized"] == pytest.approx(2 / 16)
    assert on_policy.realized_fraction(0, 2, config) == 0.0
