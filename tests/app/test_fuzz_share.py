"""share.decode fuzzed: any query parameters give (state, problems), never a traceback.

Each state value is one a page can use (within the config's bounds), each problem is one line,
and what encode writes back decodes without a problem. 2,000 generated links, half of them
checked against a server with the hub off.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from distill_core.app import share
from distill_core.config import DistillConfig
from distill_core.kd.losses import KINDS
from distill_core.policy import Limits

NAMES = list(share.URL_NAMES.values())
# values near what a link holds, and anything at all
NEAR = st.sampled_from(["4", "0.05", "0.049", "1e-40", "100", "1e309", "-0", "nan", "²", "١",
                        "99", "100", "0", "+2", "builtin:teacher", "org/model", "/etc", "~x/y",
                        "../runs", "a" * 600, "x\x00y", "jsd", "Reverse_KL", "on", "maybe",
                        "20260101-000000-a,b", ",,,", "a" * 300, ""])
VALUE = st.one_of(NEAR, st.text(max_size=60), st.text(alphabet="0123456789.,eE+-²³¹٠١٢",
                                                      max_size=12))
PARAMS = st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=5)),
                         st.one_of(VALUE, st.lists(VALUE, max_size=3)), max_size=8)
BOUNDS = DistillConfig.field_bounds()


def usable(state: dict) -> None:
    for field in ("temperature", "alpha"):
        if field in state:
            low, high, _ = BOUNDS[field]
            assert isinstance(state[field], float) and low <= state[field] <= high
    if "lesson" in state:
        assert type(state["lesson"]) is int and 1 <= state["lesson"] <= share.MAX_STEP
    if "loss" in state:
        assert state["loss"] in KINDS
    if "present" in state:
        assert isinstance(state["present"], bool)
    for field in ("teacher", "student", "prompt"):
        if field in state:
            assert 1 <= len(state[field]) <= share.MAX_TEXT and "\x00" not in state[field]
    assert isinstance(state.get("runs", []), list)


@settings(max_examples=2000, deadline=None, database=None)
@given(PARAMS, st.booleans())
def test_any_link_decodes_to_usable_values_and_one_line_problems(params, hub_off):
    state, problems = share.decode(params, Limits(allow_hub=False) if hub_off else None)
    assert set(state) <= set(share.FIELDS)
    usable(state)
    assert all(isinstance(p, str) and "\n" not in p and p.startswith("The link's ")
               for p in problems)
    again, more = share.decode(share.encode(state))
    assert more == [] and set(again) == {k for k, v in state.items() if v != []}  # runs=,,
