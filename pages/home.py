"""Home: what knowledge distillation is, the path through the app, and the built-in pair."""

import streamlit as st

from distill_core import InputError
from distill_core.models import describe
from pages._shared import use_app_navigation, DEFAULT_STUDENT, DEFAULT_TEACHER, student, teacher

use_app_navigation()

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

st.page_link("pages/lesson.py", label="Teaching? Start the guided lesson: five steps, each "
             "idea beside the widget that shows it", icon="🎓")
st.markdown("#### Three steps")
st.page_link("pages/soft_labels.py", label="1. Explore soft labels: temperature and α on one "
             "prediction", icon="🌡️")
st.page_link("pages/distill.py", label="2. Distill a student from the teacher", icon="⚗️")
st.page_link("pages/compare.py", label="3. Compare students with the teacher and a baseline",
             icon="📊")
st.caption("Want other models? Choose any teacher and student on the Pair page first.")
st.page_link("pages/pair.py", label="Choose a pair", icon="🧑‍🏫")

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
