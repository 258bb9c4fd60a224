"""Widgets more than one page draws: a row of readouts and the preset buttons."""

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


def apply_preset(name: str, page: str) -> None:  # a button callback: runs before the widgets
    st.session_state.update(presets.widget_values(name, page))
    st.session_state[f"preset_chosen_{page}"] = name


def preset_buttons(page: str) -> None:
    """A row of preset buttons that set `page`'s loss widgets (soft_labels, distill, lesson)."""
    for col, preset in zip(st.columns(len(presets.PRESETS)), presets.PRESETS.values()):
        col.button(preset.name, key=f"preset_{preset.key}", help=preset.what_to_watch,
                   on_click=apply_preset, args=(preset.name, page), width="stretch")
    if chosen := st.session_state.get(f"preset_chosen_{page}"):
        st.caption(f"**{chosen}**: {presets.get(chosen).what_to_watch}")
