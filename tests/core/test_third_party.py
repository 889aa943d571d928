"""An outside package plugs in a backend through the entry point and is used from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ECHO = Path(__file__).parent.parent / "thirdparty" / "leadconvert_echo"


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


def _run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


class TestThirdPartyBackend:
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
            '{"lead_id": "1"}\n{"lead_id": "2"}\n{"lead_id": "3"}\n'
            '{"lead_id": "4", "account": {"action": "merge_person_account", "id": "9"}}\n'
        )
        out = _run(echo_site, "plan", "--backend", "echo", str(src))
        assert out.returncode == 1
        plan = json.loads(out.stdout)
        assert plan["backend"] == "echo"
        assert plan["calls"] == 2
        assert [r["json"] for r in plan["requests"]] == [{"ids": ["1", "2"]}, {"ids": ["3"]}]
        assert plan["requests"][0]["path"] == "/echo/convert"
        assert "in.jsonl:4: lead 4 account: echo has no person accounts" in out.stderr

    def test_lenient_plan_records_warning(self, echo_site: Path, tmp_path: Path) -> None:
        """In lenient mode the inexpressible option becomes a warning in the plan."""
        src = tmp_path / "in.jsonl"
        src.write_text(
            '{"lead_id": "4", "account": {"action": "merge_person_account", "id": "9"}}\n'
        )
        out = _run(echo_site, "plan", "--backend", "echo", "--lenient", str(src))
        assert out.returncode == 0, out.stderr
        plan = json.loads(out.stdout)
        assert plan["calls"] == 1
        assert plan["warnings"][0]["rule"] == "echo.person_account"
        assert plan["warnings"][0]["line"] == 1

    def test_plugin_command(self, echo_site: Path) -> None:
        """A plugin can add its own subcommand through leadconvert_register_commands."""
        out = _run(echo_site, "echo-hello")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "hello from echo"
