"""`distill align`: one text in the teacher's and the student's tokens, one above the other."""

import pytest

from distill_core.cli import main


def test_align_shows_both_tokenizations_and_the_aligned_share(small_teacher_dir, capsys):
    text = "Once upon a time, a café ☕ opened."
    assert main(["align", "--teacher", "builtin:teacher", "--student", str(small_teacher_dir),
                 "--text", text]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("teacher  |Once|") and out[1].startswith("student  |Once|")
    joined = [row[9:].replace("|", "").replace("·", "").replace(" ", "") for row in out[:2]]
    assert joined[0] == joined[1] == text.replace(" ", "␣")  # the same text, cut twice
    share = next(line for line in out if line.startswith("aligned: "))
    assert f" of {len(text)} characters (" in share
    assert any(line.startswith("shared vocabulary: ") and line.endswith(("loss: uld", "loss: aligned"))
               for line in out)


def test_align_of_one_tokenizer_with_itself_is_all_aligned(capsys):
    assert main(["align", "--teacher", "builtin:teacher", "--student", "builtin:half",
                 "--text", "the cat sat on the mat"]) == 0
    out = capsys.readouterr().out
    assert "^" not in "".join(out.splitlines()[:3]) and "(100.0%)" in out
    assert out.rstrip().endswith("one vocabulary: a run distills token by token")


@pytest.mark.parametrize("argv, words", [
    (["--text", "  "], "--text is empty"),
    (["--text", "hi", "--width", "5"], "--width must be between 20 and 1000"),
    (["--teacher", "builtin:nope"], "unknown built-in model 'builtin:nope'")])
def test_align_bad_input_is_one_line(capsys, argv, words):
    base = {"--teacher": "builtin:teacher", "--student": "builtin:half"}
    flags = dict(zip(argv[::2], argv[1::2]))
    args = [x for k, v in {**base, **flags}.items() for x in (k, v)]
    assert main(["align", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.startswith("error: ") and "\n" not in err
