"""The Python API does what the command line does, through the same pipeline and runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import leadconvert as lc

ROOT = Path(__file__).resolve().parents[2]
ZOHO_LEADS = ROOT / "examples" / "emulator" / "zoho-leads.jsonl"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _paths(document: dict[str, object]) -> set[str]:
    requests = document["requests"]
    assert isinstance(requests, list)
    return {str(r["path"]).split("/")[2] for r in requests}


class TestSettingsResolvedOnce:
    """`plan` shows what `convert` sends: one resolution of flags, environment, config file."""

    def test_config_file_reaches_plan(self, tmp_path: Path) -> None:
        config = tmp_path / "c.toml"
        config.write_text('[zoho.settings]\napi_version = "v7"\n')
        out = _cli("plan", "-b", "zoho", "--config", str(config), str(ZOHO_LEADS))
        assert out.returncode == 0, out.stderr
        assert _paths(json.loads(out.stdout)) == {"v7"}

    def test_environment_reaches_plan(self) -> None:
        out = _cli(
            "plan", "-b", "zoho", str(ZOHO_LEADS), env={"LEADCONVERT_ZOHO_API_VERSION": "v7"}
        )
        assert out.returncode == 0, out.stderr
        assert _paths(json.loads(out.stdout)) == {"v7"}

    def test_flag_wins_over_environment_and_file(self, tmp_path: Path) -> None:
        config = tmp_path / "c.toml"
        config.write_text('[zoho.settings]\napi_version = "v7"\n')
        out = _cli(
            "plan",
            "-b",
            "zoho",
            "--config",
            str(config),
            "--set",
            "api_version=v8",
            str(ZOHO_LEADS),
            env={"LEADCONVERT_ZOHO_API_VERSION": "v7"},
        )
        assert out.returncode == 0, out.stderr
        assert _paths(json.loads(out.stdout)) == {"v8"}

    def test_dry_run_prints_the_plan(self, tmp_path: Path) -> None:
        config = tmp_path / "c.toml"
        config.write_text('[zoho.settings]\napi_version = "v7"\n')
        planned = _cli("plan", "-b", "zoho", "--config", str(config), str(ZOHO_LEADS))
        dry = _cli("convert", "--dry-run", "-b", "zoho", "--config", str(config), str(ZOHO_LEADS))
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout) == json.loads(planned.stdout)

    def test_bad_setting_refused_by_validate_too(self) -> None:
        out = _cli("validate", "-b", "zoho", "--set", "api_version=v3", str(ZOHO_LEADS))
        assert out.returncode == 2, out.stderr
        assert "api_version" in out.stderr


class TestPythonApi:
    def test_validate(self) -> None:
        checked = lc.validate(ZOHO_LEADS, "zoho")
        assert checked.total == sum(1 for line in ZOHO_LEADS.read_text().splitlines() if line)
        assert checked.ok

    def test_validate_reports_every_bad_record(self) -> None:
        bad = lc.validate(
            [lc.Conversion(lead_id="1"), lc.Conversion(lead_id="00Q000000000001")], "salesforce"
        )
        assert [r.line for r in bad.invalid] == [1]
        assert all(v.backend == "salesforce" for v in bad.invalid[0].violations)

    def test_plan_uses_the_given_settings(self) -> None:
        shown = lc.plan(ZOHO_LEADS, "zoho", settings={"api_version": "v7"})
        assert not shown.invalid
        assert _paths(shown.document()) == {"v7"}

    def test_plan_equals_the_command_line(self) -> None:
        out = _cli("plan", "-b", "zoho", "--set", "api_version=v8", str(ZOHO_LEADS))
        with lc.connect("zoho") as session:  # the emulated org's settings, as plan uses them
            settings = dict(session.settings)
        shown = lc.plan(ZOHO_LEADS, "zoho", settings=settings)
        assert json.loads(lc.dumps_json(shown.document())) == json.loads(out.stdout)

    def test_public_converter_raises_leadconvert_errors(self) -> None:
        converter = lc.NeutralConverter({})
        with pytest.raises(lc.ValidationError) as info:
            converter.structure({"lead_id": "1", "acount": {"action": "create"}})
        assert isinstance(info.value, lc.LeadConvertError)
        assert any(v.rule == "input.unknown_field" for v in info.value.violations)

    def test_convert_on_the_emulator_and_resume(self, tmp_path: Path) -> None:
        seen: list[lc.Outcome] = []
        with lc.connect("zoho") as session:
            assert session.emulator is not None
            leads = [session.emulator.add_lead() for _ in range(3)]
            source = [lc.Conversion(lead_id=lead) for lead in leads]
            kwargs = {"report": tmp_path / "r.jsonl", "journal": tmp_path / "j.sqlite"}
            first = lc.convert(source, session, progress=seen.append, **kwargs)
            again = lc.convert(source, session, **kwargs)
            counts = [session.emulator.counts(lead)["convert"] for lead in leads]
        assert first.succeeded and again.succeeded
        assert seen == [lc.Outcome.CONVERTED] * 3
        assert counts == [1, 1, 1]

    def test_version_comes_from_the_package(self) -> None:
        from importlib.metadata import version

        assert lc.__version__ == version("leadconvert")


class TestDefaults:
    """--default fills target fields a conversion left unset, and the plan says so."""

    LINE = (
        '{"lead_id": "5000000000000001000", "owner_id": "4876876000000225013", '
        '"opportunity": {"action": "create", "name": "Deal"}}\n'
    )
    FLAGS = (
        "--default",
        "opportunity.stage=Qualification",
        "--default",
        "opportunity.pipeline=Standard (Standard)",
        "--default",
        "opportunity.close_date=2026-12-31",
    )

    def test_without_defaults_zoho_refuses(self, tmp_path: Path) -> None:
        src = tmp_path / "in.jsonl"
        src.write_text(self.LINE)
        out = _cli("plan", "-b", "zoho", str(src))
        assert out.returncode == 1
        assert "opportunity.stage" in out.stderr

    def test_flags_fill_and_are_shown(self, tmp_path: Path) -> None:
        src = tmp_path / "in.jsonl"
        src.write_text(self.LINE)
        out = _cli("plan", "-b", "zoho", *self.FLAGS, str(src))
        assert out.returncode == 0, out.stderr
        document = json.loads(out.stdout)
        (deal,) = [r["json"]["data"][0]["Deals"] for r in document["requests"]]
        assert deal["Stage"] == "Qualification" and deal["Closing_Date"] == "2026-12-31"
        applied = {w["path"] for w in document["warnings"] if w["rule"] == "defaults.applied"}
        assert applied == {"opportunity.stage", "opportunity.pipeline", "opportunity.close_date"}

    def test_config_table_and_a_given_value_wins(self, tmp_path: Path) -> None:
        config = tmp_path / "c.toml"
        config.write_text(
            '[zoho.defaults]\n"opportunity.stage" = "Qualification"\n'
            '"opportunity.pipeline" = "Standard (Standard)"\n'
            '"opportunity.close_date" = "2026-12-31"\n"opportunity.name" = "Unused"\n'
        )
        src = tmp_path / "in.jsonl"
        src.write_text(self.LINE)
        out = _cli("convert", "--dry-run", "-b", "zoho", "--config", str(config), str(src))
        assert out.returncode == 0, out.stderr
        (deal,) = [r["json"]["data"][0]["Deals"] for r in json.loads(out.stdout)["requests"]]
        assert deal["Deal_Name"] == "Deal"

    def test_python_api(self) -> None:
        conversion = lc.Conversion(
            lead_id="5000000000000001000",
            owner_id="4876876000000225013",
            opportunity=lc.CreateOpportunity("Deal"),
        )
        defaults = lc.Defaults.parse(arg for arg in self.FLAGS if arg != "--default")
        assert lc.plan([conversion], "zoho").invalid
        assert not lc.plan([conversion], "zoho", defaults=defaults).invalid


def test_a_bad_model_value_is_a_validation_error() -> None:
    """Building a model object with a bad value raises inside leadconvert's exception tree."""
    with pytest.raises(lc.ValidationError) as info:
        lc.Conversion(lead_id="bad id!")
    (violation,) = info.value.violations
    assert violation.path == "lead_id" and violation.rule == "model.invalid_value"
    with pytest.raises(lc.ValidationError):
        lc.CreateOpportunity(name="  ")
