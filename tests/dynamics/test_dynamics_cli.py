"""``leadconvert`` on the dynamics backend, end to end: no credentials means the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from leadconvert_dynamics import DynamicsEmulator

import leadconvert

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dynamics" / "leads.jsonl"
SF_EXAMPLE = ROOT / "examples" / "salesforce" / "leadconverts.json"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_backends_lists_dynamics() -> None:
    backend = leadconvert.load_registry().get("dynamics")
    assert backend.name == "dynamics"


def test_validate_plan_parse_convert_on_the_emulator(tmp_path: Path) -> None:
    assert cli("validate", "--backend", "dynamics", str(EXAMPLE), cwd=tmp_path).returncode == 0
    planned = cli(
        "plan", "--backend", "dynamics", "--set", "batch_size=2", str(EXAMPLE), cwd=tmp_path
    )
    assert planned.returncode == 0, planned.stderr
    document = json.loads(planned.stdout)
    # 4 leads, 2 a batch: two qualify batches, and one follow-up for the lead with an opportunity.
    assert [r["kind"] for r in document["requests"]] == [
        "qualify_batch",
        "follow_up_batch",
        "qualify_batch",
    ]
    assert document["requests"][1]["after"] == 0
    assert document["requests"][0]["path"] == "/api/data/v9.2/$batch"
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(planned.stdout, encoding="utf-8")
    parsed = cli("parse", "--backend", "dynamics", str(plan_file), cwd=tmp_path)
    assert parsed.returncode == 0, parsed.stderr
    back = [json.loads(line) for line in parsed.stdout.splitlines()]
    given = [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]
    assert back == given

    report = tmp_path / "report.jsonl"
    converted = cli(
        "convert", "--backend", "dynamics", "--report", str(report), str(EXAMPLE), cwd=tmp_path
    )
    assert converted.returncode == 0, converted.stderr
    assert "EMULATOR" in converted.stderr
    rows = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [r["outcome"] for r in rows] == ["converted"] * 4
    with_deal = rows[1]
    assert with_deal["account_id"] == "00000002-0000-4000-8000-000000000001"  # merged
    assert with_deal["opportunity_id"] and with_deal["contact_id"]
    (step,) = with_deal["follow_ups"]
    assert step["succeeded"] and "update opportunity" in step["action"]


def test_match_on_the_emulator(tmp_path: Path) -> None:
    found = cli(
        "match",
        "--backend",
        "dynamics",
        "--json",
        "00000001-0000-4000-8000-000000000002",
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    text = json.dumps(report)
    assert "00000003-0000-4000-8000-000000000000" in text  # the contact, by e-mail
    assert "00000002-0000-4000-8000-000000000000" in text  # the account, by name


def test_translate_salesforce_to_dynamics_with_renamed_ids(tmp_path: Path) -> None:
    ids = tmp_path / "ids.json"
    ids.write_text(
        json.dumps(
            {
                "00Q000000000001EAA": "00000001-0000-4000-8000-000000000010",
                "001000000000001AAA": "00000002-0000-4000-8000-000000000010",
                "003000000000001AAA": "00000003-0000-4000-8000-000000000010",
                "00Q000000000002EAA": "00000001-0000-4000-8000-000000000011",
                "005000000000002AAA": "00000005-0000-4000-8000-000000000011",
            }
        ),
        encoding="utf-8",
    )
    strict = cli(
        "translate",
        "--from",
        "salesforce",
        "--to",
        "dynamics",
        "--ids",
        str(ids),
        str(SF_EXAMPLE),
        cwd=tmp_path,
    )
    # Strict: overwriteLeadSource, sendNotificationEmail and the Salesforce options are refused.
    assert strict.returncode == 1
    assert "overwrite_lead_source" in strict.stderr
    lenient = cli(
        "translate",
        "--from",
        "salesforce",
        "--to",
        "dynamics",
        "--lenient",
        "--ids",
        str(ids),
        str(SF_EXAMPLE),
        cwd=tmp_path,
    )
    assert lenient.returncode == 0, lenient.stderr
    document = json.loads(lenient.stdout)
    assert [r["kind"] for r in document["requests"]] == ["qualify_batch", "follow_up_batch"]
    body = document["requests"][0]["body"]
    assert '"parentaccountid@odata.bind": "/accounts(00000002-0000-4000-8000-000000000010)"' in body
    assert '"Status": "Closed - Converted"' in body
    # And back again: the Dynamics plan reads as Salesforce's LeadConverts.
    plan_file = tmp_path / "dynamics-plan.json"
    plan_file.write_text(lenient.stdout, encoding="utf-8")
    back_ids = tmp_path / "back.json"
    back_ids.write_text(
        json.dumps({v: k for k, v in json.loads(ids.read_text()).items()}), encoding="utf-8"
    )
    back = cli(
        "translate",
        "--from",
        "dynamics",
        "--to",
        "salesforce",
        "--ids",
        str(back_ids),
        str(plan_file),
        cwd=tmp_path,
    )
    assert back.returncode == 0, back.stderr
    assert "00Q000000000001EAA" in back.stdout and "Zylker expansion" in back.stdout


@pytest.mark.parametrize("setting", ["batch_size=0", "max_concurrency=52", "status=Lost"])
def test_bad_settings_are_refused_before_any_record(tmp_path: Path, setting: str) -> None:
    result = cli("plan", "--backend", "dynamics", "--set", setting, str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert setting.split("=", maxsplit=1)[0] in result.stderr


def test_convert_on_match_merges_into_the_matching_contact_and_its_account(
    tmp_path: Path,
) -> None:
    source = tmp_path / "leads.jsonl"
    source.write_text(
        '{"lead_id": "00000001-0000-4000-8000-000000000002"}\n'
        '{"lead_id": "00000001-0000-4000-8000-000000000000"}\n',
        encoding="utf-8",
    )
    report = tmp_path / "report.jsonl"
    result = cli(
        "convert",
        "--backend",
        "dynamics",
        "--on-match",
        "merge",
        "--report",
        str(report),
        str(source),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    yvonne, alex = (json.loads(line) for line in report.read_text(encoding="utf-8").splitlines())
    # Yvonne's e-mail is an existing contact's: merged (no duplicate error), with its account.
    assert (yvonne["outcome"], yvonne["contact_id"], yvonne["account_id"]) == (
        "converted",
        "00000003-0000-4000-8000-000000000000",
        "00000002-0000-4000-8000-000000000000",
    )
    assert "merged into contact" in yvonne["merge"]
    assert alex["outcome"] == "converted" and alex["merge"] == "no existing record matches"


def test_credentials_from_a_config_file_reach_the_org_they_name(
    tmp_path: Path, emulator: DynamicsEmulator
) -> None:
    config = tmp_path / "leadconvert.toml"
    lines = ["[dynamics]"]
    lines += [f'{key} = "{value}"' for key, value in emulator.credentials().items()]
    lines += ["", "[dynamics.settings]", 'status = "Qualified by Partner"', 'batch_size = "2"']
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.jsonl"
    result = cli(
        "convert",
        "--backend",
        "dynamics",
        "--config",
        str(config),
        "--report",
        str(report),
        str(EXAMPLE),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "EMULATOR" not in result.stderr
    assert emulator.credentials()["client_secret"] not in result.stdout + result.stderr
    # This org (the in-process emulator) was the one converted, with the configured status.
    assert emulator.lead("00000001-0000-4000-8000-000000000000")["statuscode"] == 100000001
    assert emulator.counts("00000001-0000-4000-8000-000000000000")["convert"] == 1


def test_parse_a_single_qualifylead_request_as_a_dataverse_client_sends_it(
    tmp_path: Path,
) -> None:
    request = ROOT / "examples" / "dynamics" / "qualify-lead.request.json"
    parsed = cli("parse", "--backend", "dynamics", str(request), cwd=tmp_path)
    assert parsed.returncode == 0, parsed.stderr
    (conversion,) = (json.loads(line) for line in parsed.stdout.splitlines())
    assert conversion == {
        "lead_id": "00000001-0000-4000-8000-000000000003",
        "account": {"action": "merge", "id": "00000002-0000-4000-8000-000000000000"},
        "opportunity": {"action": "create"},
        "converted_status": "3",
        "options": {"dynamics": {"source_campaign_id": "260d0f66-0000-4000-8000-000000000000"}},
    }
