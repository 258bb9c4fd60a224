"""Compare: learning curves, final metrics and a verdict per run, all read from the run store."""

import pandas as pd
import streamlit as st

from app_pages._navigation import link
from app_pages._session import keep_in_url, presenting, use_shared_state
from distill_core import InputError
from distill_core.app import exports, report, viz
from distill_core.store.runs import compare, list_runs, load_run

LATEST = 3  # finished runs selected when the URL names none

st.title("Compare runs")
rows = list_runs()
if not rows:
    st.info("No runs yet. Start one on the Distill page; it will appear here when it is done.")
    link("distill", "Go to Distill")
    st.stop()

states = {r["id"]: r["state"] for r in rows}
use_shared_state({"runs": "compare_runs"}, {"runs": lambda ids: [i for i in ids if i in states]})
done = [r["id"] for r in rows if r["state"] == "done"]
st.session_state.setdefault("compare_runs", done[:LATEST])
picked = st.multiselect("Runs", list(states), key="compare_runs",
                        format_func=lambda i: i if states[i] == "done" else f"{i} ({states[i]})",
                        help="Newest first. The URL keeps this choice, so you can share it.")
keep_in_url(runs=picked)  # shareable; Distill links here the same way
if not picked:
    st.info("Pick one or more runs to compare.")
    st.stop()

try:
    table = compare(picked)
    metrics = {i: load_run(i).metrics() for i in picked}
    summaries = {i: load_run(i).summary() or {} for i in picked}
except InputError as err:
    st.error(str(err))
    st.stop()

st.plotly_chart(viz.learning_curves(metrics))
left, right = st.columns(2)
left.plotly_chart(viz.perplexity_curves(metrics, viz.teacher_lines(summaries)))
right.plotly_chart(viz.agreement_curves(metrics))

st.subheader("Final metrics")
st.dataframe(pd.DataFrame(table).set_index("id"), column_config={
    "agreement": st.column_config.NumberColumn(format="percent"),
    "size_ratio": st.column_config.NumberColumn(format="percent"),
    **{k: st.column_config.NumberColumn(format="%.3f")
       for k in ("teacher_ppl", "student_ppl", "baseline_ppl")},
    **{k: st.column_config.NumberColumn(format="%.1f %%")
       for k in ("retention_pct", "gap_closed_pct")},
    "speedup": st.column_config.NumberColumn(format="%.2f×"),
    "wall_seconds": st.column_config.NumberColumn(format="%.0f s")})

st.subheader("Verdicts")
cols = st.columns(min(len(table), 3))
for n, row in enumerate(table):
    with cols[n % len(cols)].container(border=True):
        st.markdown(f"**{row['id']}**  \n{row['student']} from {row['teacher']}, "
                    f"α = {row['alpha']}, T = {row['temperature']}, {row['loss']}")
        if states[row["id"]] == "done":
            st.markdown(report.verdict_sentence(summaries[row["id"]]))
        else:
            st.caption(f"No verdict: this run is {states[row['id']]}.")

if presenting():
    st.stop()
st.subheader("Take a run away")
run_id = st.selectbox("Run", picked, key="export_run")
for n, (col, d) in enumerate(zip(st.columns(5), exports.run_downloads(load_run(run_id)))):
    col.download_button(d.label, d.data, file_name=d.file_name, key=f"export_{n}",
                        on_click="ignore", disabled=d.why_not is not None, help=d.why_not)
figure = st.selectbox("Figure", viz.RUN_FIGURES, key="export_figure")
for col, fmt in zip(st.columns(4)[:2], exports.FIGURE_FORMATS):
    col.download_button(f"{figure} ({fmt.upper()})", lambda fmt=fmt: exports.figure_image(
        viz.run_figure(figure, run_id, metrics[run_id], summaries[run_id].get("teacher_ppl")),
        fmt), file_name=f"{run_id}-{figure.replace(' ', '_')}.{fmt}", key=f"export_{fmt}",
        on_click="ignore")
