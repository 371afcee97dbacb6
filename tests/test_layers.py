"""
The package's layers: a module imports only from its own layer or those below.

docs/architecture.md explains the layers; this keeps the text true. Imports
inside functions count too, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "remediator"

# Top to bottom; the number is the height.
LAYERS = {"entry": 6, "web": 5, "operation": 4, "state": 3, "cluster": 2, "domain": 1,
          "base": 0}
LAYER_OF = {
    "cli": "entry", "__main__": "entry",
    "web": "web",
    "remediation": "operation", "guarding": "operation", "execution": "operation",
    "notify": "operation", "results_watch": "operation", "exporting": "operation",
    "metrics": "operation", "logs": "operation", "leadership": "operation",
    "allocator": "operation",
    "state": "state",
    "k8s": "cluster",
    "bench": "domain", "planning": "domain", "alerting": "domain",
    "config": "base", "errors": "base", "": "base",
}


def layer(module: str) -> str:
    """The layer of a dotted `remediator...` module name."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return LAYER_OF[top]


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found.append((dotted.removesuffix(".__init__"), path))
    return found


def imported(path: Path) -> set[str]:
    """Every `remediator` module a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] == "remediator"}


def test_every_package_has_a_layer() -> None:
    """A new top-level module must be placed in a layer before it can be imported."""
    unplaced = sorted({
        dotted.split(".")[1] for dotted, _ in modules()
        if "." in dotted and dotted.split(".")[1] not in LAYER_OF
    })

    assert unplaced == []


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_point_down(module: str, path: Path) -> None:
    own = LAYERS[layer(module)]

    upward = sorted(name for name in imported(path) if LAYERS[layer(name)] > own)

    assert upward == [], f"{module} ({layer(module)}) imports from a higher layer"


def test_a_lazy_upward_import_is_caught(tmp_path: Path) -> None:
    """The check sees imports hidden in functions, and ranks web above planning."""
    source = tmp_path / "sneaky.py"
    source.write_text("def later():\n    from remediator.web import app\n    return app\n")

    found = imported(source)

    assert found == {"remediator.web"}
    assert LAYERS[layer("remediator.web")] > LAYERS[layer("remediator.planning.planner")]
