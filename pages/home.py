"""Home: what knowledge distillation is, and the built-in pair at a glance."""

import streamlit as st

from distill_core import InputError
from distill_core.models import PAIRS, describe, load_teacher, load_student

st.title("Distillation Playground")
st.markdown(
    "**Can a student language model perform as well as its teacher?** A large *teacher* model "
    "predicts, at every position, a full probability for each possible next token. A small "
    "*student* learns from those soft labels, softened by a temperature T, mixed with the "
    "ordinary one-hot labels by a weight α."
)


@st.cache_resource(show_spinner="Loading the built-in pair…")
def builtin_pair():
    teacher, tokenizer = load_teacher("builtin:teacher")
    student = load_student(PAIRS["builtin"].student, teacher)
    return describe(teacher), describe(student), len(tokenizer)


try:
    teacher, student, vocab = builtin_pair()
except InputError as err:
    st.error(str(err))
else:
    cols = st.columns(2)
    for col, name, facts in ((cols[0], "Teacher", teacher), (cols[1], "Student (half)", student)):
        col.metric(f"{name} parameters", f"{facts['parameters'] / 1e6:.2f} M")
        col.caption(f"{facts['layers']} layers, width {facts['width']}, {vocab} tokens")
