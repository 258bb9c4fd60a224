"""Home: what knowledge distillation is, the path through the app, and the built-in pair."""

import streamlit as st

from app_pages._models import DEFAULT_STUDENT, DEFAULT_TEACHER, student, teacher
from app_pages._navigation import link
from distill_core import InputError
from distill_core.models import describe

st.title("Distillation Playground")
st.subheader("Can a student perform as well as its teacher?")
st.markdown(
    "A language model does not just name the next word: it gives every token in its vocabulary "
    "a probability. A trained *teacher* knows that after *“the little”* both *girl* and *boy* are "
    "likely and *spoon* is not. Those graded guesses — **soft labels** — say far more than the "
    "single word that actually came next (the **hard label**), and a small *student* model can "
    "learn from them.\n\n"
    "**Knowledge distillation** trains the student on a mix of the two: the teacher's "
    "probabilities, flattened by a **temperature T** so that unlikely tokens still carry a "
    "signal, weighed by **α**, and the ordinary next-token labels, weighed by 1 − α. Here you "
    "can see what T does to a distribution, train a student, and measure how close it gets."
)

link("lesson", "Teaching? Start the guided lesson: five steps, each idea beside the widget "
     "that shows it")
st.markdown("#### Three steps")
link("soft_labels", "1. Explore soft labels: temperature and α on one prediction")
link("distill", "2. Distill a student from the teacher")
link("compare", "3. Compare students with the teacher and a baseline")
st.caption("Want other models? Choose any teacher and student on the Pair page first.")
link("pair", "Choose a pair")

st.markdown("#### The built-in pair")
try:
    t_model, tok = teacher(DEFAULT_TEACHER)
    facts = {"Teacher": describe(t_model),
             "Student (half: every other teacher layer)": describe(student(DEFAULT_STUDENT,
                                                                           DEFAULT_TEACHER))}
except InputError as err:
    st.error(str(err))
else:
    for col, (name, f) in zip(st.columns(2), facts.items()):
        col.metric(f"{name} parameters", f"{f['parameters'] / 1e6:.2f} M")
        col.caption(f"{f['layers']} layers, width {f['width']}, {len(tok):,} tokens, "
                    f"reads up to {f['context']} tokens")
