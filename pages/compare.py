"""Compare: learning curves, final metrics and a verdict per run, all read from the run store."""

import pandas as pd
import streamlit as st

from distill_core import InputError
from distill_core.app import exports, report, viz
from distill_core.store.runs import compare, list_runs, load_run
from pages._shared import keep_in_url, presenting, use_app_navigation, use_shared_state

use_app_navigation()

LATEST = 3  # finished runs selected when the URL names none

st.title("Compare runs")
rows = list_runs()
if not rows:
    st.info("No runs yet. Start one on the Distill page; it will appear here when it is done.")
    st.page_link("pages/distill.py", label="Go to Distill", icon="⚗️")
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

if presenting():
    st.stop()
st.subheader("Take a run away")
run_id = st.selectbox("Run", picked, key="export_run")
run, figures = load_run(run_id), {
    "training loss": lambda: viz.learning_curves({run_id: metrics[run_id]}),
    "validation perplexity": lambda: viz.perplexity_curves({run_id: metrics[run_id]},
                                                           summaries[run_id].get("teacher_ppl")),
    "agreement": lambda: viz.agreement_curves({run_id: metrics[run_id]})}
files = {"config (JSON)": (lambda: exports.config_text(run, "json"), "config.json"),
         "config (YAML)": (lambda: exports.config_text(run, "yaml"), "config.yaml"),
         "metrics (CSV)": (lambda: exports.metrics_csv(run), "metrics.csv"),
         "script to reproduce (.py)": (lambda: exports.reproduce_script(run),
                                       f"reproduce_{run_id}.py"),
         "student (zip of its Hugging Face folder)": (lambda: exports.student_zip(run),
                                                      f"{run_id}-student.zip")}
cols = st.columns(len(files))
for n, (col, (label, (make, name))) in enumerate(zip(cols, files.items())):
    try:  # text is made now (small); the zip only when clicked
        data, why = (make if name.endswith(".zip") else make()), None
        if name.endswith(".zip") and not run.student_dir.is_dir():
            raise InputError(f"run {run_id} has no saved student yet")
    except InputError as err:
        data, why = b"", str(err)
    col.download_button(label, data, file_name=name, key=f"export_{n}", on_click="ignore",
                        disabled=why is not None, help=why)
figure = st.selectbox("Figure", list(figures), key="export_figure")
for col, fmt in zip(st.columns(4)[:2], exports.FIGURE_FORMATS):
    col.download_button(f"{figure} ({fmt.upper()})", lambda fmt=fmt: exports.figure_image(
        figures[figure](), fmt), file_name=f"{run_id}-{figure.replace(' ', '_')}.{fmt}",
        key=f"export_{fmt}", on_click="ignore")
