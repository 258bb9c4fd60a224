"""Distillation Playground: the Streamlit entry point. Navigation only; pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="Distillation Playground", page_icon="🎓", layout="wide")
st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]).run()
