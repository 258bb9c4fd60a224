"""Compare: learning curves, final metrics and a verdict per run, all read from the run store."""

import pandas as pd
import streamlit as st

from distill_core import InputError, report, viz
from distill_core.runs import compare, list_runs, load_run
from pages._shared import use_app_navigation

use_app_navigation()

LATEST = 3  # finished runs selected when the URL names none

st.title("Compare runs")
rows = list_runs()
if not rows:
    st.info("No runs yet. Start one on the Distill page; it will appear here when it is done.")
    st.page_link("pages/distill.py", label="Go to Distill", icon="⚗️")
    st.stop()

states = {r["id"]: r["state"] for r in rows}
asked = [i for i in st.query_params.get("runs", "").split(",") if i in states]
done = [r["id"] for r in rows if r["state"] == "done"]
picked = st.multiselect("Runs", list(states), default=asked or done[:LATEST], key="compare_runs",
                        format_func=lambda i: i if states[i] == "done" else f"{i} ({states[i]})",
                        help="Newest first. The URL keeps this choice, so you can share it.")
st.query_params["runs"] = ",".join(picked)  # shareable; Distill links here the same way
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

teachers = {f"teacher ({i})": s["teacher_ppl"] for i, s in summaries.items()
            if s.get("teacher_ppl") is not None}
if len({round(v, 6) for v in teachers.values()}) == 1:  # one teacher line when all runs agree
    teachers = {"teacher": next(iter(teachers.values()))}
st.plotly_chart(viz.learning_curves(metrics))
left, right = st.columns(2)
left.plotly_chart(viz.perplexity_curves(metrics, teachers))
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
