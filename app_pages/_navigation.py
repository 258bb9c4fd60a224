"""The app's pages (file, title, Material icon) in one table: app.py builds st.navigation from
it, and pages link to each other through `link`, so a page's icon is the same everywhere.
Icons come from Streamlit's built-in Material Symbols, which need no emoji font on the
projector's laptop. A page's URL is its file name (`/soft_labels`); Home is `/`.
"""

import streamlit as st

PAGES = {  # file name in app_pages/ -> (title, icon); the first is the default page
    "home": ("Home", ":material/home:"),
    "lesson": ("Lesson", ":material/school:"),
    "pair": ("Pair", ":material/group:"),
    "soft_labels": ("Soft labels", ":material/thermostat:"),
    "kl_direction": ("KL direction", ":material/landscape:"),
    "distill": ("Distill", ":material/science:"),
    "scrubber": ("Scrubber", ":material/movie:"),
    "disagreement": ("Disagreement", ":material/compare_arrows:"),
    "alignment": ("Alignment", ":material/join_inner:"),
    "sweep": ("Sweep", ":material/grid_view:"),
    "compare": ("Compare", ":material/bar_chart:"),
    "conventions": ("Loss conventions", ":material/rule:"),
    "experiments": ("Experiments", ":material/labs:"),
}


def path(page: str) -> str:
    return f"app_pages/{page}.py"


def link(page: str, label: str, **kwargs) -> None:
    """st.page_link to another page of the app, with that page's icon."""
    st.page_link(path(page), label=label, icon=PAGES[page][1], **kwargs)
