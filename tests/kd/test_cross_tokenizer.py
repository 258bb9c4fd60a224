"""The cross-tokenizer losses against a float64 reference written out group by group, on two
hand-made tokenizers (tests/models/cross_tokenizers.py) where the groups are known."""

import math

import pytest
import torch

from distill_core.errors import InputError
from distill_core.kd.cross_tokenizer import (Groups, cross_tokenizer_kd_loss,
                                             cross_tokenizer_loss, uld_distance)
from distill_core.kd.losses import divergence
from distill_core.models.alignment import align_text, group_rows, shared_vocabulary
from tests.models.cross_tokenizers import TEXT, piece_tokenizer, word_tokenizer


def test_uld_is_the_l1_distance_of_sorted_probabilities_padded_with_zeros():
    p_s = torch.tensor([[0.25, 0.5, 0.25]]).log()
    p_t = torch.tensor([[0.3, 0.7]]).log()
    assert uld_distance(p_s, p_t).item() == pytest.approx(0.2 + 0.05 + 0.25)  # vs .7 .3 0
    shuffled = torch.tensor([[0.25, 0.25, 0.5]]).log()
    assert uld_distance(shuffled, p_t).item() == pytest.approx(0.5)  # no vocabulary map
    assert uld_distance(p_s, p_s).item() == 0.0
    assert uld_distance(p_t, p_s).item() == pytest.approx(0.5)  # either side the wider


def test_uld_of_wide_rows_equals_the_full_sort_in_float64():
    """The top-k shortcut (sorting only the narrower width on the wider side) is exact."""
    gen = torch.Generator().manual_seed(5)
    s = torch.log_softmax(torch.randn(7, 300, generator=gen, dtype=torch.float64), -1)
    t = torch.log_softmax(torch.randn(7, 40, generator=gen, dtype=torch.float64) * 3, -1)
    want = [_sorted_l1(a, b) for a, b in zip(s.exp().tolist(), t.exp().tolist())]
    assert uld_distance(s, t).tolist() == pytest.approx(want, rel=1e-12)


def _labels(ids: list[int]) -> torch.Tensor:
    return torch.tensor([ids[1:] + [-100]])  # labels[t]: the token logits[t] predict


def _setup(seed=0, temperature=1.5):
    t_tok, s_tok = word_tokenizer(), piece_tokenizer()
    al = align_text(TEXT, t_tok, s_tok)
    gen = torch.Generator().manual_seed(seed)
    s_logits = torch.randn(1, len(al.student_ids), len(s_tok), generator=gen,
                           dtype=torch.float64, requires_grad=True)
    t_logits = torch.randn(1, len(al.teacher_ids), len(t_tok), generator=gen,
                           dtype=torch.float64)
    groups = Groups.from_lists(group_rows([al], student_len=len(al.student_ids),
                                          teacher_len=len(al.teacher_ids)))
    shared = tuple(torch.tensor(ids) for ids in shared_vocabulary(t_tok, s_tok))
    return al, s_logits, t_logits, groups, shared, temperature


def _probs(logits, t):
    return torch.softmax(logits[0].detach().double() / t, -1).tolist()


def _sorted_l1(a, b):
    a, b = sorted(a, reverse=True), sorted(b, reverse=True)
    n = max(len(a), len(b))
    a, b = a + [0.0] * (n - len(a)), b + [0.0] * (n - len(b))
    return sum(abs(x - y) for x, y in zip(a, b))


def _span(p, ids, span):
    """p at the group's predicting position, its first token's entry times P(rest | first)."""
    row = list(p[span[0] - 1])
    for j in range(span[0] + 1, span[1]):
        row[ids[span[0]]] *= p[j - 1][ids[j]]
    return row


def _reference(al, s_logits, t_logits, t, kind, shared):
    ps, pt = _probs(s_logits, t), _probs(t_logits, t)
    total = []
    for g in al.groups[1:]:
        if kind == "uld":
            total.append(_sorted_l1(ps[g.student[0] - 1], pt[g.teacher[0] - 1]))
            continue
        qs, qt = _span(ps, al.student_ids, g.student), _span(pt, al.teacher_ids, g.teacher)
        if not g.one_to_one:
            total.append(_sorted_l1(qs, qt))
            continue
        ms, mt = [qs[i] for i in shared[0]], [qt[i] for i in shared[1]]
        ms.append(sum(x for i, x in enumerate(qs) if i not in shared[0]))  # the rest bucket
        mt.append(sum(x for i, x in enumerate(qt) if i not in shared[1]))
        total.append(sum(b * math.log(b / a) for a, b in zip(ms, mt) if b > 0))
    return sum(total) / len(total)


@pytest.mark.parametrize("kind", ["uld", "aligned"])
@pytest.mark.parametrize("seed", [0, 1])
def test_losses_match_a_float64_reference_group_by_group(kind, seed):
    al, s_logits, t_logits, groups, shared, t = _setup(seed)
    got = cross_tokenizer_loss(s_logits, t_logits, groups, student_labels=_labels(al.student_ids),
                               teacher_labels=_labels(al.teacher_ids), temperature=t,
                               kind=kind, shared=shared)
    ref = _reference(al, s_logits, t_logits, t, kind, [x.tolist() for x in shared])
    assert got.dtype == torch.float64 and got.item() == pytest.approx(ref, rel=1e-10)
    got.backward()
    assert torch.isfinite(s_logits.grad).all() and s_logits.grad.abs().sum() > 0


def test_aligned_with_one_tokenizer_is_the_forward_kl(small_tokenizer):
    al = align_text("Once upon a time, a girl saw a dog.", small_tokenizer, small_tokenizer)
    n, vocab = len(al.teacher_ids), len(small_tokenizer)
    gen = torch.Generator().manual_seed(3)
    s, t = (torch.randn(1, n, vocab, generator=gen, dtype=torch.float64) for _ in range(2))
    groups = Groups.from_lists(group_rows([al], student_len=n, teacher_len=n))
    every = torch.arange(vocab)
    got = cross_tokenizer_loss(s, t, groups, student_labels=_labels(al.student_ids),
                               teacher_labels=_labels(al.teacher_ids), temperature=2.0,
                               kind="aligned", shared=(every, every))
    kl = divergence(s[:, :-1], t[:, :-1], kind="forward_kl", temperature=2.0)
    assert got.item() == pytest.approx(kl.item(), rel=1e-9)
    same = cross_tokenizer_loss(s, s, groups, student_labels=_labels(al.student_ids),
                                teacher_labels=_labels(al.student_ids), kind="uld")
    assert same.item() == 0.0


def test_aligned_when_every_student_token_is_shared_weighs_the_renormalised_kl():
    """A student whose whole vocabulary the teacher spells too (3 of the teacher's 5): the
    teacher's other tokens have no counterpart, so the KL is over the shared tokens, the
    teacher's renormalised to them, times the teacher's mass there (not an infinite KL)."""
    p_t = torch.tensor([0.4, 0.1, 0.2, 0.2, 0.1], dtype=torch.float64)  # ids 1, 2, 4 shared
    q_s = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    shared = (torch.tensor([0, 1, 2]), torch.tensor([1, 2, 4]))
    groups = Groups.from_lists({"student_pos": [0], "student_end": [1], "student_first": [0],
                                "teacher_pos": [0], "teacher_end": [1], "teacher_first": [1],
                                "one_to_one": [True]})
    got = cross_tokenizer_loss(q_s.log()[None, None], p_t.log()[None, None], groups,
                               student_labels=torch.tensor([[-100]]),
                               teacher_labels=torch.tensor([[-100]]), kind="aligned",
                               shared=shared)
    mass, on = 0.4, [0.1, 0.2, 0.1]  # the teacher's mass on ids 1, 2, 4
    want = mass * sum(b / mass * math.log((b / mass) / a) for a, b in zip([0.5, 0.3, 0.2], on))
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_total_is_alpha_t2_kd_plus_one_minus_alpha_ce():
    al, s_logits, t_logits, groups, shared, t = _setup()
    labels = _labels(al.student_ids)
    total, parts = cross_tokenizer_kd_loss(s_logits, t_logits, groups, student_labels=labels,
                                           teacher_labels=_labels(al.teacher_ids), alpha=0.3,
                                           temperature=t, kind="aligned", shared=shared)
    ce = torch.nn.functional.cross_entropy(s_logits[0, :-1].float(), labels[0, :-1])
    assert parts["ce"].item() == pytest.approx(ce.item(), rel=1e-6)
    assert total.item() == pytest.approx(0.3 * t * t * parts["kd"].item() + 0.7 * ce.item(),
                                         rel=1e-6)


def test_bad_kinds_and_missing_shared_tokens_are_refused():
    al, s_logits, t_logits, groups, shared, t = _setup()
    args = dict(student_labels=_labels(al.student_ids), teacher_labels=_labels(al.teacher_ids))
    with pytest.raises(InputError, match="must be one of uld, aligned"):
        cross_tokenizer_loss(s_logits, t_logits, groups, kind="forward_kl", **args)
    with pytest.raises(InputError, match="needs tokens both vocabularies share"):
        cross_tokenizer_loss(s_logits, t_logits, groups, kind="aligned", **args)
    empty = Groups.from_lists({f: [] for f in Groups.__dataclass_fields__})
    zero = cross_tokenizer_loss(s_logits, t_logits, empty, kind="uld", **args)
    assert zero.item() == 0.0 and zero.requires_grad
