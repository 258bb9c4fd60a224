"""python-docs: the built-in corpus of real English technical prose that every Python ships.

Two kinds of document, read at run time from this Python (nothing is downloaded):

    topic    one pydoc topic of the language reference (`pydoc_data.topics`, 79 in Python 3.11)
    module   one standard-library module's docstrings: the module's own, then every public class
             and function defined in it, and each class's public methods, sorted by name

The modules are the fixed list `MODULES` (platform-neutral ones); the text depends only on the
Python version (measured on CPython 3.11.7: see docs/models-and-data.md for the token counts).

The held-out documents are fixed, the same for every seed and every `train_docs`: the modules of
`HELD_OUT_MODULES` (whole modules, so that no held-out docstring has a near twin of its own
module in training) and every `HELD_OUT_EVERY`-th topic. All documents are sorted by title, so
"the first N training documents" mixes topics and modules.
"""

from __future__ import annotations

import importlib
import inspect

from distill_core.errors import InputError

__all__ = ["HELD_OUT_EVERY", "HELD_OUT_MODULES", "MODULES", "documents", "load",
           "module_text"]

MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections",
    "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "email.message", "enum", "fnmatch", "fractions", "functools",
    "getopt", "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq", "hmac", "html",
    "html.parser", "inspect", "io", "ipaddress", "itertools", "json", "keyword", "linecache",
    "logging", "math", "mimetypes", "numbers", "operator", "optparse", "pathlib", "pickle",
    "pprint", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "shlex",
    "statistics", "string", "struct", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "traceback", "types", "typing", "unittest", "urllib.parse", "uuid", "warnings",
    "weakref", "zipfile",
)
HELD_OUT_MODULES = ("argparse", "collections", "decimal", "json", "logging", "pathlib",
                    "statistics", "textwrap", "typing")
HELD_OUT_EVERY = 10  # the 10th, 20th, ... topic (sorted by name) is held out


def documents() -> list[tuple[str, str, bool]]:
    """(title, text, held_out) of every document, sorted by title."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise InputError("this Python has no pydoc_data module, so python-docs is not available: "
                         "pick tinytales or a file instead") from None
    docs = [(f"topic {name}", topics[name], (i + 1) % HELD_OUT_EVERY == 0)
            for i, name in enumerate(sorted(topics))]
    for name in MODULES:
        text = module_text(name)
        if text:  # a module this Python lacks or that has no docstrings adds nothing
            docs.append((f"module {name}", text, name in HELD_OUT_MODULES))
    return sorted(docs)


def load():
    """A `datasets.DatasetDict`: "train" and "validation", one column "text", fixed split."""
    from datasets import Dataset, DatasetDict

    docs = documents()
    return DatasetDict(
        train=Dataset.from_dict({"text": [text for _, text, held in docs if not held]}),
        validation=Dataset.from_dict({"text": [text for _, text, held in docs if held]}))


def module_text(name: str) -> str:
    """The docstrings of module `name` as one document ("" when it cannot be imported)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return ""
    parts = [_entry(name, module)]
    for attr, value in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value):
            parts.append(_entry(f"{name}.{attr}", value))
            parts += [_entry(f"{name}.{attr}.{method}", member)
                      for method, member in sorted(vars(value).items())
                      if not method.startswith("_") and callable(member)]
        elif inspect.isfunction(value) or inspect.isbuiltin(value):
            parts.append(_entry(f"{name}.{attr}", value))
    return "\n\n".join(p for p in parts if p)


def _entry(title: str, obj) -> str:
    """'title\\n<its own docstring>' ('' without one): the docstring of `obj` itself, never one
    inherited from a base class, so that the text does not depend on what else is loaded."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return ""
    return f"{title}\n{inspect.cleandoc(doc)}"
