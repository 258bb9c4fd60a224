"""The Soft labels page's prompt box and its view of the two next-token distributions: the top
tokens as bars (a small vocabulary), or whole-vocabulary curves by rank, which still show what
T does at a real model's 49,152 tokens. This file is not a page."""

import streamlit as st

from app_pages._models import student, teacher
from distill_core import models
from distill_core.app.presets import ENGLISH_PROMPTS, STORY_PROMPTS, example_prompts
from distill_core.app.viz import log_prob_by_rank, soft_label_bars, top_k_mass_curves
from distill_core.kd.explore import mass_by_rank

VIEWS = {"bars": "top tokens", "mass": "mass in the top k", "ranks": "log-probability by rank"}


def pair_logits(t_spec: str, s_spec: str, prompt: str):
    """Next-token logits (V,) of teacher and student: the only model calls on the page. Both
    models are asked for first (a cache hit once loaded), so this server's limits are checked
    even when the logits themselves are cached (InputError)."""
    student(s_spec, t_spec)
    return _pair_logits(t_spec, s_spec, prompt)


@st.cache_data(show_spinner="Running both models on the prompt…", max_entries=64)
def _pair_logits(t_spec: str, s_spec: str, prompt: str):
    t_model, tok = teacher(t_spec)
    return (models.prompt_logits(t_model, tok, prompt),
            models.prompt_logits(student(s_spec, t_spec), tok, prompt))


def prompt_box(t_spec: str, where=(st, st)) -> str:
    """The example prompts for this teacher (stories for the built-in one, English for a real
    one) and the prompt box they fill, in the two containers `where`; returns the prompt."""
    prompts = example_prompts(t_spec)
    other = {*STORY_PROMPTS, *ENGLISH_PROMPTS} - {*prompts}
    if st.session_state.get("prompt") in other or "prompt" not in st.session_state:
        st.session_state["prompt"] = prompts[0]  # none yet, or the other teacher's example
    if st.session_state.get("example") not in prompts:
        st.session_state.pop("example", None)
    where[0].selectbox("Example prompts", prompts, key="example",
                 format_func=lambda p: p.replace("\n", "↵"),
                 on_change=lambda: st.session_state.update(prompt=st.session_state["example"]))
    return where[1].text_input("Prompt: the models predict the token that comes next",
                               key="prompt")


def view_choice(t_spec: str) -> str:
    """Which view to draw: bars by default for the built-in teacher, the mass curve otherwise."""
    st.session_state.setdefault("soft_view", "bars" if t_spec.startswith("builtin:") else "mass")
    return st.radio("Show", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="soft_view",
                    help="At a large vocabulary the bars leave most of the mass in 'everything "
                         "else'; the curves sort every token by probability.")


def distribution_chart(choice: str, view: dict, t_logits, s_logits, temperature: float,
                       height: int | str = "content") -> None:
    """The chosen view, `height` pixels tall; `view` is the page's soft_label_view (the bars)."""
    if choice == "bars":
        st.plotly_chart(soft_label_bars(view, title="Teacher vs student"), key="bars",
                        height=height)
        if view["teacher_rest"] > 0.5:
            st.caption(f"{view['teacher_rest']:.0%} of the teacher's probability is outside "
                       "these bars: the curves (Show, above) see all of it.")
        return
    ranks = mass_by_rank(t_logits, s_logits, temperature)
    figure = top_k_mass_curves if choice == "mass" else log_prob_by_rank
    st.plotly_chart(figure(ranks), key=f"ranks_{choice}", height=height)
    one, at_t = ranks["teacher_t1"]["k_level"], ranks["teacher"]["k_level"]
    st.caption(f"{ranks['level']:.0%} of the teacher's probability is held by its top "
               f"{one:,} tokens at T = 1 and by its top {at_t:,} at T = {temperature:g}, of "
               f"{ranks['vocab']:,}: softening hands the tail a share of the mass.")
