"""The disagreement view: per-token KL and loss difference, the run's models, the coloured text,
the `distill disagree` command."""

import re

import pytest
import torch
import torch.nn.functional as F

from distill_core import cli, models
from distill_core.app import disagreement as dis
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.kd.disagreement import most_disagreeing, token_disagreement
from distill_core.kd.losses import divergence
from distill_core.training.loop import distill


def test_token_disagreement_against_a_direct_computation():
    torch.manual_seed(0)
    t, s = torch.randn(7, 30) * 3, torch.randn(7, 30) * 3
    y = torch.randint(0, 30, (7,))
    for temperature in (0.5, 1.0, 4.0):
        d = token_disagreement(t, s, y, temperature)
        for i in range(7):
            want = divergence(s[i:i + 1], t[i:i + 1], kind="forward_kl", temperature=temperature)
            assert d["kl"][i].item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)
            p, q = F.softmax(t[i], -1), F.softmax(s[i], -1)  # T = 1 for the losses
            ce_t, ce_s = -p[y[i]].log().item(), -q[y[i]].log().item()
            assert d["teacher_ce"][i].item() == pytest.approx(ce_t, rel=1e-5)
            assert d["student_ce"][i].item() == pytest.approx(ce_s, rel=1e-5)
            assert d["ce_diff"][i].item() == pytest.approx(ce_s - ce_t, rel=1e-4, abs=1e-5)
    same = token_disagreement(t, t.clone(), y, 2.0)
    assert same["kl"].abs().max() < 1e-6 and same["ce_diff"].abs().max() < 1e-6
    assert most_disagreeing(torch.tensor([0.1, 0.5, 0.5, 0.2]), 3) == [1, 2, 3]
    with pytest.raises(InputError, match="one token per position"):
        token_disagreement(t, s, y[:3])


def test_token_spans_colour_by_value_and_escape_the_text():
    html = dis.token_spans(["<a>", " b", "\n&c", " d"], [1.0, 0.5, -1.0], scale=1.0, signed=True)
    assert html.startswith('<div style="background:#fff;color:#111')
    assert "&lt;a&gt;" in html and "\n&amp;c" in html and "<a>" not in html
    alphas = [float(a) for a in re.findall(r"rgba\(\d+,\d+,\d+,([\d.]+)\)", html)]
    assert alphas == [dis.STRONGEST, dis.STRONGEST / 2, dis.STRONGEST]
    assert "rgba(31,119,180" in html  # the negative value is blue
    assert 'title="␣b: +1.000 nats"' in html


@pytest.fixture(scope="module")
def run(small_teacher_dir, tmp_path_factory):
    config = DistillConfig(teacher=str(small_teacher_dir), student="builtin:tiny", steps=3,
                           train_docs=200, batch_size=4, seq_len=32, eval_every=0,
                           eval_blocks=4, precision="fp32",
                           runs_dir=str(tmp_path_factory.mktemp("dis") / "runs"))
    return distill(config).run


def test_run_students_are_the_initial_and_the_distilled_student(run, small_teacher_dir):
    teacher, tok = models.load_teacher(str(small_teacher_dir))
    students = dis.run_students(run, teacher)
    assert list(students) == ["before training", "after distillation"]
    initial = models.load_student("builtin:tiny", teacher, seed=0)
    before, after = students.values()
    assert all(torch.equal(a, b) for a, b in zip(before.parameters(), initial.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(after.parameters(), initial.parameters()))
    read = dis.read_text(tok, "Once upon a time there was a little fox.", 64)
    vocab = dis.vocab_of(tok, teacher, after)
    t_logits = dis.text_logits(teacher, read["ids"], vocab)
    s_logits = dis.text_logits(after, read["ids"], vocab)
    assert t_logits.shape == (len(read["ids"]) - 1, vocab) and after.training  # mode kept
    v = dis.view(t_logits, s_logits, read["ids"], 2.0)
    with torch.no_grad():
        direct = after.eval()(read["ids"][None]).logits[0, :-1, :vocab]
    assert torch.allclose(s_logits, direct, atol=1e-5)
    want = token_disagreement(t_logits, direct, read["ids"][1:], 2.0)
    assert torch.allclose(v["kl"], want["kl"]) and torch.allclose(v["ce_diff"], want["ce_diff"])
    rows = dis.worst_tokens(read, t_logits, v, tok, "ce_diff", k=3)
    assert [r["ce_diff"] for r in rows] == sorted(v["ce_diff"].tolist(), reverse=True)[:3]
    assert rows[0]["teacher_top"].count(",") == 2


def test_read_text_refuses_empty_text_and_cuts_long_text(small_teacher_dir):
    tok = models.load_tokenizer(str(small_teacher_dir))
    with pytest.raises(InputError, match="empty"):
        dis.read_text(tok, "   ")
    read = dis.read_text(tok, "the cat sat on the mat " * 40, limit=20)
    assert len(read["ids"]) == 20 and read["cut"]
    assert "".join(read["tokens"]).startswith("the cat sat")


def test_cli_disagree_prints_the_worst_tokens(run, capsys):
    root = str(run.path.parent)
    code = cli.main(["disagree", run.id, "--text", "One day, Lily went to the park with her "
                     "dog.", "--temperature", "2", "--top", "4", "--runs-dir", root])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "after distillation" in out and "mean KL(teacher||student)" in out
    assert len([line for line in out.splitlines() if re.match(r"^\d+ ", line)]) == 4
    assert cli.main(["disagree", run.id, "--passage", "0", "--before", "--runs-dir", root]) == 0
    assert "before training" in capsys.readouterr().out
    assert cli.main(["disagree", run.id, "--runs-dir", root]) == 2  # no text given
    assert dis.validation_passages("tinytales", 0, n=2)[0] in \
        dis.validation_passages("tinytales", 0, n=3)
