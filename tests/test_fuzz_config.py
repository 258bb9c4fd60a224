"""The YAML/JSON config loader fuzzed: any text, and any mapping of fields to values of any
type, gives a valid DistillConfig or one line of InputError, never a traceback. 1,000
generated configs (400 texts, 600 mappings written as YAML and as JSON)."""

import dataclasses
import json
import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_core.config import DistillConfig
from distill_core.errors import InputError

FIELDS = [f.name for f in dataclasses.fields(DistillConfig)]
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(10**300, 10**400),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                   st.sampled_from([0.05, 0.049, 1e-40, 100, 16, 4, 0.1, "", " 2 ", "jsd",
                                    "builtin:tiny", "FP32", "1e-3"]))
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(st.text(max_size=4),
                                                                        SCALAR, max_size=2))
MAPPING = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUE,
                          max_size=6)
YAMLISH = st.one_of(st.text(max_size=200),
                    st.lists(st.sampled_from(["temperature: 1e-40", "alpha: .5", "steps: 1e3",
                                              "- a", "? [x]\n: y", "!!python/object:os.system",
                                              "loss: {", "seed: 0x10", "name: ~", "&a [*a]",
                                              "on_policy: 0.01", "batch_size: 4", "}",
                                              "seed: " + "9" * 5000, "[" + "7" * 4400 + "]"]),
                             max_size=5).map("\n".join))


def loads_or_one_line(load, text) -> None:
    try:
        config = load(text)
    except InputError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(config, DistillConfig)
    assert 0.05 <= config.temperature <= 100 and math.isfinite(config.lr)
    assert config.validate() is config  # what was accepted stays valid


@settings(max_examples=400, deadline=None, database=None)
@given(YAMLISH)
def test_any_text_loads_or_is_refused_in_one_line(text):
    loads_or_one_line(DistillConfig.from_yaml, text)
    loads_or_one_line(DistillConfig.from_json, text)


@settings(max_examples=600, deadline=None, database=None)
@given(MAPPING)
def test_any_mapping_as_yaml_and_json_loads_or_is_refused_in_one_line(mapping):
    loads_or_one_line(DistillConfig.from_yaml, yaml.safe_dump(mapping))
    loads_or_one_line(DistillConfig.from_json, json.dumps(mapping))
