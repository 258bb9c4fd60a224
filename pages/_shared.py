"""Cached model loaders and the chosen pair, shared by the pages (this file is not a page).

Each model loads once per process: every page asks these functions, so the Home page's load
also serves the Pair and Soft labels pages. The chosen pair lives in st.session_state
("teacher", "student"), written by the Pair page.
"""

import streamlit as st

from distill_core.models import load_student, load_teacher, load_tokenizer

DEFAULT_TEACHER, DEFAULT_STUDENT = "builtin:teacher", "builtin:half"


def use_app_navigation() -> None:
    """Route through app.py even when this page was opened by its URL on a fresh server.

    Until some script calls st.navigation, Streamlit treats a `pages/` folder the old way and
    runs the requested page file on its own (no app.py, every file listed as a page). Each page
    calls this first: when app.py has not run in this session (it marks the session before
    st.navigation), it switches that mode off and reruns, so app.py serves the same URL.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not st.session_state.get("routed_by_app"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def chosen_pair() -> tuple[str, str]:
    """(teacher spec, student spec) chosen on the Pair page, or the built-in pair."""
    return (st.session_state.setdefault("teacher", DEFAULT_TEACHER),
            st.session_state.setdefault("student", DEFAULT_STUDENT))


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def teacher(spec: str):
    """(model, tokenizer), frozen, eval mode."""
    return load_teacher(spec.strip())


@st.cache_resource(show_spinner="Loading the student…", max_entries=8)
def student(spec: str, teacher_spec: str):
    """The student as it is before training (a preset is made from the teacher, seed 0)."""
    return load_student(spec.strip(), teacher(teacher_spec)[0])


@st.cache_resource(show_spinner=False, max_entries=8)
def tokenizer(spec: str, teacher_spec: str):
    """The model's own tokenizer (a preset uses the teacher's)."""
    return load_tokenizer(spec.strip(), teacher_spec.strip())
