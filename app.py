"""Distillation Playground: the Streamlit entry point. It runs before every page: the server's
limits are read (once per script run; pages and links use them), a shared link's state enters
the session, the presenter switch is drawn, the run queue moves on, and then st.navigation runs
the page the URL names (the files in app_pages/, listed in _navigation)."""

import streamlit as st

from app_pages._navigation import PAGES, path
from app_pages._session import arrive_by_link, presenter_toggle, read_server_limits
from distill_core import InputError
from distill_core.store import jobs

st.set_page_config(page_title="Distillation Playground", page_icon=":material/school:",
                   layout="wide")
limits = read_server_limits()  # classroom.toml and DISTILL_* variables, once per script run
arrive_by_link()  # a shared link's state (?T=4&alpha=0.9…) enters the session first
presenter_toggle()
try:
    jobs.pump(limits=limits)  # runs whose process died are marked failed, waiting runs start
except InputError as err:  # e.g. a runs root that is not a folder
    st.error(str(err))
st.navigation([st.Page(path(page), title=title, icon=icon, default=n == 0)
               for n, (page, (title, icon)) in enumerate(PAGES.items())], expanded=True).run()
