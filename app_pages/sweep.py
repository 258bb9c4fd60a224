"""Sweep: an α × T grid of short runs trained one after another in the background (one teacher,
one teacher cache), a heatmap that fills in as they finish, and any cell's curves."""

import streamlit as st

from app_pages._models import chosen_pair
from app_pages._navigation import link
from app_pages._reference import has_sweep_to_show, sweeps_to_show
from app_pages._session import presenting, server_limits
from distill_core import InputError
from distill_core.app import report, viz
from distill_core.app.launch import launch_sweep
from distill_core.app.presets import short_run
from distill_core.store.runs import load_run, runs_root
from distill_core.training import sweep

ALPHAS, TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0), (0.5, 1.0, 2.0, 4.0, 8.0, 20.0)

st.title("α × T sweep")
st.caption("Which mix of soft and hard labels, at which temperature, gives the best student? "
           "One short run per cell of the grid, all from the same start on the same batches.")
t_spec, s_spec = chosen_pair()
# folded while a sweep is shown (the reference's on a fresh install): the heatmap on screen
with st.form("sweep_form"), st.expander("New sweep", expanded=not has_sweep_to_show(runs_root())):
    left, right = st.columns(2)
    alphas = left.multiselect("α values", ALPHAS, default=[0.0, 0.5, 0.9], key="sweep_alphas")
    temps = right.multiselect("T values", TEMPERATURES, default=[1.0, 2.0, 4.0], key="sweep_ts")
    steps = left.number_input("Steps per run", 10, 5000, 60, 10, key="sweep_steps")
    right.caption(f"{s_spec} from {t_spec} on tinytales (choose the pair on the Pair page).")
    evals = 4 if left.checkbox("Perplexity curves per cell (slower)", key="sweep_curves") else 0
    launch = st.form_submit_button("Launch the sweep", type="primary", key="sweep_launch")
if launch:
    try:
        base = short_run(int(steps), evals, teacher=t_spec, student=s_spec, eval_blocks=32)
        st.session_state["sweep_id"] = launch_sweep(base, sorted(alphas), sorted(temps),
                                                    root=runs_root(), limits=server_limits())
    except InputError as err:
        st.error(str(err))

root, sweeps = sweeps_to_show(runs_root())  # the user's, or the reference's until there is one
if st.query_params.get("sweep") in sweeps and "sweep_id" not in st.session_state:
    st.session_state["sweep_id"] = st.query_params["sweep"]  # a shared link
sweep_id = st.selectbox("Sweep", sweeps, key="sweep_id")
st.query_params["sweep"] = sweep_id


def grid(sweep_id: str) -> None:  # reads the run store only; polls while cells are pending
    cells = sweep.cells(sweep_id, root)
    done, titles = sum(c["state"] == "done" for c in cells), viz.sweep_metric_titles()
    left, right = st.columns([1, 2])  # one row, so that the heatmap starts on the first screen
    left.progress(done / len(cells), text=f"{done} of {len(cells)} cells done")
    metric = right.selectbox("Colour by", list(titles), key="sweep_metric",
                             format_func=titles.get)
    event = st.plotly_chart(viz.sweep_heatmap(cells, metric), key="sweep_map",
                            on_select="rerun", selection_mode="points")
    clicked = [p["customdata"] for p in event.selection.points if p.get("customdata")]
    if clicked and clicked[0] != st.session_state.get("sweep_clicked"):
        st.session_state["sweep_clicked"] = st.session_state["sweep_cell"] = clicked[0]
    labels = {c["run_id"]: f"α = {c['alpha']:g}, T = {c['temperature']:g} ({c['state']})"
              for c in cells}
    run_id = st.selectbox("Open a cell (or click it)", list(labels), key="sweep_cell",
                          format_func=labels.get)
    metrics = load_run(run_id, root).metrics()
    if metrics:
        left, right = st.columns(2)
        left.plotly_chart(viz.learning_curves({labels[run_id]: metrics}), key="cell_loss")
        right.plotly_chart(viz.perplexity_curves({labels[run_id]: metrics}, report.latest(
            metrics, "teacher_val_ppl")), key="cell_ppl")
    if not presenting() and root == runs_root():
        link("compare", "Compare the finished cells", query_params={
            "runs": ",".join(c["run_id"] for c in cells if c["state"] == "done")})
    if sweep.finished(cells) and st.session_state.get("sweep_polling"):
        st.session_state["sweep_polling"] = False
        st.rerun()  # once: redraw without polling


polling = not sweep.finished(sweep.cells(sweep_id, root))
st.session_state["sweep_polling"] = polling
st.fragment(grid, run_every=2 if polling else None)(sweep_id)
