"""Named recipes: DistillConfig files shipped with the package, one per known-good run.

A recipe is a plain YAML DistillConfig file in this folder (`distill run --config` reads it as
it is) whose first line is a comment saying in one line what the run is for. It sets only the
fields it cares about; the rest keep DistillConfig's defaults.

    describe_recipes()            {name: one-line description}, for `distill recipes` and the app
    recipe_fields("classroom")    the fields the file sets (a dict), to start a form or CLI from
    load_recipe("classroom")      the DistillConfig it makes
"""

from __future__ import annotations

from pathlib import Path

from distill_core.config import DistillConfig
from distill_core.errors import InputError

__all__ = ["RECIPES_DIR", "describe_recipes", "load_recipe", "recipe_fields", "recipe_path"]

RECIPES_DIR = Path(__file__).resolve().parent


def recipe_path(name: str) -> Path:
    """The file of recipe `name`, or InputError naming the recipes there are."""
    known = describe_recipes()  # by name, so no name reaches the file system (too long, "..")
    if name not in known:
        raise InputError(f"no recipe named {name!r}; known: {', '.join(known)} "
                         "(`distill recipes` lists them)")
    return RECIPES_DIR / f"{name}.yaml"


def _description(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    return first[0].lstrip("#").strip() if first and first[0].startswith("#") else ""


def describe_recipes() -> dict[str, str]:
    """{recipe name: its one-line description}, sorted by name."""
    return {p.stem: _description(p) for p in sorted(RECIPES_DIR.glob("*.yaml"))}


def recipe_fields(name: str) -> dict:
    """The fields recipe `name` sets, as DistillConfig reads them (a bad value raises
    InputError naming the file)."""
    import yaml

    path = recipe_path(name)
    config = DistillConfig.from_yaml(path).to_dict()
    named = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {key: config[key] for key in named}


def load_recipe(name: str, **overrides) -> DistillConfig:
    """The DistillConfig of recipe `name`, with `overrides` (e.g. flags) on top."""
    return DistillConfig.from_dict({**recipe_fields(name), **overrides})
