"""Lesson: distillation in five steps, each idea beside the live widget that shows it
(app_pages/_lesson_steps.py), with a "try this" button that sets the widget. Words and
numbers come from distill_core.app.lesson."""

import streamlit as st

from app_pages._lesson_steps import panel
from app_pages._session import keep_in_url, use_shared_state
from distill_core import InputError
from distill_core.app import lesson

st.title("Lesson: distillation in five steps")
use_shared_state(lesson.FROM_LINK, lesson.FIT_LINK)
state = st.session_state
state.update({key: state.get(key, default) for key, default in lesson.SESSION_DEFAULTS.items()})
n = st.radio("Step", range(1, len(lesson.STEPS) + 1), horizontal=True, key="lesson_step",
             format_func=lambda i: f"{i}. {lesson.STEPS[i - 1].title}")
step = lesson.STEPS[n - 1]
keep_in_url(lesson=n, prompt=state["lesson_prompt"], temperature=state["lesson_temperature"],
            alpha=state["lesson_alpha"])
words, live = st.columns([2, 3], gap="large")
words.subheader(step.title)
words.markdown(step.text)
if step.settings:
    words.button(f"Try this: {step.try_this}", key=f"try_{n}", on_click=state.update,
                 args=(step.settings,), type="primary")
if n < len(lesson.STEPS):
    words.button("Next step →", key="next", on_click=state.update, args=({"lesson_step": n + 1},))
with live:
    try:
        panel(n, step)
    except InputError as err:
        st.error(str(err))
