"""One plugin layout (issue 11): the same file names for the same job in Zoho and Salesforce, and
the pure parts never reach up into the backend or the transport (so no import cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
#: Each module and the sibling modules it may import: a strict order, lowest first.
LAYERS = {
    "_options": set(),
    "_ids": set(),
    "_wire": {"_options", "_ids"},
    "_rules": {"_options", "_ids", "_wire"},
    "_plan": {"_options", "_ids", "_wire", "_rules"},
    "_parse": {"_options", "_ids", "_wire", "_rules"},
    "_answers": {"_options", "_ids", "_wire"},
    "_client": {"_options", "_ids", "_wire", "_answers"},
}
SHARED = {"_backend", "_rules", "_plan", "_wire", "_parse", "_answers", "_client", "_options"}


def _siblings(path: Path) -> set[str]:
    """The plugin modules ``path`` imports (``from ._x import`` or ``from . import _x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("plugin", ["leadconvert_zoho", "leadconvert_salesforce"])
def test_same_files_same_jobs(plugin: str) -> None:
    names = {p.stem for p in (PLUGINS / plugin).glob("_*.py")} - {"__init__"}
    assert names >= SHARED, SHARED - names
    assert "_translate" not in names and "_transport" not in names and "_envelope" not in names


@pytest.mark.parametrize("plugin", ["leadconvert_zoho", "leadconvert_salesforce"])
@pytest.mark.parametrize("module", sorted(LAYERS))
def test_layers(plugin: str, module: str) -> None:
    path = PLUGINS / plugin / f"{module}.py"
    if not path.exists():
        pytest.skip(f"{plugin} has no {module}")
    imported = _siblings(path)
    assert imported <= LAYERS[module], f"{plugin}.{module} imports {imported - LAYERS[module]}"
