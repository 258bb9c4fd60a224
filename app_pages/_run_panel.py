"""The Distill page's live view of one run (app_pages/distill.py): progress or place in line,
Cancel, loss readouts and curves while it trains, the verdict when it is done. It reads the run
directory only, and polls it from a fragment while the run is queued or training. The page
draws it at the top, above the new-run form (folded away while a run is watched), so what a
Start began is where the eye already is."""

import time

import streamlit as st

from app_pages._navigation import link
from app_pages._reference import run_against_reference
from app_pages._widgets import metrics
from distill_core import InputError
from distill_core.app import metric_rows, report, viz
from distill_core.store import jobs
from distill_core.store.runs import FINISHED_STATES, load_run

CURVES_HEIGHT = 300  # px: under the progress bar or the verdict, on a projector's screen


def watch(run_id: str) -> None:
    """Show this run below the form; kept in the URL too, so a reload finds it."""
    st.session_state["run"] = st.query_params["run"] = run_id


def live_panel(run_id: str, polling: bool, in_line: bool, drawn_at: float) -> None:
    """Where the run is (place in line, or a progress bar with the time left, and Cancel) or,
    once it is done, the verdict in the same place; the curves beside their numbers below."""
    run = load_run(run_id)
    status, records, steps = run.status(), run.metrics(), run.config().get("steps", 1)
    if polling and status.get("state") in FINISHED_STATES:
        st.rerun()  # the whole page once more: the verdict, and no more polling
    p = report.progress(records, steps)
    if st.session_state.get("attached") == run_id:
        st.info(f"A run with these settings already exists ({run_id}): showing it instead of "
                "training the same thing again. Tick \"Train afresh\" for a run of your own.")
    summary = run.summary() if status.get("state") == "done" else None
    if summary:
        st.success(report.verdict_sentence(summary, detail=False))  # its numbers: the table
        run_against_reference(run_id, summary)  # a rerun of the default run: reproduced?
    else:
        bar, button = st.columns([5, 1], vertical_alignment="bottom")
        bar.progress(p["fraction"], text=jobs.queue_line(run_id)
                     or report.progress_text(status.get("state"), p))
        if notice := report.notice(run, status, p["step"]):
            getattr(st, notice[0])(notice[1])
        elif status.get("state") in report.ACTIVE_STATES and button.button("Cancel run",
                                                                           key="cancel"):
            try:
                jobs.cancel(run_id, session=st.session_state.get("session_id"))
                st.info("Stopping at the next step; the student trained so far is kept.")
            except InputError as err:
                st.error(str(err))
    if in_line and time.monotonic() - drawn_at > 1:  # a poll (or Cancel) while in line: the
        st.rerun()  # whole page, whose app.py moves the queue on; faster polling once it left
    if records:
        curves, numbers = st.columns([2, 1.2] if summary else [3, 1])
        curves.plotly_chart(viz.learning_curves({"this run": records}), height=CURVES_HEIGHT)
        with numbers:
            if summary:
                if equal := report.equal_compute_sentence(summary, detail=False).strip():
                    st.markdown(f"**{equal}**")
                rows = report.verdict_rows(summary)  # the same table as `distill show`
                st.table({"metric": [label for label, _ in rows],
                          "value": [value for _, value in rows]})
                link("compare", "Compare this run with others", query_params={"runs": run_id})
            else:
                metrics(metric_rows.training_loss(records[-1]), columns=1)
    if report.latest(records, "val_ppl") is not None:
        left, right = st.columns(2)
        left.plotly_chart(viz.perplexity_curves({"this run": records},
                                                report.latest(records, "teacher_val_ppl")))
        right.plotly_chart(viz.agreement_curves({"this run": records}))


def run_panel(run_id: str) -> bool:
    """The run's heading and its live panel, polled while it is queued or training; False when
    there is no such run (the page then offers a new one)."""
    try:
        run = load_run(run_id)
        status, cfg = run.status(), run.config()
        watch(run_id)
    except InputError as err:  # a run deleted since, or a mistyped URL
        st.error(str(err))
        st.session_state.pop("run", None)
        st.query_params.pop("run", None)
        return False
    st.markdown(f"**Run {run_id}**: {report.run_caption(cfg)}")  # one line: the curves fit
    polling = status.get("state") in report.ACTIVE_STATES and not jobs.stalled(status)
    in_line = jobs.waiting(status)  # a place in line changes slowly: poll it less often
    st.fragment(live_panel, run_every=(5 if in_line else 2) if polling else None)(
        run_id, polling, in_line, time.monotonic())
    return True
