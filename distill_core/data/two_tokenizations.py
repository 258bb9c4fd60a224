"""One text, two tokenizations: training blocks for a teacher and a student whose tokenizers
differ (a cross-tokenizer pair).

    blocks = pack_two(dataset, student_tok, teacher_tok, block_size=128)
    blocks.student[i]        block_size ids: the student's block, cut as `pack_blocks` cuts
    blocks.teacher[i]        the teacher's ids for the same text (how many varies by block)
    blocks.student_ends[i]   each token's end, in characters from the block's start (both sides)
    blocks.texts[i]          the text the block covers

Each document is tokenized whole by both tokenizers, with character offsets, and followed by
each tokenizer's end-of-text token, which stands for one separator character (so the two
end-of-text tokens cover the same character and documents always line up). The student's
token stream is cut into blocks of exactly `block_size` tokens; a block's teacher tokens are
the ones lying wholly inside its characters (a teacher token straddling the block's first or
last character is left out of it). A token's characters run from the end of the token before
it to its own end, so a word's leading space belongs to it whatever the tokenizer's offsets say.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from datasets import Dataset

from distill_core.errors import InputError

__all__ = ["SEPARATOR", "TwoTokenizations", "pack_two"]

SEPARATOR = "\n"  # the character an end-of-text token stands for in a block's text


@dataclass
class TwoTokenizations:
    student: list[list[int]] = field(default_factory=list)
    student_ends: list[list[int]] = field(default_factory=list)
    teacher: list[list[int]] = field(default_factory=list)
    teacher_ends: list[list[int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.student)


def _stream(tokenizer, texts: list[str], role: str) -> tuple[list[int], list[int]]:
    """(ids, ends) of all documents joined, each followed by the end-of-text token; ends in
    characters of the joined text (documents joined with SEPARATOR)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InputError(f"the {role}'s tokenizer has no end-of-text (eos) token: pick one "
                         "that has")
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    ids, ends, base = [], [], 0
    for doc, doc_ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        ids.extend(doc_ids)
        ends.extend(base + max(end, 0) for _, end in offsets)
        base += len(doc) + len(SEPARATOR)
        ids.append(eos)
        ends.append(base)
    for i in range(1, len(ends)):  # offsets can step back inside a split character
        ends[i] = max(ends[i], ends[i - 1])
    return ids, ends


def pack_two(dataset: Dataset, student_tok, teacher_tok, block_size: int) -> TwoTokenizations:
    """The dataset's "text" cut into student blocks of `block_size` tokens, each with the
    teacher's tokens of the same characters and both sides' token ends (module doc)."""
    texts = [str(t) for t in dataset["text"]]
    s_ids, s_ends = _stream(student_tok, texts, "student")
    t_ids, t_ends = _stream(teacher_tok, texts, "teacher")
    joined = SEPARATOR.join(texts) + SEPARATOR
    out = TwoTokenizations()
    for a in range(0, len(s_ids) - block_size + 1, block_size):
        start = s_ends[a - 1] if a else 0
        end = s_ends[a + block_size - 1]
        # teacher token j covers [t_ends[j - 1], t_ends[j]): inside when both are
        first = bisect.bisect_left(t_ends, start) + 1 if start else 0
        last = bisect.bisect_right(t_ends, end)
        out.student.append(s_ids[a:a + block_size])
        out.student_ends.append([e - start for e in s_ends[a:a + block_size]])
        out.teacher.append(t_ids[first:last])
        out.teacher_ends.append([e - start for e in t_ends[first:last]])
        out.texts.append(joined[start:end])
    if not out.student:
        raise InputError(f"the data has only {len(s_ids)} student tokens, fewer than one block "
                         f"of {block_size}: use more text or a smaller seq_len")
    return out
