"""Two tokenizations of one text: the shared cuts, the groups between them, the shared
vocabulary and the side-by-side view, on hand-made tokenizers where the answer is known."""

from tests.models.cross_tokenizers import TEXT, piece_tokenizer, word_tokenizer

from distill_core.models.alignment import (align_text, alignment_lines, group_rows,
                                           shared_vocabulary)


def test_groups_are_the_text_between_shared_cuts():
    al = align_text(TEXT, word_tokenizer(), piece_tokenizer())
    assert al.teacher_ids == [1, 2, 3, 4, 1, 5]  # the cat sat on the mat
    assert al.student_ids == [12, 4, 10, 6, 10, 13, 12, 9, 10]  # the c at s at on the m at
    assert [(g.start, g.end) for g in al.groups] == [(0, 3), (3, 7), (7, 11), (11, 14),
                                                     (14, 18), (18, 22)]
    assert [g.teacher for g in al.groups] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert [g.student for g in al.groups] == [(0, 1), (1, 3), (3, 5), (5, 6), (6, 7), (7, 9)]
    assert [g.one_to_one for g in al.groups] == [True, False, False, True, True, False]
    assert al.aligned_chars == 3 + 3 + 4 and al.aligned_share == 10 / 22


def test_one_tokenizer_against_itself_is_aligned_everywhere(small_tokenizer):
    al = align_text("Once upon a time, a girl said: \"ok\".\nThe end.", small_tokenizer,
                    small_tokenizer)
    assert al.aligned_share == 1.0 and all(g.one_to_one for g in al.groups)
    assert len(al.groups) == len(al.teacher_ids) > 10


def test_a_character_split_over_two_tokens_is_one_group(small_tokenizer):
    al = align_text("a café ☕", small_tokenizer, small_tokenizer)  # byte-level BPE splits ☕
    split = [g for g in al.groups if not g.one_to_one]
    assert split and all(g.teacher == g.student and g.teacher[1] - g.teacher[0] > 1
                         for g in split)
    assert al.groups[-1].end == len("a café ☕")
    assert al.aligned_chars == len("a café ☕") - sum(g.end - g.start for g in split)


def test_shared_vocabulary_is_the_tokens_spelled_alike():
    student_ids, teacher_ids = shared_vocabulary(word_tokenizer(), piece_tokenizer())
    assert teacher_ids == [0, 1, 4] and student_ids == [0, 12, 13]  # [UNK], the, on


def test_group_rows_index_the_predicting_positions_of_a_batch():
    al = align_text(TEXT, word_tokenizer(), piece_tokenizer())
    rows = group_rows([al, al], student_len=9, teacher_len=6)
    assert rows["student_pos"][:5] == [0, 2, 4, 5, 6]  # the last token of the group before
    assert rows["student_end"][:5] == [2, 4, 5, 6, 8]
    assert rows["student_first"][:5] == [4, 6, 13, 12, 9]  # c s on the m
    assert rows["teacher_pos"][:5] == [0, 1, 2, 3, 4] and rows["teacher_end"][:5] == [1, 2, 3, 4, 5]
    assert rows["student_pos"][5:] == [9 + p for p in rows["student_pos"][:5]]
    assert rows["teacher_pos"][5:] == [6 + p for p in rows["teacher_pos"][:5]]
    assert rows["one_to_one"] == [False, False, True, True, False] * 2
    short = group_rows([al], student_len=6, teacher_len=6)  # student tokens 6, 7, 8 left out
    assert short["student_end"] == [2, 4, 5] and short["teacher_end"] == [1, 2, 3]


def test_the_view_puts_groups_in_columns_and_marks_the_ones_cut_differently():
    lines = alignment_lines(align_text(TEXT, word_tokenizer(), piece_tokenizer()))
    assert lines == ["teacher  |the|␣cat |␣sat |␣on|␣the|␣mat |",
                     "student  |the|␣c·at|␣s·at|␣on|␣the|␣m·at|",
                     "              ^^^^^ ^^^^^          ^^^^^"]
    wrapped = alignment_lines(align_text(TEXT, word_tokenizer(), piece_tokenizer()), width=30)
    assert len(wrapped) == 7 and wrapped[3] == "" and all(len(line) <= 30 for line in wrapped)


def test_the_verdict_for_two_vocabularies_gives_the_cross_tokenizer_facts():
    from distill_core import models
    from distill_core.models.tokenizers import cross_tokenizer_facts

    facts = cross_tokenizer_facts(word_tokenizer(), piece_tokenizer(), TEXT)
    assert facts == {"shared_tokens": 3, "shared_share": 0.5, "aligned_chars": 10,
                     "sample_chars": 22, "aligned_share": 10 / 22, "loss": "aligned"}
    verdict = models.check_compatibility(word_tokenizer(), piece_tokenizer())
    assert not verdict.ok and verdict.verdict == "different_vocabulary"
    assert verdict.details["cross_tokenizer"]["shared_tokens"] == 3
    assert "3 tokens are spelled the same in both vocabularies (50% of the smaller)" in \
        verdict.message and "a cross-tokenizer loss would be `aligned`" in verdict.message
    few = cross_tokenizer_facts(piece_tokenizer(), word_tokenizer(), TEXT)
    assert few["loss"] == "aligned" and few["aligned_chars"] == 10
