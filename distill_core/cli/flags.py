"""The flags several commands share, each defined once, and the --FIELD flags of DistillConfig.

A config flag's type, help, range and choices come from the dataclass field itself
(`dataclasses.fields` for the metadata, `typing.get_type_hints` for the type), so a setting is
described in one place for the CLI, the app's form and the docs.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store.runs import runs_root
from distill_core.training.recipes import recipe_fields

# Settings with a flag of their own: --runs-dir is shared by every command that reads runs.
OWN_FLAGS = ("runs_dir",)


def add_runs_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", default=None, dest="runs_dir",
                   help="runs root (default: $DISTILL_RUNS_DIR or ./runs)")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars or lines")


def add_config_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="a JSON or YAML DistillConfig file; flags override it")


def value_type(hint) -> type:
    """The type a flag's text converts to: `int | None` -> int, `str` -> str."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (kind,) = [t for t in typing.get_args(hint) if t is not type(None)]
        return kind
    return hint


def add_config_flags(p: argparse.ArgumentParser, skip=()) -> None:
    """--FIELD VALUE for each DistillConfig field (not those in `skip`); a flag left out is
    absent from the parsed args, so the config file, recipe or default decides it."""
    hints = typing.get_type_hints(DistillConfig)
    for f in dataclasses.fields(DistillConfig):
        if f.name in skip or f.name in OWN_FLAGS:
            continue
        flag, meta = "--" + f.name.replace("_", "-"), f.metadata
        help_text = meta["help"] + (f" ({meta['range']})" if meta["range"] else "")
        help_text += f" [default: {f.default}]"
        kind = value_type(hints[f.name])
        if f.name == "compile":  # --compile [MODE] (on when bare) and --no-compile
            p.add_argument(flag, dest="compile", nargs="?", const="on", choices=meta["choices"],
                           default=argparse.SUPPRESS, metavar="MODE", help=help_text)
            p.add_argument("--no-compile", dest="compile", action="store_const", const="off",
                           default=argparse.SUPPRESS, help="never torch.compile (as "
                           "--compile off)")
        elif kind is bool:
            p.add_argument(flag, dest=f.name, action="store_true", default=argparse.SUPPRESS,
                           help=help_text)
        else:
            p.add_argument(flag, dest=f.name, type=kind, default=argparse.SUPPRESS,
                           choices=meta["choices"], metavar=f.name.upper(), help=help_text)


def config_flags_given(args, skip=()) -> dict:
    """{field: value} of the config flags given on the command line (--runs-dir included)."""
    given = {k: v for k, v in vars(args).items()
             if k in DistillConfig.__dataclass_fields__ and k not in skip}
    if given.get("runs_dir") is None:
        given.pop("runs_dir", None)
    return given


def config_from_args(args, skip=()) -> DistillConfig:
    """The run's settings: a recipe's or a config file's, overridden by the flags given."""
    if getattr(args, "recipe", None):  # the fields a named recipe sets; flags override them
        if args.config:
            raise InputError("give --recipe or --config, not both")
        base = recipe_fields(args.recipe)
    else:
        base = DistillConfig.load(args.config).to_dict() if args.config else {}
    given = config_flags_given(args, skip)
    if "runs_dir" not in given and "runs_dir" not in base:  # as `distill runs` finds them
        given["runs_dir"] = str(runs_root(create=False))
    return DistillConfig.from_dict({**base, **given})
