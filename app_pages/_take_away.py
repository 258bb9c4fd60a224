"""Compare's downloads: a run's files, an export for a trainer at scale, and its figures."""

import streamlit as st

from distill_core.app import export_files, export_targets, exports, viz
from distill_core.store.runs import load_run


def take_away(picked: list[str], metrics: dict, summaries: dict) -> None:
    """The "Take a run away" section for one of the picked runs."""
    st.subheader("Take a run away")
    run_id = st.selectbox("Run", picked, key="export_run")
    for n, (col, d) in enumerate(zip(st.columns(5), exports.run_downloads(load_run(run_id)))):
        col.download_button(d.label, d.data, file_name=d.file_name, key=f"export_{n}",
                            on_click="ignore", disabled=d.why_not is not None, help=d.why_not)
    target = st.selectbox("For a trainer at scale", list(export_targets.TARGETS), key="export_to",
                          format_func=lambda t: export_targets.TARGETS[t])
    st.download_button(f"{target}: config, launch command and README (zip)", lambda: export_files.
                       export_zip(load_run(run_id), target), file_name=f"{run_id}-{target}.zip",
                       key="export_trainer", on_click="ignore")
    figure = st.selectbox("Figure", viz.RUN_FIGURES, key="export_figure")
    for col, fmt in zip(st.columns(4)[:2], exports.FIGURE_FORMATS):
        col.download_button(f"{figure} ({fmt.upper()})", lambda fmt=fmt: exports.figure_image(
            viz.run_figure(figure, run_id, metrics[run_id], summaries[run_id].get("teacher_ppl")),
            fmt), file_name=f"{run_id}-{figure.replace(' ', '_')}.{fmt}", key=f"export_{fmt}",
            on_click="ignore")
