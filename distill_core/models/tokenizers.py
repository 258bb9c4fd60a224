"""Can two models be distilled token by token? The tokenizer compatibility check."""

from __future__ import annotations

from dataclasses import dataclass, field

from distill_core.errors import InputError
from distill_core.models.alignment import align_text, shared_vocabulary

# A few lines of mixed text (story, numbers, code, accents) on which two tokenizers are compared
SAMPLE_TEXT = ("Once upon a time, a little fox found 3 shiny stones near the river. "
               "\"Can I keep them?\" she asked her mother.\n"
               "def add(a, b):\n    return a + b  # 2 + 2 = 4\n"
               "The café served crème brûlée at 7:30 p.m. on 12 March 2024.")
SHARED_FOR_ALIGNED = 0.5  # `auto` takes the aligned loss from this share of shared tokens on

@dataclass
class Compatibility:
    ok: bool
    verdict: str  # identical | padded_rows | special_tokens_differ | different_vocabulary
    message: str
    vocab_size: int = 0  # logits positions both models share (real tokens)
    details: dict = field(default_factory=dict)


def cross_tokenizer_facts(teacher_tok, student_tok, text: str = SAMPLE_TEXT) -> dict:
    """What distilling across two tokenizers would work with: tokens both vocabularies spell
    alike, the share of `text`'s characters that both cut into the same single tokens, and
    the loss `auto` picks ("aligned" where the shared tokens are at least SHARED_FOR_ALIGNED
    of the smaller vocabulary, else "uld")."""
    shared = len(shared_vocabulary(teacher_tok, student_tok)[0])
    smaller = min(len(teacher_tok.get_vocab()), len(student_tok.get_vocab()))
    al = align_text(text, teacher_tok, student_tok)
    return {"shared_tokens": shared, "shared_share": shared / smaller if smaller else 0.0,
            "aligned_chars": al.aligned_chars, "sample_chars": len(text),
            "aligned_share": al.aligned_share,
            "loss": "aligned" if smaller and shared >= SHARED_FOR_ALIGNED * smaller else "uld"}


def cross_tokenizer_text(facts: dict) -> str:
    """The facts in one sentence."""
    return (f"{facts['shared_tokens']:,} tokens are spelled the same in both vocabularies "
            f"({facts['shared_share']:.0%} of the smaller); on a sample, "
            f"{facts['aligned_chars']:,} of {facts['sample_chars']:,} characters "
            f"({facts['aligned_share']:.0%}) fall in tokens both cut alike; a cross-tokenizer "
            f"loss would be `{facts['loss']}`")


def _specials(tok) -> dict:
    return {k: getattr(tok, k, None) for k in ("eos_token", "bos_token", "pad_token", "unk_token")}


def check_compatibility(teacher_tok, student_tok, teacher_rows: int | None = None,
                        student_rows: int | None = None) -> Compatibility:
    """Can these two models be distilled token by token? A specific verdict either way.

    Distillation compares next-token distributions position by position, so both models must
    give the same token the same id. Embedding rows past the real vocabulary (models pad them
    to a round number, e.g. 152,064 vs 151,936) do not matter: logits are compared on the real
    tokens only.
    """
    tv, sv = teacher_tok.get_vocab(), student_tok.get_vocab()
    n = len(tv)
    if tv != sv:
        missing = sum(1 for t, i in tv.items() if sv.get(t) != i)
        cross = cross_tokenizer_facts(teacher_tok, student_tok)
        return Compatibility(
            False, "different_vocabulary",
            f"tokenizers differ: {missing:,} of the teacher's {len(tv):,} tokens are missing "
            f"from the student's {len(sv):,}-token vocabulary or have other ids; token-by-token "
            "distillation needs one shared vocabulary, so pick a student from the teacher's "
            f"family ({cross_tokenizer_text(cross)}; `distill align` shows both cuts)",
            0, {"teacher_tokens": len(tv), "student_tokens": len(sv), "mismatched": missing,
                "cross_tokenizer": cross})
    details = {"tokens": n, "teacher_rows": teacher_rows, "student_rows": student_rows}
    st, ss = _specials(teacher_tok), _specials(student_tok)
    if st != ss:
        diff = {k: (st[k], ss[k]) for k in st if st[k] != ss[k]}
        return Compatibility(
            True, "special_tokens_differ",
            f"same vocabulary ({n:,} tokens) but different special tokens {diff}; the "
            "teacher's special tokens are used for the data", n, details | {"specials": diff})
    if teacher_rows and student_rows and teacher_rows != student_rows:
        return Compatibility(
            True, "padded_rows",
            f"same tokenizer ({n:,} tokens); embedding rows are padded differently "
            f"({teacher_rows:,} vs {student_rows:,}), so logits are compared on the {n:,} "
            "real tokens", n, details)
    return Compatibility(True, "identical", f"identical tokenizers ({n:,} tokens)", n, details)


def require_compatible(teacher_tok, student_tok, teacher_rows=None, student_rows=None):
    """`check_compatibility`, raising InputError with its message when the pair cannot work."""
    verdict = check_compatibility(teacher_tok, student_tok, teacher_rows, student_rows)
    if not verdict.ok:
        raise InputError(verdict.message)
    return verdict


