"""Cached model loaders and the chosen pair, shared by the pages (this file is not a page).

Each model loads once per process: every page asks these functions, so the Home page's load
also serves the Pair and Soft labels pages. The chosen pair lives in st.session_state
("teacher", "student"), written by the Pair page.
"""

import gc

import streamlit as st

from distill_core.app import presets, share
from distill_core.app.paths import require_shared_model
from distill_core.models import load_student, load_teacher, load_tokenizer

# Imported once per server process. torch, transformers and the rest are ~500k objects that live
# as long as the server: take them out of the garbage collector's full scans, which otherwise
# hold every session still for ~0.5 s each (measured by bench/classroom_load.py).
gc.freeze()

DEFAULT_TEACHER, DEFAULT_STUDENT = "builtin:teacher", "builtin:half"


def use_app_navigation() -> None:
    """Route through app.py even when this page was opened by its URL on a fresh server.

    Until some script calls st.navigation, Streamlit treats a `pages/` folder the old way and
    runs the requested page file on its own (no app.py, every file listed as a page). Each page
    calls this first: when app.py has not run in this session (it marks the session before
    st.navigation), it switches that mode off and reruns, so app.py serves the same URL.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not st.session_state.get("routed_by_app"):
        PagesManager.uses_pages_directory = False
        st.rerun()
    arrive_by_link()  # app.py did it already in a browser; AppTest runs a page on its own
    if presenting():
        st.html(PRESENTER_CSS)


def chosen_pair() -> tuple[str, str]:
    """(teacher spec, student spec) chosen on the Pair page, or the built-in pair."""
    return (st.session_state.setdefault("teacher", DEFAULT_TEACHER),
            st.session_state.setdefault("student", DEFAULT_STUDENT))


@st.cache_resource(show_spinner="Loading the teacher…", max_entries=4)
def teacher(spec: str):
    """(model, tokenizer), frozen, eval mode."""
    require_shared_model(spec, "teacher")  # the app reads no folder it does not share
    return load_teacher(spec.strip())


@st.cache_resource(show_spinner="Loading the student…", max_entries=8)
def student(spec: str, teacher_spec: str):
    """The student as it is before training (a preset is made from the teacher, seed 0)."""
    require_shared_model(spec, "student")
    return load_student(spec.strip(), teacher(teacher_spec)[0])


@st.cache_resource(show_spinner=False, max_entries=8)
def tokenizer(spec: str, teacher_spec: str):
    """The model's own tokenizer (a preset uses the teacher's)."""
    require_shared_model(spec, "student")
    require_shared_model(teacher_spec, "teacher")
    return load_tokenizer(spec.strip(), teacher_spec.strip())


# --- shared state: what a link carries (distill_core.app.share), presets, presenter mode ----------

SHARED, WRITTEN, FRESH, SHOWN = "shared_state", "url_written", "url_fresh", "url_problems_shown"
PRESENTER_CSS = """<style>
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.45rem !important; }
[data-testid="stMain"] h1, [data-testid="stMain"] h1 * { font-size: 3.6rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3, [data-testid="stMain"] h2 *,
[data-testid="stMain"] h3 * { font-size: 2.3rem !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] div { font-size: 3.2rem !important; }
[data-testid="stMain"] input, [data-testid="stMain"] [data-baseweb="select"] div {
  font-size: 1.4rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.3rem !important; }
[data-testid="stMain"] button p { font-size: 1.3rem !important; }
</style>"""


def arrive_by_link() -> None:
    """app.py calls this before every page: a link's state (?T=4&alpha=0.9…) enters the session.

    The URL's fields count only when they differ from what the app itself last wrote there: a
    link just opened (or edited by hand). Then they win over the widgets, once; a value the
    link gets wrong is shown in one line and skipped. A page switch empties the URL
    (Streamlit does), which changes nothing: the session keeps its state. Calling it twice in
    one run (app.py, then the page) gives the same result and shows each problem once.
    """
    state = st.session_state.setdefault(SHARED, {})
    params = st.query_params.to_dict()
    url, problems = share.decode(params)
    fresh = set()
    if url != st.session_state.get(WRITTEN):
        if problems and st.session_state.get(SHOWN) != params:
            st.session_state[SHOWN] = params
            for problem in problems:
                st.error(problem)
        state.update(url)
        fresh = set(url)
        for field in ("teacher", "student", "present"):  # plain session keys, not page widgets
            if field in url and st.session_state.get(field) != url[field]:
                st.session_state[field] = url[field]  # (present: before its toggle is drawn)
    st.session_state[FRESH] = fresh


def use_shared_state(widgets: dict[str, str], convert: dict | None = None) -> None:
    """Give this page's widgets (share field -> widget key) the session's shared values.

    A value fresh from a link always wins; otherwise only a widget that has no value yet (this
    page was just opened) takes it. `convert` maps a field to a function adapting the value to
    the widget (returning None skips it). Call before the widgets are drawn.
    """
    state, fresh = st.session_state.setdefault(SHARED, {}), st.session_state.get(FRESH, set())
    for field, key in widgets.items():
        if field in state and (field in fresh or key not in st.session_state):
            value = (convert or {}).get(field, lambda v: v)(state[field])
            if value is not None:
                st.session_state[key] = value


def keep_in_url(**values) -> None:
    """Record this page's state and write it to the URL (with presenter mode), so a link or a
    reload reopens it. Only the fields passed are written; other pages' fields are dropped
    from the URL but kept in the session; query parameters that are not ours stay."""
    state = st.session_state.setdefault(SHARED, {})
    state.update({k: v for k, v in values.items() if v is not None})
    present = st.session_state.get("present") or None
    wanted = share.encode({**{k: state.get(k) for k in values}, "present": present})
    for name in share.URL_NAMES.values():
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    changed = {k: v for k, v in wanted.items() if st.query_params.get(k) != v}
    if changed:
        st.query_params.update(changed)
    st.session_state[WRITTEN] = share.decode(st.query_params.to_dict())[0]


def presenting() -> bool:
    """Presenter mode: advanced controls hidden, large type for a projector."""
    return bool(st.session_state.get("present"))


def presenter_toggle() -> None:
    """The sidebar switch for presenter mode (also ?present=1 in a link); app.py draws it."""
    st.sidebar.toggle("Presenter mode", key="present",
                      help="Hides advanced controls and enlarges the type for a projector. "
                           "Links copied from the address bar keep it.")
    if st.query_params.get("present") != ("1" if presenting() else None):  # pages without
        if presenting():                                                   # keep_in_url too
            st.query_params["present"] = "1"
        else:
            del st.query_params["present"]
        st.session_state[WRITTEN] = share.decode(st.query_params.to_dict())[0]


def apply_preset(name: str, page: str) -> None:  # a button callback: runs before the widgets
    st.session_state.update(presets.widget_values(name, page))
    st.session_state[f"preset_chosen_{page}"] = name


def preset_buttons(page: str) -> None:
    """A row of preset buttons that set `page`'s loss widgets (soft_labels or distill)."""
    for col, preset in zip(st.columns(len(presets.PRESETS)), presets.PRESETS.values()):
        col.button(preset.name, key=f"preset_{preset.key}", help=preset.what_to_watch,
                   on_click=apply_preset, args=(preset.name, page), width="stretch")
    if chosen := st.session_state.get(f"preset_chosen_{page}"):
        st.caption(f"**{chosen}**: {presets.get(chosen).what_to_watch}")
