"""Widgets more than one page draws: a row of readouts, settings as widgets and the preset
buttons."""

import streamlit as st

from distill_core.app import presets
from distill_core.app.metric_rows import Metric


def metrics(rows: list[Metric], columns: int | None = None) -> None:
    """`rows` side by side, `columns` to a row (all in one row by default)."""
    cols = st.columns(columns or len(rows))
    for i, m in enumerate(rows):
        cols[i % len(cols)].metric(m.label, m.value, help=m.help)
        if m.caption:
            cols[i % len(cols)].caption(m.caption)


def field_widgets(fields: dict, names: list[str], columns: int = 2) -> dict:
    """The settings `names` (form.form_fields entries) as their widgets, `columns` to a row;
    returns {name: value}."""
    cols = st.columns(columns)
    return {n: getattr(cols[i % columns], fields[n]["widget"])(**fields[n]["kwargs"])
            for i, n in enumerate(names)}


def apply_preset(name: str, page: str) -> None:  # a button callback: runs before the widgets
    st.session_state.update(presets.widget_values(name, page))
    st.session_state[f"preset_chosen_{page}"] = name


def preset_buttons(page: str, where=st) -> None:
    """A row of preset buttons that set `page`'s loss widgets (soft_labels, distill, lesson);
    what to watch for the chosen one goes under them, or into the container `where`."""
    for col, preset in zip(st.columns(len(presets.PRESETS)), presets.PRESETS.values()):
        col.button(preset.name, key=f"preset_{preset.key}", help=preset.what_to_watch,
                   on_click=apply_preset, args=(preset.name, page), width="stretch")
    if chosen := st.session_state.get(f"preset_chosen_{page}"):
        where.caption(f"**{chosen}**: {presets.get(chosen).what_to_watch}")
