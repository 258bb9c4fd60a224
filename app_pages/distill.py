"""Distill: set up a run, start it in the background, and watch it through its run directory."""

import secrets

import streamlit as st

from app_pages._recipes import recipe_menu
from app_pages._reference import default_run_results
from app_pages._run_panel import run_panel, watch
from app_pages._session import keep_in_url, presenting, server_limits, use_shared_state
from app_pages._widgets import field_widgets, preset_buttons
from distill_core import InputError
from distill_core.app import form, launch, report
from distill_core.app.uploads import UPLOAD_SUFFIXES, upload_limit_mb
from distill_core.data.corpora import BUILTIN_CORPORA
from distill_core.store.runs import list_runs, runs_root

SOURCES = ("built-in corpus", "uploaded file", "Hugging Face dataset")
INTRO = ("Train a small student from a teacher. The run trains in its own process: leaving this "
         "page or closing the tab does not stop it, and it is listed here until it ends.")


st.title("Distill")
session = st.session_state.setdefault("session_id", secrets.token_hex(8))  # for per-session limits
watched = st.query_params.get("run") or st.session_state.get("run")
if not (watched := watched and run_panel(watched)):  # a watched run first, where the eye is
    st.caption(INTRO)
if not watched and not list_runs():  # nothing of the user's yet: the reference run's results
    default_run_results()
if active := [r["id"] for r in list_runs() if r["state"] in report.ACTIVE_STATES]:
    st.selectbox("Runs in progress", active, index=None, key="reattach", placeholder="watch one…",
                 on_change=lambda: watch(st.session_state["reattach"]))
new_run = st.expander("New run") if watched else st.container()  # folded while one is watched
if not watched:
    new_run.subheader("New run")
with new_run:
    recipe_menu(SOURCES)  # fills the form below
    fields = form.form_fields({"teacher": st.session_state.get("teacher", "builtin:teacher"),
                               "student": st.session_state.get("student", "builtin:half"),
                               "dataset": "",  # the built-in corpora have their own menu
                               "baseline": True})  # the default Start shows what the teacher adds
    use_shared_state({"alpha": "cfg_alpha", "temperature": "cfg_temperature", "loss": "cfg_loss"})
    preset_buttons("distill")
    source = st.radio("Training text", SOURCES, horizontal=True, key="data_source")
with new_run, st.form("distill"):
    values = field_widgets(fields, form.GROUPS["models"])
    upload = None
    if source == SOURCES[0]:
        values["dataset"] = st.selectbox("corpus", BUILTIN_CORPORA, key="corpus",
                                         help=fields["dataset"]["kwargs"]["help"])
        values |= field_widgets(fields, ["train_docs"])
    elif source == SOURCES[1]:
        upload = st.file_uploader("text file", [s[1:] for s in UPLOAD_SUFFIXES], key="upload",
                                  max_upload_size=upload_limit_mb(limits=server_limits()),
                                  help="UTF-8 text: .txt (documents separated by blank lines), "
                                       ".jsonl or .csv (with a text column).")
        values |= field_widgets(fields, ["text_column"])
    else:
        values |= field_widgets(fields, ["dataset", "dataset_config", "dataset_split", "text_column"])
    for group in ("loss",) if presenting() else ("loss", "training", "evaluation"):
        with st.expander(group.capitalize(), expanded=group == "loss"):
            values |= field_widgets(fields, form.GROUPS[group], columns=3)
    fresh = st.checkbox("Train afresh even if a run with these settings exists", key="fresh")
    start = st.form_submit_button("Start", type="primary", key="start")
st.caption(f"Runs are stored in {runs_root().resolve()}.")
keep_in_url(**{k: values[k] for k in ("teacher", "student", "alpha", "temperature", "loss")})

if start:
    try:
        if source == SOURCES[1] and upload is None:
            raise InputError("choose a file to upload first")
        run = launch.start_run(values, session, upload and (upload.name, upload.getvalue()), fresh,
                               limits=server_limits())
        st.session_state["attached"] = run.id if run.attached else None
        watch(run.id)
    except InputError as err:
        st.error(str(err))  # under Start, where it was pressed
    else:
        st.rerun()  # the page again: the run's progress on top, this form folded away
