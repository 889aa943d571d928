"""A third-party backend written from docs/plugins.md alone, installed with pip, used for real.

``tests/thirdparty/leadconvert_echo`` is a complete small backend (rules, plan, parse, a client
on requests, an emulator on ``leadconvert.emulation``). Here it is installed into its own
directory as a user would install it, then: listed, planned, round-tripped and property-tested
with ``leadconvert.testing`` (in a pytest run of its own, as a user's project would), converted
with ``leadconvert convert``, killed with SIGKILL mid-call, resumed, and its report read.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "thirdparty" / "leadconvert_echo"
PLUGINS = ROOT / "plugins"


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The echo plugin installed with pip into its own directory, as a user would install it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(ECHO),
        ],
        check=True,
        capture_output=True,
    )
    yield target


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_ECHO_")}
    return {**env, "PYTHONPATH": str(site), **extra}


def _run(
    site: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args],
        env=_env(site, **env),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


# --- the plugin imports only public names --------------------------------------------------


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _plugin_packages() -> list[Path]:
    return [ECHO / "leadconvert_echo", *sorted(p for p in PLUGINS.iterdir() if p.is_dir())]


@pytest.mark.parametrize("package", _plugin_packages(), ids=lambda p: p.name)
def test_plugin_imports_only_public_names(package: Path) -> None:
    """Every plugin, the example and the built-in ones alike, imports only public leadconvert
    modules and no other plugin."""
    if not any(package.rglob("*.py")):
        pytest.skip(f"{package.name} holds no Python files")
    others = {p.name for p in _plugin_packages()} - {package.name}
    bad = []
    for path in sorted(package.rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "leadconvert" and any(p.startswith("_") for p in parts[1:2]):
                bad.append(f"{path.relative_to(ROOT)}: {name}")
            if parts[0] in others:
                bad.append(f"{path.relative_to(ROOT)}: imports plugin {parts[0]}")
    assert not bad, "plugins must import only public leadconvert names:\n" + "\n".join(bad)


# --- the command line ----------------------------------------------------------------------


class TestCommandLine:
    def test_listed(self, echo_site: Path) -> None:
        """The installed plugin's backend appears in `leadconvert backends`."""
        out = _run(echo_site, "backends", "--json")
        assert out.returncode == 0, out.stderr
        names = [b["name"] for b in json.loads(out.stdout)]
        assert "echo" in names

    def test_plans(self, echo_site: Path, tmp_path: Path) -> None:
        """`leadconvert plan` batches through the plugin, leaving invalid lines out with exit 1."""
        src = tmp_path / "in.jsonl"
        src.write_text(
            '{"lead_id": "L1"}\n{"lead_id": "L2"}\n{"lead_id": "L3"}\n'
            '{"lead_id": "L4", "account": {"action": "merge_person_account", "id": "A9"}}\n'
        )
        out = _run(echo_site, "plan", "--backend", "echo", str(src))
        assert out.returncode == 1
        plan = json.loads(out.stdout)
        assert plan["backend"] == "echo"
        assert plan["calls"] == 2
        assert [r["json"] for r in plan["requests"]] == [
            {"leads": [{"id": "L1"}, {"id": "L2"}]},
            {"leads": [{"id": "L3"}]},
        ]
        assert plan["requests"][0]["path"] == "/v1/convert"
        assert "in.jsonl:4: lead L4 account: echo has no person accounts" in out.stderr

    def test_lenient_plan_records_warning(self, echo_site: Path, tmp_path: Path) -> None:
        """In lenient mode the inexpressible option becomes a warning in the plan."""
        src = tmp_path / "in.jsonl"
        src.write_text(
            '{"lead_id": "L4", "account": {"action": "merge_person_account", "id": "A9"}}\n'
        )
        out = _run(echo_site, "plan", "--backend", "echo", "--lenient", str(src))
        assert out.returncode == 0, out.stderr
        plan = json.loads(out.stdout)
        assert plan["calls"] == 1
        assert plan["warnings"][0]["rule"] == "echo.person_account"
        assert plan["warnings"][0]["line"] == 1

    def test_parse_reads_what_plan_prints(self, echo_site: Path, tmp_path: Path) -> None:
        """`parse` reads the plan document back, and a bare native body too."""
        src = tmp_path / "in.jsonl"
        src.write_text(
            '{"lead_id": "L1", "opportunity": {"action": "create", "name": "Big", '
            '"amount": "12.50"}}\n'
        )
        plan = _run(echo_site, "plan", "--backend", "echo", str(src))
        (tmp_path / "plan.json").write_text(plan.stdout)
        out = _run(echo_site, "parse", "--backend", "echo", str(tmp_path / "plan.json"))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == json.loads(src.read_text())
        (tmp_path / "body.json").write_text('{"leads": [{"id": "L7", "owner_id": "U2"}]}')
        out = _run(echo_site, "parse", "--backend", "echo", str(tmp_path / "body.json"))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"lead_id": "L7", "owner_id": "U2"}

    def test_settings_checked_before_any_line(self, echo_site: Path, tmp_path: Path) -> None:
        """`validate` refuses the settings `plan` would refuse (Backend.check_settings)."""
        src = tmp_path / "in.jsonl"
        src.write_text('{"lead_id": "L1"}\n')
        out = _run(echo_site, "validate", "--backend", "echo", "--set", "backoff=soon", str(src))
        assert out.returncode == 2, out.stderr
        assert "not seconds" in out.stderr

    def test_plugin_command(self, echo_site: Path) -> None:
        """A plugin can add its own subcommand through leadconvert_register_commands."""
        out = _run(echo_site, "echo-hello")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "hello from echo"


# --- leadconvert.testing, as a user's project uses it --------------------------------------

USER_TESTS = '''
import pytest
from hypothesis import given, settings

from leadconvert import Conversion, Outcome
from leadconvert.testing import assert_round_trip, convert_on, valid_conversions

pytestmark = pytest.mark.parametrize("leadconvert_backend", ["echo"], indirect=True)


def test_mapping_round_trips(leadconvert_backend, leadconvert_settings):
    @settings(max_examples=40, deadline=None, database=None)
    @given(valid_conversions(leadconvert_backend))
    def check(conversion):
        assert_round_trip(leadconvert_backend, conversion, settings=leadconvert_settings)

    check()


def test_new_lead_converts(leadconvert_backend, leadconvert_client, leadconvert_settings,
                           leadconvert_new_lead, leadconvert_emulator):
    conversion = Conversion(lead_id=leadconvert_new_lead())
    [result] = convert_on(leadconvert_backend, leadconvert_client, [conversion],
                          settings=leadconvert_settings)
    assert result.outcome is Outcome.CONVERTED
    assert leadconvert_emulator.counts(conversion.lead_id)["convert"] == 1
'''


def test_leadconvert_testing_on_the_plugin(echo_site: Path, tmp_path: Path) -> None:
    """The round-trip property and the fixtures work on a backend written from the docs."""
    (tmp_path / "test_echo.py").write_text(textwrap.dedent(USER_TESTS))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        env=_env(echo_site),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


# --- convert: on the emulator, killed, resumed ---------------------------------------------


def _echo_emulator(site: Path) -> object:
    sys.path.insert(0, str(site))
    try:
        from leadconvert_echo import EchoEmulator  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(site))
    return EchoEmulator()


def test_convert_without_credentials_runs_on_the_emulator(
    echo_site: Path, tmp_path: Path
) -> None:
    """No credentials: `convert` starts the plugin's emulator, converts, reports."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"lead_id": "L1"}\n{"lead_id": "L2"}\n{"lead_id": "L404"}\n')
    out = _run(echo_site, "convert", "--backend", "echo", str(src), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "EMULATOR" in out.stderr
    rows = [json.loads(line) for line in (tmp_path / "in.report.jsonl").read_text().splitlines()]
    outcomes = {row["lead_id"]: row["outcome"] for row in rows}
    assert outcomes == {"L1": "converted", "L2": "converted", "L404": "failed"}


def test_convert_resumes_after_sigkill(echo_site: Path, tmp_path: Path) -> None:
    """SIGKILL while a call is at the CRM, then the same command: every lead converted once."""
    from leadconvert.emulation import Fault

    emulator = _echo_emulator(echo_site)
    with emulator:  # type: ignore[attr-defined]
        leads = [emulator.add_lead(name=f"Lead {n}") for n in range(6)]  # type: ignore[attr-defined]
        src = tmp_path / "in.jsonl"
        src.write_text("".join(json.dumps({"lead_id": lead}) + "\n" for lead in leads))
        creds = emulator.credentials()  # type: ignore[attr-defined]
        env = {"LEADCONVERT_ECHO_URL": creds["url"], "LEADCONVERT_ECHO_TOKEN": creds["token"]}
        # The third convert request is held at the CRM for 2 s, then carried out: the client
        # is killed while it waits, so the journal shows that call's leads in doubt.
        emulator.inject_fault(Fault(delay=0.0, operation="convert", count=2))  # type: ignore[attr-defined]
        held = emulator.inject_fault(Fault(delay=2.0, operation="convert", count=1))  # type: ignore[attr-defined]
        args = ["convert", "--backend", "echo", "--concurrency", "1", str(src)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "leadconvert", *args],
            env=_env(echo_site, **env),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while held.hits == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert held.hits == 1, "the kill missed its window: the held call never arrived"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        # The held call now goes through at the CRM although its client is gone.
        in_doubt = [lead for lead in leads if emulator.counts(lead)["convert"] == 1]  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while len(in_doubt) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
            in_doubt = [lead for lead in leads if emulator.counts(lead)["convert"] == 1]  # type: ignore[attr-defined]
        assert len(in_doubt) == 6, "the held call should have reached the org"
        report = tmp_path / "in.report.jsonl"
        out = _run(echo_site, *args, cwd=tmp_path, **env)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert sorted(row["lead_id"] for row in rows) == sorted(leads)
        assert all(row["outcome"] in ("converted", "already_converted") for row in rows), rows
        assert all(row["account_id"] for row in rows), rows
        for lead in leads:
            assert emulator.counts(lead)["convert"] == 1, lead  # type: ignore[attr-defined]
