"""Alignment: one text in a teacher's and a student's tokenizations, one above the other, and
what the cross-tokenizer losses compare at a group where both cut the text alike."""

import streamlit as st

from app_pages._models import chosen_pair, fetched, student, teacher, tokenizer
from distill_core import InputError
from distill_core.app.alignment_view import (group_distributions, shared_vocabulary_bars,
                                             sorted_probability_lines, tokenization_strips)
from distill_core.models import check_compatibility, is_fetched
from distill_core.models.alignment import align_text, alignment_lines, shared_vocabulary
from distill_core.models.tokenizers import cross_tokenizer_facts

FALLBACK = ("builtin:teacher", "smollm2-135m")  # two real tokenizers, both offline once fetched
TEXT = "Once upon a time, a little fox found 3 shiny stones near the river."


@st.cache_data(show_spinner=False, max_entries=16)
def _shared(t_spec: str, s_spec: str) -> tuple[list[int], list[int]]:
    return shared_vocabulary(tokenizer(t_spec, t_spec), tokenizer(s_spec, t_spec))


st.title("How two tokenizations line up")
st.caption("Where both tokenizers end a token at the same character, both models have read "
           "the same text: a group. The cross-tokenizer losses compare the two models there.")
t_spec, s_spec = chosen_pair()
if not fetched(t_spec, s_spec):
    st.stop()
try:
    t_model, t_tok = teacher(t_spec)
    s_tok = tokenizer(s_spec, t_spec)
    if check_compatibility(t_tok, s_tok).ok:  # the chosen pair shares one: show two that don't
        if not is_fetched(FALLBACK[1]):
            st.info(f"The chosen pair ({t_spec} → {s_spec}) shares one tokenizer, so there is "
                    "nothing to align. Choose a pair whose tokenizers differ on the Pair page, "
                    "or fetch SmolLM2-135M (`distill fetch smollm2-135m`) to compare its "
                    "tokenizer with the built-in one here.")
            st.stop()
        t_spec, s_spec = FALLBACK
        t_model, t_tok = teacher(t_spec)
        s_tok = tokenizer(s_spec, t_spec)
        st.caption(f"The chosen pair shares one tokenizer; shown: {t_spec} → {s_spec}.")
    s_model = student(s_spec, t_spec)
except InputError as err:
    st.error(str(err))
    st.stop()

text = st.text_area("Text", TEXT, key="align_text", max_chars=2000)
if not text.strip():
    st.error("the text is empty; type a few words")
    st.stop()
al = align_text(text, t_tok, s_tok)
facts = cross_tokenizer_facts(t_tok, s_tok, text)
left, mid, right = st.columns(3)
left.metric("Characters in tokens both cut alike", f"{al.aligned_share:.0%}")
mid.metric("Groups", f"{len(al.groups)}", help="stretches between the cuts both share")
right.metric("Loss a run would use", facts["loss"],
             help=f"{facts['shared_tokens']:,} tokens spelled alike in both vocabularies")
st.plotly_chart(tokenization_strips(al), key="strips")
st.code("\n".join(alignment_lines(al)), language=None)
st.caption("`·` joins the tokens of one group, `|` separates groups, `^` marks groups the two "
           "cut differently: the aligned loss takes the KL only where one token covers a group "
           "on each side, ULD elsewhere.")

if len(al.groups) < 2:
    st.info("The text has one group only: nothing precedes it to predict it. Type more text.")
    st.stop()
labels = {i: f"{i}: {al.text[g.start:g.end]!r}" + ("" if g.one_to_one else " (cut differently)")
          for i, g in enumerate(al.groups) if i > 0}
col_g, col_t = st.columns([2, 1])
group = col_g.selectbox("Group", list(labels), format_func=labels.get, key="align_group")
temperature = col_t.slider("Temperature T", 0.5, 5.0, 2.0, 0.5, key="align_temperature")
d = group_distributions(al, group, t_model, s_model, _shared(t_spec, s_spec),
                        temperature=temperature, teacher_tok=t_tok, student_tok=s_tok)
st.plotly_chart(shared_vocabulary_bars(d), key="shared_bars")
st.plotly_chart(sorted_probability_lines(d), key="sorted_lines")
st.caption(f"Teacher {t_spec}, student {s_spec} as it is before training.")
