"""Experiments: the lesson's five claims, each tested by a planned set of runs in a background
process (`distill experiment NAME`); its table, figure and a finding computed from the numbers
once done."""

import pandas as pd
import streamlit as st

from app_pages._reference import experiment_against_reference, reference_note
from app_pages._session import server_limits
from distill_core import InputError
from distill_core.app import reference
from distill_core.app.experiment_figures import experiment_figure
from distill_core.app.launch import launch_experiment
from distill_core.store.runs import runs_root
from distill_core.training import experiments

SIZES = {"default": "full (minutes)", "tiny": "tiny (seconds, a smoke test)"}

st.title("Experiments")
st.caption("Five claims about distillation, each put to the test by runs on this machine. "
           "Where a difference is small the runs repeat over seeds: mean ± spread, and "
           "\"no clear difference\" when the spreads overlap.")
name = st.selectbox("Claim", experiments.NAMES, key="experiment_name")
st.markdown(f"**Claim:** {experiments.get(name).claim}")
left, right = st.columns([2, 1])
size = left.radio("Size", list(experiments.SIZES), format_func=lambda s: SIZES.get(s, s),
                  horizontal=True, key="experiment_size")
if right.button("Run this experiment", type="primary", key="experiment_start"):
    try:
        st.session_state["experiment_folder"] = str(launch_experiment(name, size, runs_root(),
                                                                      server_limits()))
    except InputError as err:
        st.error(str(err))

labels = {str(f): f.name for f in experiments.list_results(runs_root(), name)}
if ref := reference.experiment_entry(name):  # the shipped result, read only, listed last
    labels[ref["folder"]] = f"reference result ({ref['created'][:10]})"
if not labels:
    st.info("Not run yet: press **Run this experiment** (or run `distill experiment "
            f"{name}` in a terminal).")
    st.stop()
if st.session_state.get("experiment_folder") not in labels:
    st.session_state.pop("experiment_folder", None)  # another claim's result
folder = st.selectbox("Result", list(labels), format_func=labels.get, key="experiment_folder")


def show(folder: str) -> None:  # reads the result folder only; polls while it runs
    loaded = experiments.load_result(folder)
    state, result = loaded["status"]["state"], loaded["result"]
    if result is None:
        if state == "failed":
            st.error(f"The experiment failed: {loaded['status'].get('error', 'see its log')}")
        else:
            st.info(f"{state.capitalize()}… {loaded['last_line']}")
        return
    if folder == ref.get("folder"):
        reference_note(ref, "reference result", "Not run yet here. " * (len(labels) == 1))
    st.success(f"**Finding:** {result['finding']}")
    st.plotly_chart(experiment_figure(result), key="experiment_figure")
    st.dataframe(pd.DataFrame(result["rows"], columns=result["header"]), hide_index=True)
    experiment_against_reference(result, folder != ref.get("folder") and ref)
    st.caption(f"{len(result['data']['records'])} runs in {result['wall_seconds']:.0f} s on "
               f"{result['machine']}, {result['created']} (size {result['size']}); files in "
               f"{result['folder']}")
    if st.session_state.get("experiment_polling"):
        st.session_state["experiment_polling"] = False
        st.rerun()  # once: redraw without polling


polling = experiments.load_result(folder)["status"]["state"] in ("queued", "running")
st.session_state["experiment_polling"] = polling
st.fragment(show, run_every=3 if polling else None)(folder)
