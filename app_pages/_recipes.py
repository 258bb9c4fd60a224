"""The Distill page's recipe menu: a named recipe fills the form's settings. This file is not a
page."""

import streamlit as st

from app_pages._models import fetched
from distill_core.app.presets import recipe_form_values
from distill_core.training.recipes import describe_recipes, load_recipe


def _apply(sources: tuple[str, ...]) -> None:  # the selectbox's callback: before the form draws
    if name := st.session_state.get("recipe"):
        values = recipe_form_values(name)
        st.session_state.update(values, data_source=sources[0 if "corpus" in values else 2])


def recipe_menu(sources: tuple[str, ...]) -> None:
    """A selectbox above the form; choosing a recipe sets every field of the form to it (the
    rest of the form to the defaults). `sources` are the page's training-text choices (built-in
    corpus, upload, Hugging Face). A pretrained teacher not on this machine yet is offered for
    fetching here, before Start."""
    recipes = describe_recipes()
    name = st.selectbox("Start from a recipe", list(recipes), index=None, key="recipe",
                        placeholder="choose one to fill the form…", on_change=_apply,
                        args=(sources,), help="Named settings shipped with the app; "
                        "`distill recipes` lists the same ones.")
    if name:
        st.caption(f"**{name}**: {recipes[name]}")
        fetched(load_recipe(name).teacher)
