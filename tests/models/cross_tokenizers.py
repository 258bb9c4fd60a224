"""Two hand-made tokenizers with known vocabularies, for the cross-tokenizer tests: the teacher
has whole words, the student spells some words in pieces ("cat" = "c" + "at")."""

TEACHER_VOCAB = ["[UNK]", "the", "cat", "sat", "on", "mat"]
STUDENT_VOCAB = ["[UNK]", "t", "h", "e", "c", "a", "s", "o", "n", "m", "at", "th", "the", "on"]
STUDENT_MERGES = [("a", "t"), ("t", "h"), ("th", "e"), ("o", "n")]
TEXT = "the cat sat on the mat"


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(TEACHER_VOCAB)},
                                     unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def piece_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(STUDENT_VOCAB)}, STUDENT_MERGES,
                               unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
