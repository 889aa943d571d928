"""The command line with the Zoho backend, run as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zoho_helpers import EXAMPLES, example

from leadconvert import loads_json

LEADCONVERT = Path(sys.executable).with_name("leadconvert")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEADCONVERT), *args], capture_output=True, text=True, timeout=60, check=False
    )


class TestZohoCli:
    def test_plan_prints_documented_bodies(self) -> None:
        """`leadconvert plan --backend zoho` prints exactly the documented single and mass bodies."""
        single = cli(
            "plan",
            "--backend",
            "zoho",
            "--set",
            "api_version=v7",
            str(EXAMPLES / "convert-lead.jsonl"),
        )
        assert single.returncode == 0, single.stderr
        (request,) = loads_json(single.stdout)["requests"]
        assert request["json"] == example("convert-lead.body.json")
        assert request["path"] == "/crm/v7/Leads/3652397000007566544/actions/convert"
        mass = cli(
            "plan",
            "--backend",
            "zoho",
            "--set",
            "contacts_module_id=3652397000000002179",
            str(EXAMPLES / "mass-convert.jsonl"),
        )
        assert mass.returncode == 0, mass.stderr
        out = loads_json(mass.stdout)
        assert out["calls"] == 1 and out["requests"][0]["json"] == example("mass-convert.body.json")

    def test_parse_round_trip(self) -> None:
        """`leadconvert parse --backend zoho` reads a planned request back to the neutral line."""
        parsed = cli("parse", "--backend", "zoho", str(EXAMPLES / "convert-lead.request.json"))
        assert parsed.returncode == 0, parsed.stderr
        expected = loads_json((EXAMPLES / "convert-lead.jsonl").read_text(encoding="utf-8"))
        assert loads_json(parsed.stdout) == expected
