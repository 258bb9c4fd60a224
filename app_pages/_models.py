"""The models the pages run, loaded once per server process, and the pair the Pair page chose.

Every page asks these functions, so the Home page's load also serves the Pair and Soft labels
pages. The chosen pair lives in st.session_state ("teacher", "student").
"""

import gc

import streamlit as st

from distill_core.app.paths import require_shared_model
from distill_core.models import load_student, load_teacher, load_tokenizer

# Imported once per server process. torch, transformers and the rest are ~500k objects that live
# as long as the server: take them out of the garbage collector's full scans, which otherwise
# hold every session still for ~0.5 s each (measured by bench/classroom_load.py).
gc.freeze()

DEFAULT_TEACHER, DEFAULT_STUDENT = "builtin:teacher", "builtin:half"


def chosen_pair() -> tuple[str, str]:
    """(teacher spec, student spec) chosen on the Pair page, or the built-in pair."""
    return (st.session_state.setdefault("teacher", DEFAULT_TEACHER),
            st.session_state.setdefault("student", DEFAULT_STUDENT))


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def teacher(spec: str):
    """(model, tokenizer), frozen, eval mode."""
    require_shared_model(spec, "teacher")  # the app reads no folder it does not share
    return load_teacher(spec.strip())


@st.cache_resource(show_spinner="Loading the student…", max_entries=8)
def student(spec: str, teacher_spec: str):
    """The student as it is before training (a preset is made from the teacher, seed 0)."""
    require_shared_model(spec, "student")
    return load_student(spec.strip(), teacher(teacher_spec)[0])


@st.cache_resource(show_spinner=False, max_entries=8)
def tokenizer(spec: str, teacher_spec: str):
    """The model's own tokenizer (a preset uses the teacher's)."""
    require_shared_model(spec, "student")
    require_shared_model(teacher_spec, "teacher")
    return load_tokenizer(spec.strip(), teacher_spec.strip())
