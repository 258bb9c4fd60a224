"""The package's imports point down the layers only, and no module imports itself in a cycle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "distill_core"
# Each layer may import the ones listed after it (and itself); the base modules serve everyone.
BASE = {"errors", "files", "policy", "paths", "config", "metrics", "machine", "locks",
        "user_cache", "model_mode"}
LAYERS = {
    "kd": set(),
    "models": {"kd"},
    "data": set(),
    "store": set(),
    "training": {"kd", "models", "data", "store"},
    "app": {"kd", "models", "data", "store", "training"},
    "cli": {"kd", "models", "data", "store", "training", "app"},
}


def imports(path: Path) -> set[str]:
    """The distill_core modules `path` imports, as dotted names below distill_core."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("distill_core"):
            base = node.module.split(".")[1:]
            for alias in node.names:
                found.add(".".join(base + [alias.name]) if not base else ".".join(base))
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names
                      if a.name.startswith("distill_core.")}
    return found


def layer_of(name: str) -> str:
    return name.split(".")[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = layer_of(str(path.relative_to(PACKAGE).with_suffix("")).replace("/", "."))
    if here in BASE or here == "__init__":
        allowed = BASE | ({"kd"} if here == "config" else set())
    else:
        allowed = BASE | LAYERS[here] | {here}
    up = sorted(m for m in imports(path) if layer_of(m) not in allowed and m != "InputError")
    assert not up, f"{path.relative_to(PACKAGE)} imports up the layers: {up}"


def test_every_subpackage_says_what_it_owns_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.parent.name}/__init__.py lacks its paragraph"
