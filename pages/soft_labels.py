import streamlit as st

st.title("soft_labels")
st.info("Coming soon.")
