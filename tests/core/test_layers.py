"""The import-linter contracts name every private module of the core.

import-linter forbids modules by name (a wildcard cannot stand for ``_*``), so a private module
added to the core and not to ``.importlinter`` would be importable by plugins unnoticed.
"""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_private_core_module_is_forbidden_to_plugins() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    listed = set(
        config["importlinter:contract:plugins-use-public-names"]["forbidden_modules"].split()
    )
    private = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "leadconvert").rglob("_*.py")
        if path.name != "__init__.py"
    }
    missing = sorted(private - listed)
    assert not missing, f"add these private modules to .importlinter: {missing}"
