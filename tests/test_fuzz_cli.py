"""Every CLI flag fuzzed: `distill run` parsed by the real argparse parser, then its config
built and validated (no training), gives a valid config, exit 2 from argparse, or one line of
InputError (exit 2 in `main`), never a traceback. 1,500 generated command lines."""

import contextlib
import dataclasses
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_core import cli
from distill_core.config import DistillConfig
from distill_core.errors import InputError

RUN = cli.parser()._subparsers._group_actions[0].choices["run"]  # noqa: SLF001 (argparse's)
FLAGS = sorted(o for a in RUN._actions for o in a.option_strings  # noqa: SLF001
               if o.startswith("--") and o != "--help")
TEXT = st.one_of(st.text(max_size=30),
                 st.sampled_from(["1e-40", "0.05", "100", "nan", "inf", "-1", "0", "1", "16",
                                  "٣", "9" * 5000, "1_000", "0x10", "builtin:tiny", "org/m",
                                  "/nonexistent/x.yaml", "run.json", "jsd", "auto", "", " ",
                                  "--steps", "a\x00b", "classroom", "../x"]))
ARGS = st.lists(st.tuples(st.sampled_from(FLAGS), TEXT), min_size=1, max_size=3)


def test_every_config_field_has_a_flag():
    for f in dataclasses.fields(DistillConfig):
        assert "--" + f.name.replace("_", "-") in FLAGS


@settings(max_examples=1500, deadline=None, database=None)
@given(ARGS)
def test_any_flags_give_a_config_or_a_clean_refusal(pairs):
    argv = ["run", *[part for flag, value in pairs for part in (flag, value)]]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = cli.parser().parse_args(argv)
    except SystemExit as stop:
        # argparse: the usage, then one line that says why (quoting what was typed)
        assert stop.code == 2 and re.search(r"^distill( run)?: error: ", err.getvalue(), re.M)
        return
    try:
        config = cli.config_from_args(args)
    except InputError as refusal:
        assert str(refusal) and "\n" not in str(refusal)
        return
    assert isinstance(config, DistillConfig) and 0.05 <= config.temperature <= 100


@pytest.mark.parametrize("value", ["1e-40", "0", "101", "nan"])
def test_an_unusable_temperature_is_exit_2_with_one_line(value, capsys, tmp_path):
    code = cli.main(["run", "--temperature", value, "--runs-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: temperature must be") and "\n" not in err
    assert not any(tmp_path.iterdir())  # refused before a run was made
