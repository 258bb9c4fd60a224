"""`distill align --teacher A --student B --text "..."`: one text in both models' tokens, one
above the other, and how much of it both cut alike (the cross-tokenizer losses' groups)."""

from __future__ import annotations

from distill_core import models
from distill_core.errors import InputError
from distill_core.models.alignment import align_text, alignment_lines
from distill_core.models.tokenizers import SAMPLE_TEXT, cross_tokenizer_facts


def cmd_align(args) -> int:
    text = SAMPLE_TEXT if args.text is None else args.text
    if not text.strip():
        raise InputError("--text is empty: give some text to tokenize")
    if not 20 <= args.width <= 1000:
        raise InputError(f"--width must be between 20 and 1000, got {args.width}")
    teacher_tok = models.load_tokenizer(args.teacher)
    student_tok = models.load_tokenizer(args.student, args.teacher)
    al = align_text(text, teacher_tok, student_tok)
    print("\n".join(alignment_lines(al, args.width)))
    facts = cross_tokenizer_facts(teacher_tok, student_tok, text)
    groups = sum(g.one_to_one for g in al.groups)
    print(f"\nteacher: {len(al.teacher_ids):,} tokens of a {len(teacher_tok):,}-token "
          f"vocabulary; student: {len(al.student_ids):,} tokens of {len(student_tok):,}")
    print(f"aligned: {al.aligned_chars:,} of {len(text):,} characters "
          f"({al.aligned_share:.1%}) in {groups:,} of {len(al.groups):,} groups cut into one "
          "token on each side; ^ marks a group cut differently (its tokens joined by ·)")
    run = ("one vocabulary: a run distills token by token"
           if teacher_tok.get_vocab() == student_tok.get_vocab()
           else f"a cross-tokenizer run's `auto` loss: {facts['loss']}")
    print(f"shared vocabulary: {facts['shared_tokens']:,} tokens spelled the same "
          f"({facts['shared_share']:.1%} of the smaller); {run}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("align", help="a text in the teacher's and the student's tokens, one "
                       "above the other, and the share of characters both cut alike")
    p.add_argument("--teacher", required=True, help="builtin:…, a Hugging Face id or a folder")
    p.add_argument("--student", required=True, help="a preset, a Hugging Face id or a folder")
    p.add_argument("--text", default=None, help="the text (default: a built-in sample of "
                   "story, code and numbers)")
    p.add_argument("--width", type=int, default=100, help="wrap the rows at this many "
                   "characters (default 100)")
    p.set_defaults(func=cmd_align)
