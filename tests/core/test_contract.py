"""The plugin contract is exactly what the core calls, and its documentation says so.

These fail when an abstract method or hook is declared but never called by the core (a plugin
author would implement it for nothing), when a contract name is missing from docs/plugins.md,
or when a document points users at a private module.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from leadconvert import backend, hookspecs

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "leadconvert"
DOCS = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]


def _core_source() -> str:
    """Every core module but the contract's own declarations."""
    skip = {CORE / "backend.py", CORE / "hookspecs.py"}
    return "\n".join(p.read_text() for p in sorted(CORE.rglob("*.py")) if p not in skip)


def _contract_methods() -> list[tuple[str, str]]:
    """(class, method) for every public method a plugin implements or overrides."""
    out = []
    for cls in (backend.Backend, backend.Client, backend.Emulator):
        for name, member in vars(cls).items():
            if name.startswith("_") or not (callable(member) or isinstance(member, property)):
                continue
            out.append((cls.__name__, name))
    return out


@pytest.mark.parametrize(("cls", "method"), _contract_methods())
def test_every_contract_method_is_called_by_the_core(cls: str, method: str) -> None:
    source = _core_source()
    pattern = re.compile(rf"\.{method}\b")
    assert pattern.search(source), (
        f"{cls}.{method} is part of the plugin contract but no core module calls it: call it, "
        "or take it out of the contract"
    )


@pytest.mark.parametrize(
    "hook", [n for n, f in vars(hookspecs).items() if n.startswith("leadconvert_") and callable(f)]
)
def test_every_hook_is_called_by_the_core(hook: str) -> None:
    # Called as pm.hook.<name>(...), or implementation by implementation (registration does,
    # to name the plugin of each backend).
    assert re.search(rf"hook\.{hook}\b", _core_source()), f"hook {hook} is never called"


def test_contract_is_documented() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    missing = [m for _, m in _contract_methods() if f"`{m}" not in text]
    missing += [n for n in backend.__all__ if n not in text]
    assert not missing, f"docs/plugins.md does not describe {missing}"


def test_contract_methods_have_docstrings() -> None:
    for cls in (backend.Backend, backend.Client, backend.Emulator):
        for name, member in vars(cls).items():
            if name.startswith("_") or not callable(member):
                continue
            assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


def test_no_document_points_at_a_private_module() -> None:
    private = re.compile(r"\bleadconvert(?:_\w+)?\._[a-z]\w*")
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in DOCS
        for match in private.finditer(path.read_text())
    ]
    assert not found, f"documents name private modules: {found}"
