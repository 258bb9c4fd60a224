import streamlit as st

st.title("distill")
st.info("Coming soon.")
