"""Distill: set up a run, start it in the background, and watch it through its run directory."""

import contextlib
import secrets

import streamlit as st

from distill_core import InputError
from distill_core.app import form, report, viz
from distill_core.store import jobs
from distill_core.config import DistillConfig
from distill_core.data.corpora import BUILTIN_CORPORA
from distill_core.store.runs import FINISHED_STATES, list_runs, load_run, runs_root
from distill_core.app.uploads import UPLOAD_SUFFIXES, save_upload, upload_limit_mb
from pages._shared import (keep_in_url, preset_buttons, presenting, use_app_navigation,
                           use_shared_state)

use_app_navigation()

SOURCES = ("built-in corpus", "uploaded file", "Hugging Face dataset")


def watch(run_id):  # the run shown below; kept in the URL too, so a reload finds it
    st.session_state["run"] = st.query_params["run"] = run_id


def widgets(fields, names, columns=2):
    cols = st.columns(columns)
    return {n: getattr(cols[i % columns], fields[n]["widget"])(**fields[n]["kwargs"])
            for i, n in enumerate(names)}


def live_panel(run_id, polling, in_line=False):  # reads the run directory; reruns while polling
    run = load_run(run_id)
    if jobs.waiting(run.status()):
        with contextlib.suppress(InputError):  # (a broken limits file is shown at the top)
            jobs.pump()  # a slot may have come free since the last poll
    status, metrics, steps = run.status(), run.metrics(), run.config().get("steps", 1)
    state = status.get("state")
    if polling and (state in FINISHED_STATES or (in_line and not jobs.waiting(status))):
        st.rerun()  # redraw the whole page once: the verdict and no more polling, or faster
        # polling now that the run has left the queue
    p = report.progress(metrics, steps)
    st.progress(p["fraction"], text=jobs.queue_line(run_id) or report.progress_text(state, p))
    if report.stalled(status):
        st.warning("The process training this run has stopped without saying why; see "
                   f"{run.path / 'log.txt'}.")
    elif state in report.ACTIVE_STATES and st.button("Cancel run", key="cancel"):
        jobs.cancel(run_id)
        st.info("Stopping at the next step; the student trained so far is kept.")
    if state == "failed":
        st.error(status.get("error") or f"The run failed; see {run.path / 'log.txt'}.")
    elif state == "cancelled":
        st.warning(f"Cancelled at step {p['step']}; the student so far is in {run.student_dir}.")
    if metrics:
        parts = {"loss": "total loss", "kd": "KD", "ce": "CE", "baseline_loss": "baseline loss"}
        shown = [k for k in parts if metrics[-1].get(k) is not None]
        for col, key in zip(st.columns(len(shown)), shown):
            col.metric(f"{parts[key]} (nats/token)", f"{metrics[-1][key]:.3f}")
        st.plotly_chart(viz.learning_curves({"this run": metrics}))
    if report.latest(metrics, "val_ppl") is not None:
        left, right = st.columns(2)
        left.plotly_chart(viz.perplexity_curves({"this run": metrics},
                                                report.latest(metrics, "teacher_val_ppl")))
        right.plotly_chart(viz.agreement_curves({"this run": metrics}))
    if state == "done" and (summary := run.summary()):
        st.success(report.verdict_sentence(summary))
        rows = report.verdict_rows(summary)  # the same table as `distill show`
        st.table({"metric": [label for label, _ in rows], "value": [value for _, value in rows]})
        st.page_link("pages/compare.py", label="Compare this run with others", icon="📊",
                     query_params={"runs": run_id})


st.title("Distill")
st.caption("Train a small student from a teacher. The run trains in its own process: leaving "
           "this page or closing the tab does not stop it, and it is listed here until it ends.")
try:
    jobs.pump()  # runs whose process died are marked failed; waiting runs start if slots are free
except InputError as err:  # e.g. a mistake in this server's classroom.toml
    st.error(str(err))
session = st.session_state.setdefault("session_id", secrets.token_hex(8))  # for per-session limits
if active := [r["id"] for r in list_runs() if r["state"] in report.ACTIVE_STATES]:
    st.selectbox("Runs in progress", active, index=None, key="reattach", placeholder="watch one…",
                 on_change=lambda: watch(st.session_state["reattach"]))
panel = st.container()  # the watched run: filled in at the end, once a Start is handled

st.subheader("New run")
fields = form.form_fields({"teacher": st.session_state.get("teacher", "builtin:teacher"),
                           "student": st.session_state.get("student", "builtin:half"),
                           "dataset": ""})  # the built-in corpora have their own menu
use_shared_state({"alpha": "cfg_alpha", "temperature": "cfg_temperature", "loss": "cfg_loss"})
preset_buttons("distill")
source = st.radio("Training text", SOURCES, horizontal=True, key="data_source")
with st.form("distill"):
    values = widgets(fields, form.GROUPS["models"])
    upload = None
    if source == SOURCES[0]:
        values["dataset"] = st.selectbox("corpus", BUILTIN_CORPORA, key="corpus",
                                         help=fields["dataset"]["kwargs"]["help"])
        values |= widgets(fields, ["train_docs"])
    elif source == SOURCES[1]:
        upload = st.file_uploader("text file", [s[1:] for s in UPLOAD_SUFFIXES], key="upload",
                                  max_upload_size=upload_limit_mb(),
                                  help="UTF-8 text: .txt (documents separated by blank lines), "
                                       ".jsonl or .csv (with a text column).")
        values |= widgets(fields, ["text_column"])
    else:
        values |= widgets(fields, ["dataset", "dataset_config", "dataset_split", "text_column"])
    for group in ("loss",) if presenting() else ("loss", "training", "evaluation"):
        with st.expander(group.capitalize(), expanded=group == "loss"):
            values |= widgets(fields, form.GROUPS[group], columns=3)
    start = st.form_submit_button("Start", type="primary", key="start")
st.caption(f"Runs are stored in {runs_root().resolve()}.")
keep_in_url(**{k: values[k] for k in ("teacher", "student", "alpha", "temperature", "loss")})

if start:
    try:
        if source == SOURCES[1]:
            if upload is None:
                raise InputError("choose a file to upload first")
            values["dataset"] = str(save_upload(upload.name, upload.getvalue(), runs_root()))
        config = DistillConfig(**values, runs_dir=str(runs_root()))
        form.check_before_launch(config)
        watch(jobs.launch(config, session=session).id)
    except InputError as err:
        st.error(str(err))

if run_id := st.query_params.get("run") or st.session_state.get("run"):
    with panel:
        try:
            run = load_run(run_id)
            status, cfg = run.status(), run.config()
            polling = status.get("state") in report.ACTIVE_STATES and not report.stalled(status)
            watch(run_id)
        except InputError as err:  # a run deleted since, or a mistyped URL
            st.error(str(err))
            st.session_state.pop("run", None)
            st.query_params.pop("run", None)
        else:
            st.subheader(f"Run {run_id}")
            st.caption(f"{cfg.get('student')} learning from {cfg.get('teacher')} on "
                       f"{cfg.get('dataset')} · α = {cfg.get('alpha')} · T = "
                       f"{cfg.get('temperature')} · {cfg.get('loss')} · {cfg.get('steps')} steps")
            in_line = jobs.waiting(status)  # a place in line changes slowly: poll it less often
            st.fragment(live_panel, run_every=(5 if in_line else 2) if polling else None)(
                run_id, polling, in_line)
