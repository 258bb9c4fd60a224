"""One text, two tokenizations: where their token boundaries coincide, and what that gives the
cross-tokenizer losses (`kd.cross_tokenizer`).

    al = align_text("Once upon a time", teacher_tok, student_tok)
    al.groups             [Group(0, 4, teacher=(0, 1), student=(0, 1)), ...]
    al.aligned_share      share of characters in groups of one token on each side
    rows = group_rows([al], student_len=T, teacher_len=T)   # kd.cross_tokenizer.Groups.from_lists
    print("\\n".join(alignment_lines(al)))                 # `distill align`

Each text is tokenized by both tokenizers with character offsets. A *cut* is a character
position where a token ends and the next token starts at or after it (two tokens covering
one character, as byte-level BPE does with a split multi-byte character, give no cut between
them). A *group* is the text between two cuts both tokenizations share; it holds one or more
tokens on each side. Only the token ends are used, so tokenizers that leave a word's leading
space out of its offsets align all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Group", "TextAlignment", "align_text", "align_tokens", "alignment_lines", "group_rows",
           "shared_vocabulary"]


@dataclass(frozen=True)
class Group:
    start: int  # characters [start, end)
    end: int
    teacher: tuple[int, int]  # token indices [a, b)
    student: tuple[int, int]

    @property
    def one_to_one(self) -> bool:
        return self.teacher[1] - self.teacher[0] == 1 and self.student[1] - self.student[0] == 1


@dataclass(frozen=True)
class TextAlignment:
    text: str
    teacher_ids: list[int]
    student_ids: list[int]
    teacher_ends: list[int]  # each token's end, in characters
    student_ends: list[int]
    groups: list[Group]

    @property
    def aligned_chars(self) -> int:
        """Characters in groups of one token on each side (both tokenizers cut them alike)."""
        return sum(g.end - g.start for g in self.groups if g.one_to_one)

    @property
    def aligned_share(self) -> float:
        return self.aligned_chars / len(self.text) if self.text else 0.0


def _tokenize(tokenizer, text: str) -> tuple[list[int], list[int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [end for _, end in enc["offset_mapping"]]


def _cuts(ends: list[int]) -> dict[int, int]:
    """Character position → tokens before it, at every token end that is a clean cut."""
    return {end: i + 1 for i, end in enumerate(ends)
            if i + 1 == len(ends) or ends[i + 1] > end}


def align_text(text: str, teacher_tok, student_tok) -> TextAlignment:
    """Both tokenizations of `text` and the groups between the cuts they share."""
    return align_tokens(text, *_tokenize(teacher_tok, text), *_tokenize(student_tok, text))


def align_tokens(text: str, t_ids: list[int], t_ends: list[int], s_ids: list[int],
                 s_ends: list[int]) -> TextAlignment:
    """`align_text` for tokenizations already made (ids and each token's end, in characters
    of `text`): a training block's two tokenizations (data.two_tokenizations)."""
    t_cuts, s_cuts = _cuts(t_ends), _cuts(s_ends)
    groups, start, t0, s0 = [], 0, 0, 0
    for cut in sorted(t_cuts.keys() & s_cuts.keys()):
        groups.append(Group(start, cut, (t0, t_cuts[cut]), (s0, s_cuts[cut])))
        start, t0, s0 = cut, t_cuts[cut], s_cuts[cut]
    return TextAlignment(text, t_ids, s_ids, t_ends, s_ends, groups)


def group_rows(alignments: list[TextAlignment], *, student_len: int,
               teacher_len: int) -> dict[str, list]:
    """The fields of `kd.cross_tokenizer.Groups` for a batch: row b holds alignments[b]'s
    tokens from position 0, padded to student_len / teacher_len. A group counts when a position
    predicts it (not the first) and all its tokens are inside both rows."""
    rows = {k: [] for k in ("student_pos", "student_end", "student_first", "teacher_pos",
                            "teacher_end", "teacher_first", "one_to_one")}
    for b, al in enumerate(alignments):
        for g in al.groups[1:]:
            if g.student[1] > student_len or g.teacher[1] > teacher_len:
                break
            for side, span, ids, width in (("student", g.student, al.student_ids, student_len),
                                           ("teacher", g.teacher, al.teacher_ids, teacher_len)):
                rows[f"{side}_pos"].append(b * width + span[0] - 1)
                rows[f"{side}_end"].append(b * width + span[1] - 1)
                rows[f"{side}_first"].append(ids[span[0]])
            rows["one_to_one"].append(g.one_to_one)
    return rows


def shared_vocabulary(teacher_tok, student_tok) -> tuple[list[int], list[int]]:
    """(student ids, teacher ids) of the tokens both vocabularies spell the same way, in the
    teacher's id order."""
    s_vocab = student_tok.get_vocab()
    pairs = sorted((i, s_vocab[t]) for t, i in teacher_tok.get_vocab().items() if t in s_vocab)
    return [s for _, s in pairs], [t for t, _ in pairs]


def _visible(piece: str) -> str:
    return piece.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")


def _pieces(al: TextAlignment, ends: list[int], span: tuple[int, int]) -> str:
    starts = [0, *ends[:-1]]
    return "·".join(_visible(al.text[max(starts[i], 0):ends[i]]) for i in range(*span))


def _block(rows: list[str]) -> list[str]:
    return [f"{'teacher':<9}{rows[0]}|", f"{'student':<9}{rows[1]}|", f"{'':<9}{rows[2]}"]


def alignment_lines(al: TextAlignment, width: int = 100) -> list[str]:
    """Both tokenizations one above the other, a column per group ("·" between the tokens of
    a group, "|" between groups), "^" under the groups not cut alike; wrapped at `width`."""
    lines, rows = [], ["", "", ""]
    for g in al.groups:
        cells = [_pieces(al, al.teacher_ends, g.teacher), _pieces(al, al.student_ends, g.student)]
        size = max(len(c) for c in cells)
        cells.append(" " * size if g.one_to_one else "^" * size)
        if rows[0] and 9 + len(rows[0]) + size + 2 > width:
            lines += _block(rows) + [""]
            rows = ["", "", ""]
        rows = [r + ("|" if i < 2 else " ") + c.ljust(size) for i, (r, c) in
                enumerate(zip(rows, cells))]
    if rows[0]:
        lines += _block(rows)
    return [line.rstrip() for line in lines]
