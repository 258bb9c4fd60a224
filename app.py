"""Distillation Playground: the Streamlit entry point. Navigation only; pages live in pages/."""

import streamlit as st

from pages._shared import arrive_by_link, presenter_toggle

st.set_page_config(page_title="Distillation Playground", page_icon="🎓", layout="wide")
st.session_state["routed_by_app"] = True  # pages check it: see pages/_shared.py
arrive_by_link()  # a shared link's state (?T=4&alpha=0.9…) enters the session first
presenter_toggle()
st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/lesson.py", title="Lesson", icon="🎓"),
    st.Page("pages/pair.py", title="Pair", icon="🧑‍🏫"),
    st.Page("pages/soft_labels.py", title="Soft labels", icon="🌡️"),
    st.Page("pages/kl_direction.py", title="KL direction", icon="⛰️"),
    st.Page("pages/distill.py", title="Distill", icon="⚗️"),
    st.Page("pages/scrubber.py", title="Scrubber", icon="🎞️"),
    st.Page("pages/sweep.py", title="Sweep", icon="🗺️"),
    st.Page("pages/compare.py", title="Compare", icon="📊"),
]).run()
