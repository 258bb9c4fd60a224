"""The Alignment page: a text in two tokenizations, the share cut alike, and what the losses
compare at a chosen group; a pair that shares one tokenizer gets a note (no SmolLM2 needed)."""

from distill_core import models
from distill_core.models.alignment import align_text, alignment_lines


def _cross_pair(open_page, small_teacher_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MODEL_DIRS", str(small_teacher_dir))  # the app may read it
    at = open_page("alignment")
    at.session_state["teacher"], at.session_state["student"] = "builtin:teacher", \
        str(small_teacher_dir)  # a 600-token tokenizer against the built-in 3,392
    return at.run()


def test_a_cross_tokenizer_pair_shows_both_cuts_and_a_groups_distributions(
        open_page, small_teacher_dir, monkeypatch):
    at = _cross_pair(open_page, small_teacher_dir, monkeypatch)
    assert not at.exception and not at.error
    text = at.text_area(key="align_text").value
    al = align_text(text, models.load_tokenizer("builtin:teacher"),
                    models.load_tokenizer(str(small_teacher_dir)))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Characters in tokens both cut alike"] == f"{al.aligned_share:.0%}"
    assert shown["Groups"] == str(len(al.groups))
    assert at.code[0].value.rstrip() == "\n".join(alignment_lines(al)).rstrip()
    assert len(at.get("plotly_chart")) == 3  # the strips, the shared bars, the sorted lines
    last = len(al.groups) - 1
    at.selectbox(key="align_group").set_value(last).run()
    at.slider(key="align_temperature").set_value(4.0).run()
    assert not at.exception
    assert f"{last}: {al.text[al.groups[last].start:al.groups[last].end]!r}" in \
        at.selectbox(key="align_group").format_func(last)


def test_a_new_text_is_aligned_again_and_an_empty_one_is_refused(open_page, small_teacher_dir,
                                                                  monkeypatch):
    at = _cross_pair(open_page, small_teacher_dir, monkeypatch)
    at.text_area(key="align_text").set_value("the cat sat on the mat").run()
    assert not at.exception and "the" in at.code[0].value
    at.text_area(key="align_text").set_value("   ").run()
    assert not at.exception and at.error[0].value == "the text is empty; type a few words"


def test_one_shared_tokenizer_without_smollm2_gets_a_note(open_page, monkeypatch):
    monkeypatch.setattr(models, "is_fetched", lambda *a, **k: False)
    at = open_page("alignment")  # the built-in pair: one tokenizer
    assert not at.exception and not at.metric
    assert "shares one tokenizer" in at.info[0].value
