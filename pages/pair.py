import streamlit as st

st.title("pair")
st.info("Coming soon.")
