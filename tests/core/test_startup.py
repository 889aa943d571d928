"""Start-up: what `leadconvert --help` and a plan of one backend import (issue 15).

These check imports, not timings: a command must not import what it does not use (another
backend's plugin, rich, werkzeug, requests, the runner), because every import is paid by every
run of the command (`leadconvert --help` was 0.5 s of CPU when it imported everything).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import leadconvert
from leadconvert import _cli, _cli_io, _exceptions, _plugins
from leadconvert._input import InputFormat
from leadconvert._merge import OnAmbiguous, OnMatch

#: Runs the command line in a fresh interpreter, then writes the modules it imported, as JSON,
#: to the file named by the first argument (stdout and stderr stay the command's own).
_PROBE = """
import json, sys
from leadconvert._cli import main
out, sys.argv[1:] = sys.argv[1], sys.argv[2:]
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
with open(out, "w") as stream:
    json.dump({"code": code, "modules": sorted(sys.modules)}, stream)
"""

#: What no command that only reads input and plans needs.
_NOT_FOR_PLANNING = (
    "rich",
    "requests",
    "urllib3",
    "msal",
    "simple_salesforce",
    "trustme",
    "leadconvert._runner",
    "leadconvert._journal",
    "leadconvert._report",
    "leadconvert._progress",
    "leadconvert._api",
)
#: What `--help` does not need either.
_NEVER_AT_START = (*_NOT_FOR_PLANNING, "werkzeug", "leadconvert.emulation", "msgspec")


def _imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"])


def _under(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_help_imports_no_backend_and_no_heavy_library(tmp_path: Path) -> None:
    """`leadconvert --help` loads the plugins (their commands are listed) but no backend."""
    code, modules = _imported(tmp_path, "--help")
    assert code == 0
    assert not _under(modules, *_NEVER_AT_START)
    assert not [m for m in modules if m.startswith("leadconvert_") and m.count(".") >= 1]
    # Nor the model, the pipeline or the contract: only click, the CLI and the plugin manager.
    assert not _under(modules, "leadconvert._model", "leadconvert.backend", "leadconvert._pipeline")
    assert not _under(modules, "attrs", "attr", "cattrs")
    # Logging is configured when a command runs, not to print help.
    assert not _under(modules, "logging", "leadconvert._logging", "ssl", "tomllib")


def test_plan_of_one_backend_imports_no_other_backend(tmp_path: Path) -> None:
    """`plan --backend zoho` imports the Zoho backend only: no other plugin, no transport, no
    HTTP server."""
    src = tmp_path / "one.jsonl"
    src.write_text('{"lead_id": "5000000000000001000"}\n')
    code, modules = _imported(tmp_path, "plan", "--backend", "zoho", str(src))
    assert code == 0
    assert "leadconvert_zoho._backend" in modules
    assert not _under(modules, "leadconvert_salesforce", "leadconvert_dynamics")
    assert not _under(modules, *_NOT_FOR_PLANNING)
    assert not _under(modules, "leadconvert_zoho._client", "leadconvert_zoho._parse")
    # Without credentials the emulator is built (unstarted) for its settings: no werkzeug.
    assert not _under(modules, "werkzeug")


def test_convert_into_a_log_imports_no_rich_and_sums_up_in_plain_lines(tmp_path: Path) -> None:
    """Scheduled migrations write to logs and pipes: there a run gets plain lines (no terminal
    codes, no box drawing) and does not pay for importing rich."""
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps({"lead_id": "5000000000000001000"}) + "\n")
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), "convert", "--backend", "zoho", str(src)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
    )
    data = json.loads(out.read_text())
    assert data["code"] == 0, proc.stderr
    assert not _under(set(data["modules"]), "rich")
    assert "NO CREDENTIALS GIVEN: using the zoho EMULATOR" in proc.stderr
    lines = proc.stderr.splitlines()
    summary = lines.index("leadconvert: summary")
    assert lines[summary + 1].split() == ["converted", "1"]
    assert lines[summary + 2].split() == ["total", "1"]
    assert lines[summary + 3] == f"report:  {tmp_path / 'one.report.jsonl'}"
    assert "\x1b" not in proc.stderr and "┃" not in proc.stderr


def test_the_command_line_leaves_its_objects_to_reference_counting_at_exit() -> None:
    """Exiting, Python runs a last cyclic collection over every object left (about 25 ms of a
    small command's CPU); the command line freezes them first, so that it skips them."""
    probe = (
        "import atexit, gc, sys\n"
        # Registered first, so run last: after whatever the command line registered.
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count(), flush=True))\n"
        "from leadconvert._cli import main\n"
        "main(['--help'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    frozen = int(proc.stdout.rsplit("frozen at exit:", 1)[1])
    assert frozen > 10_000


def test_import_leadconvert_imports_nothing_else() -> None:
    """`import leadconvert` (and a plugin's `from leadconvert import ...`) is lazy (PEP 562)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, leadconvert; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [m for m in eval(out.stdout) if m.startswith("leadconvert")] == ["leadconvert"]


def test_submodules_are_attributes_after_import_leadconvert() -> None:
    """`import leadconvert` then `leadconvert.backend.Client` works, as when it was eager."""
    code = "import leadconvert; print(leadconvert.backend.Client.__name__, leadconvert.hookspecs)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Client <module 'leadconvert.hookspecs'")


def test_every_public_name_resolves() -> None:
    """Every name of ``leadconvert.__all__`` is importable, from the submodule the lazy table
    names, and ``dir()`` lists them."""
    for name in leadconvert.__all__:
        assert getattr(leadconvert, name) is not None, name
    assert set(leadconvert.__all__) <= set(dir(leadconvert))
    with pytest.raises(AttributeError):
        leadconvert.no_such_name  # noqa: B018


def test_cli_spells_out_the_enums_values() -> None:
    """The CLI's choices, written out so that help needs no model, are the enums' values."""
    assert tuple(f.value for f in InputFormat) == _cli._FORMATS
    assert tuple(m.value for m in OnMatch) == _cli._ON_MATCH
    assert tuple(m.value for m in OnAmbiguous) == _cli._ON_AMBIGUOUS
    assert OnAmbiguous.FAIL.value == "fail"
    for name in ("EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_UNREACHABLE", "EXIT_INTERNAL"):
        assert getattr(_cli_io, name) == getattr(_exceptions, name), name


class TestLazyRegistry:
    def test_get_loads_only_that_plugin(self) -> None:
        registry = _plugins.lazy_registry()
        assert registry.get("zoho").name == "zoho"
        assert list(registry._backends) == ["zoho"]

    def test_listing_loads_every_plugin(self) -> None:
        registry = _plugins.lazy_registry()
        assert {"zoho", "salesforce", "dynamics"} <= {b.name for b in registry}
        assert len(registry) == len(_plugins.load_registry())

    def test_unknown_name_lists_every_installed_backend(self) -> None:
        registry = _plugins.lazy_registry()
        with pytest.raises(leadconvert.UnknownBackendError, match="installed: .*salesforce"):
            registry.get("hubspot")

    def test_option_types_load_a_backend_when_looked_up(self) -> None:
        registry = _plugins.lazy_registry()
        types = registry.option_types()
        assert types.get("zoho") is registry.get("zoho").options_type
        assert list(registry._backends) == ["zoho"]
        assert types.get("hubspot") is None
        assert sorted(types) == sorted(
            b.name for b in _plugins.load_registry() if b.options_type is not None
        )


@pytest.mark.parametrize("name", ["zoho", "salesforce", "dynamics"])
def test_building_an_emulator_imports_no_werkzeug(name: str) -> None:
    """An unstarted emulator (what `plan` asks for its settings) does not import werkzeug."""
    code = (
        "import sys, leadconvert\n"
        f"leadconvert.load_registry().get({name!r}).emulator().settings()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'werkzeug'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
