"""Distillation Playground: the Streamlit entry point. Navigation only; pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="Distillation Playground", page_icon="🎓", layout="wide")
st.session_state["routed_by_app"] = True  # pages check it: see pages/_shared.py
st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/pair.py", title="Pair", icon="🧑‍🏫"),
    st.Page("pages/soft_labels.py", title="Soft labels", icon="🌡️"),
    st.Page("pages/distill.py", title="Distill", icon="⚗️"),
    st.Page("pages/compare.py", title="Compare", icon="📊"),
]).run()
