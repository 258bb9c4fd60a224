"""What the pages share through the session and the URL: this server's limits (read once per
script run), a link's state (distill_core.app.share) and presenter mode. app.py calls
`read_server_limits`, `arrive_by_link` and `presenter_toggle` before every page; pages call the
rest. This file is not a page.
"""

import streamlit as st

from distill_core import InputError
from distill_core.app import share
from distill_core.policy import Limits
from distill_core.store.limits import load_limits

SHARED, WRITTEN, FRESH, SHOWN = "shared_state", "url_written", "url_fresh", "url_problems_shown"
LIMITS = "server_limits"
PRESENTER_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem !important; }
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


def read_server_limits() -> Limits:
    """app.py calls this first in every script run: the server's limits (limits.py), read once
    and kept for this run's pages and links. A mistake in them stops the page with one line:
    no page runs without knowing what the server allows."""
    try:
        st.session_state[LIMITS] = load_limits()
    except InputError as err:  # e.g. a mistake in this server's classroom.toml
        st.error(str(err))
        st.stop()
    return st.session_state[LIMITS]


def server_limits() -> Limits:
    """The limits app.py read for this script run."""
    if LIMITS not in st.session_state:  # only when a script runs a page without app.py
        return read_server_limits()
    return st.session_state[LIMITS]


def arrive_by_link() -> None:
    """app.py calls this before every page: a link's state (?T=4&alpha=0.9…) enters the session.

    The URL's fields count only when they differ from what the app itself last wrote there: a
    link just opened (or edited by hand). Then they win over the widgets, once; a value the
    link gets wrong is shown in one line and skipped. A page switch empties the URL
    (Streamlit does), which changes nothing: the session keeps its state. Each problem is shown
    once, not again on every rerun while the link stays in the address bar.
    """
    state = st.session_state.setdefault(SHARED, {})
    params = st.query_params.to_dict()
    url, problems = share.decode(params, server_limits())  # the widgets' checks, models' too
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
    st.session_state[WRITTEN] = share.decode(st.query_params.to_dict(), server_limits())[0]


def presenting() -> bool:
    """Presenter mode: advanced controls hidden, large type for a projector."""
    return bool(st.session_state.get("present"))


def presenter_toggle() -> None:
    """The sidebar switch for presenter mode (also ?present=1 in a link), and the large type
    while it is on; app.py draws it before every page."""
    st.sidebar.toggle("Presenter mode", key="present",
                      help="Hides advanced controls and enlarges the type for a projector. "
                           "Links copied from the address bar keep it.")
    if st.query_params.get("present") != ("1" if presenting() else None):  # pages without
        if presenting():                                                   # keep_in_url too
            st.query_params["present"] = "1"
        else:
            del st.query_params["present"]
        st.session_state[WRITTEN] = share.decode(st.query_params.to_dict(), server_limits())[0]
    if presenting():
        st.html(PRESENTER_CSS)
