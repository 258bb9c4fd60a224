"""Compare: learning curves, final metrics and a verdict per run, all read from the run store."""

import pandas as pd
import streamlit as st

from app_pages._navigation import link
from app_pages._reference import reference_curves, run_against_reference, runs_to_compare
from app_pages._session import keep_in_url, presenting, use_shared_state
from app_pages._take_away import take_away
from distill_core import InputError
from distill_core.app import report, viz
from distill_core.metrics import shown
from distill_core.store.runs import compare, list_runs, load_run

LATEST = 3  # finished runs selected when the URL names none

st.title("Compare runs")
root, rows = runs_to_compare(list_runs())  # the user's runs, or the reference's until then
if not rows:
    st.info("No runs yet. Start one on the Distill page; it will appear here when it is done.")
    link("distill", "Go to Distill")
    st.stop()

states = {r["id"]: r["state"] for r in rows}
use_shared_state({"runs": "compare_runs"}, {"runs": lambda ids: [i for i in ids if i in states]})
done = [r["id"] for r in rows if r["state"] == "done" and r.get("default", True)]
st.session_state.setdefault("compare_runs", done[:LATEST])
picked = st.multiselect("Runs", list(states), key="compare_runs",
                        format_func=lambda i: i if states[i] == "done" else f"{i} ({states[i]})",
                        help="Newest first. The URL keeps this choice, so you can share it.")
keep_in_url(runs=picked)  # shareable; Distill links here the same way
if not picked:
    st.info("Pick one or more runs to compare.")
    st.stop()

try:
    table = compare(picked, root)
    metrics = {i: load_run(i, root).metrics() for i in picked}
    summaries = {i: load_run(i, root).summary() or {} for i in picked}
except InputError as err:
    st.error(str(err))
    st.stop()

curves = {**metrics, **(reference_curves(picked) if root is None else {})}  # and the reference
st.plotly_chart(viz.learning_curves(curves))
left, right = st.columns(2)
left.plotly_chart(viz.perplexity_curves(curves, viz.teacher_lines(summaries)))
right.plotly_chart(viz.agreement_curves(curves))

st.subheader("Final metrics")
st.dataframe(pd.DataFrame(table).set_index("id"), column_config={
    m.key: st.column_config.NumberColumn(format=m.column_format(), help=m.help)
    for m in shown("compare")})

st.subheader("Verdicts")
cols = st.columns(min(len(table), 3))
for n, row in enumerate(table):
    with cols[n % len(cols)].container(border=True):
        st.markdown(f"**{row['id']}**  \n{row['student']} from {row['teacher']}, "
                    f"α = {row['alpha']}, T = {row['temperature']}, {row['loss']}")
        if states[row["id"]] == "done":
            st.markdown(report.verdict_sentence(summaries[row["id"]]))
            if root is None:
                run_against_reference(row["id"], summaries[row["id"]])
        else:
            st.caption(f"No verdict: this run is {states[row['id']]}.")

if presenting() or root is not None:  # the reference's files are not for taking away
    st.stop()
take_away(picked, metrics, summaries)
