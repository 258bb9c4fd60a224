"""A teacher and a student whose tokenizers differ train end to end: two tiny GPT-2s built from
configs, each with its own byte-level BPE tokenizer trained here (600 and 300 tokens)."""

import pytest
import torch

from distill_core.config import DistillConfig
from distill_core.data.two_tokenizations import pack_two
from distill_core.errors import InputError
from distill_core.training.cross_tokenizer import cross_kind
from distill_core.training.loop import distill, prepare
from tests.conftest import save_small_teacher


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    from distill_core.data import tinytales
    from distill_core.training.build_builtin import train_tokenizer

    tok = train_tokenizer([t for t, _ in tinytales.generate(300, seed=5)], vocab_size=300)
    return save_small_teacher(tmp_path_factory.mktemp("student"), tok)


def _config(teacher, student, tmp_path, **changes):
    return DistillConfig(**{**dict(
        teacher=str(teacher), student=str(student), train_docs=100, steps=12, batch_size=4,
        seq_len=32, warmup=0, lr=3e-3, eval_every=0, eval_blocks=4, precision="fp32",
        compile="off", runs_dir=str(tmp_path / "runs")), **changes})


def test_both_tokenizations_cover_the_same_characters(small_teacher_dir, student_dir):
    from datasets import Dataset
    from transformers import AutoTokenizer

    t_tok = AutoTokenizer.from_pretrained(small_teacher_dir)
    s_tok = AutoTokenizer.from_pretrained(student_dir)
    docs = Dataset.from_dict({"text": ["Once upon a time, a fox ran home.", "The end."] * 4})
    blocks = pack_two(docs, s_tok, t_tok, block_size=8)

    def spelled(tok, ids):  # an end-of-text token stands for one separator character
        return tok.decode(ids).replace(tok.eos_token, "\n")

    assert len(blocks) >= 4
    for i in range(len(blocks)):
        text, t_ends = blocks.texts[i], blocks.teacher_ends[i]
        assert len(blocks.student[i]) == 8 and blocks.student_ends[i][-1] == len(text)
        assert spelled(s_tok, blocks.student[i]) == text
        assert blocks.teacher[i] and 0 < t_ends[0] and t_ends[-1] <= len(text)
        assert text[:t_ends[-1]].endswith(spelled(t_tok, blocks.teacher[i]))  # same characters
        assert len(text) - t_ends[-1] < 12 and t_ends[0] - len(
            t_tok.decode(blocks.teacher[i][:1])) < 12  # only edge tokens left out


@pytest.mark.parametrize("kind", ["uld", "aligned"])
def test_a_cross_tokenizer_pair_trains_and_reports_bits_per_byte(small_teacher_dir, student_dir,
                                                                  tmp_path, kind):
    config = _config(small_teacher_dir, student_dir, tmp_path, alpha=0.5, baseline=True,
                     cross_tokenizer=kind)
    prepared = prepare(config)
    assert prepared.cross.kind == kind and prepared.cross.aligned_share > 0.3
    assert prepared.train_blocks.max() < len(prepared.student_tokenizer)  # the student's ids
    result = distill(config, prepared=prepared)
    losses = [r["loss"] for r in result.history]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learns
    assert all(r["kd"] > 0 for r in result.history)  # the teacher's part is in play
    s = result.summary
    assert s["retention_unit"] == "bits per byte" and s["cross_tokenizer"] == kind
    assert s["retention_pct"] == pytest.approx(100 * 2 ** (s["teacher_bpb"] - s["student_bpb"]))
    gap = s["baseline_bpb"] - s["teacher_bpb"]
    assert s["gap_closed_pct"] == pytest.approx(100 * (s["baseline_bpb"] - s["student_bpb"]) / gap)
    assert s["agreement"] is None  # top-1 agreement needs one vocabulary
    saved = result.run.student_dir  # the student keeps its own tokenizer
    assert (saved / "tokenizer.json").read_text() == (student_dir / "tokenizer.json").read_text()


def test_one_tokenizer_stays_in_nats_and_refuses_a_named_cross_loss(small_teacher_dir,
                                                                    small_tokenizer, tmp_path):
    config = _config(small_teacher_dir, "builtin:half", tmp_path)
    assert cross_kind(config, small_tokenizer, small_tokenizer) is None
    with pytest.raises(InputError, match="cross_tokenizer uld is for a teacher and a student "
                                         "whose tokenizers differ"):
        cross_kind(config.replace(cross_tokenizer="uld"), small_tokenizer, small_tokenizer)
    summary = distill(config.replace(steps=2)).summary
    assert summary["retention_unit"] == "nats per token"


@pytest.mark.parametrize("setting, message", [
    ({"teacher_cache": True}, "rules out teacher_cache"),
    ({"hidden_weight": 1.0}, "rules out hidden_weight"),
    ({"on_policy": 0.5}, "rules out on_policy"),
    ({"loss": "jsd"}, "rules out loss jsd")])
def test_what_cannot_work_across_tokenizers_is_refused_in_one_line(small_teacher_dir, student_dir,
                                                                    tmp_path, setting, message):
    with pytest.raises(InputError, match=message) as err:
        prepare(_config(small_teacher_dir, student_dir, tmp_path, **setting))
    assert "\n" not in str(err.value)
