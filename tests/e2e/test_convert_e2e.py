"""`leadconvert convert` end to end: real subprocesses, real transports, the shipped emulators.

The emulators run in this test process, so their state (which leads are converted, how many
convert requests named each lead) is the evidence that no lead was lost or converted twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from e2e_helpers import (
    _convert,
    _done,
    _env,
    _finish,
    _rows,
    _wait_for_rows,
    _write,
    _zoho_env,
)
from leadconvert_salesforce import SalesforceEmulator, to_18
from leadconvert_zoho import ZohoEmulator

FIRST = 5000000000000001000  # the Zoho seed's generated leads
OWNER = "4876876000000225013"
DEAL = {
    "action": "create",
    "name": "E2E deal",
    "stage": "Needs Analysis",
    "close_date": "2026-12-31",
    "pipeline": "Standard (Standard)",
    "amount": "1500.00",
}


def _zoho_leads(n: int, mass: int = 0) -> list[dict[str, object]]:
    """``mass`` leads that can share mass converts, then single-convert ones, n in all."""
    lines: list[dict[str, object]] = []
    for i in range(n):
        line: dict[str, object] = {"lead_id": str(FIRST + i)}
        if i < mass:
            line.update(owner_id=OWNER, opportunity=DEAL)
        lines.append(line)
    return lines


def _assert_exactly_once(emulator: ZohoEmulator, lead_ids: list[str]) -> None:
    for lead_id in lead_ids:
        assert emulator.lead(lead_id).get("$converted"), f"lead {lead_id} is not converted"
        assert emulator.convert_requests[lead_id] == 1, (
            f"lead {lead_id} was sent {emulator.convert_requests[lead_id]} times"
        )


class TestResume:
    def test_sigkill_mid_run_then_resume_converts_each_lead_once(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """A run killed with SIGKILL mid-way and run again converts every lead exactly once."""
        lines = _zoho_leads(260, mass=100)
        source = _write(tmp_path / "leads.jsonl", lines)
        report = tmp_path / "leads.report.jsonl"
        # Slow every single convert a little so the kill lands mid-run, with calls in flight.
        zoho_emulator.inject("delay", count=10_000, delay=0.02, path="/actions/convert")
        process = _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source)
        _wait_for_rows(report, 60)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        # The report is written when a run ends: a killed run has only its journal.
        assert not report.exists()
        done_before = _done(report.with_suffix(".journal.sqlite"))
        assert 0 < done_before < len(lines), "the kill did not land mid-run"

        zoho_emulator.clear_faults()
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        assert code == 0, err
        rows = _rows(report)
        assert sorted(str(r["lead_id"]) for r in rows) == sorted(str(x["lead_id"]) for x in lines)
        assert {r["outcome"] for r in rows} == {"converted"}
        _assert_exactly_once(zoho_emulator, [str(x["lead_id"]) for x in lines])

    def test_interrupt_stops_cleanly_and_resumes(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """Ctrl-C stops after the calls in flight (exit 130); the rerun finishes the rest once."""
        lines = _zoho_leads(120)
        source = _write(tmp_path / "leads.jsonl", lines)
        report = tmp_path / "leads.report.jsonl"
        zoho_emulator.inject("delay", count=10_000, delay=0.03, path="/actions/convert")
        process = _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source)
        _wait_for_rows(report, 20)
        process.send_signal(signal.SIGINT)
        code, err = _finish(process)
        assert code == 130, err
        assert "run the same command again to resume" in err
        assert "Traceback" not in err
        first = _rows(report)
        # Calls in flight finish; calls marked and queued behind the workers are not sent.
        assert sum(r["outcome"] == "converted" for r in first) >= 20
        for row in first:
            if row["outcome"] != "converted":
                assert row["outcome"] == "not_attempted", row
                assert row["message"] == "not sent: the run was interrupted first", row

        zoho_emulator.clear_faults()
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        assert code == 0, err
        assert len(_rows(report)) == len(lines)
        _assert_exactly_once(zoho_emulator, [str(x["lead_id"]) for x in lines])


class TestFaults:
    def test_zoho_faults_every_lead_recorded_once(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """429s, 5xx and dropped connections (before and after acting) end with every lead
        converted once and recorded."""
        lines = _zoho_leads(140, mass=60)
        source = _write(tmp_path / "leads.jsonl", lines)
        zoho_emulator.inject("status", count=2, status=429, retry_after=0.05)
        zoho_emulator.inject("status", count=2, status=500)
        zoho_emulator.inject("drop_before", count=1, path="/actions/convert")
        zoho_emulator.inject("drop_after", count=2, path="/actions/convert")
        zoho_emulator.inject("drop_after", count=1, path="/mass_convert", method="POST")
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        rows = _rows(tmp_path / "leads.report.jsonl")
        assert len(rows) == len(lines)
        assert code == 0, err
        assert {r["outcome"] for r in rows} == {"converted"}
        _assert_exactly_once(zoho_emulator, [str(x["lead_id"]) for x in lines])

    def test_salesforce_faults_and_follow_ups(
        self, tmp_path: Path, sf_emulator: SalesforceEmulator
    ) -> None:
        """On Salesforce, a dropped call is reconciled, every lead recorded once, and the
        follow-up opportunity update reported per lead."""
        ids = [to_18(f"00QB{i:011d}") for i in range(150)]
        lines: list[dict[str, object]] = [{"lead_id": lead_id} for lead_id in ids]
        lines[5]["opportunity"] = {
            "action": "create",
            "name": "Follow-up deal",
            "stage": "Prospecting",
            "close_date": "2026-12-31",
            "amount": "250.00",
        }
        source = _write(tmp_path / "leads.jsonl", lines)
        sf_emulator.inject("drop_after", 1)
        sf_emulator.inject("server_unavailable", 1)
        env = _env("salesforce", sf_emulator.credentials(), retry_base_delay="0.01")
        code, err = _finish(_convert(tmp_path, env, "salesforce", source))
        rows = {str(r["lead_id"]): r for r in _rows(tmp_path / "leads.report.jsonl")}
        assert code == 0, err
        assert set(rows) == set(ids)
        assert {r["outcome"] for r in rows.values()} == {"converted"}
        follow_ups = rows[ids[5]]["follow_ups"]
        assert isinstance(follow_ups, list) and follow_ups[0]["succeeded"] is True
        opportunity = sf_emulator.record("Opportunity", str(rows[ids[5]]["opportunity_id"]))
        assert opportunity["StageName"] == "Prospecting"
        assert all(sf_emulator.convert_requests[i] == 1 for i in ids)


class TestBadInput:
    def test_mixed_file_converts_valid_and_reports_broken(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """Valid lines convert; broken ones are reported with their line and reason; exit 1."""
        source = tmp_path / "leads.jsonl"
        source.write_text(
            f'{{"lead_id": "{FIRST}"}}\n'
            "{not json\n"
            f'{{"lead_id": "{FIRST + 1}", "opportunity": {{"action": "create", "name": "x"}}}}\n'
            f'{{"lead_id": "{FIRST + 2}", "account": {{"action": "merge_person_account", "id": "1"}}}}\n'
            f'{{"lead_id": "{FIRST + 3}"}}\n'
            f'{{"lead_id": "{FIRST}"}}\n'
        )
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        assert code == 1
        assert "Traceback" not in err
        rows = {r["line"]: r for r in _rows(tmp_path / "leads.report.jsonl")}
        assert set(rows) == {1, 2, 3, 4, 5, 6}
        assert rows[1]["outcome"] == rows[5]["outcome"] == "converted"
        for line in (2, 3, 4, 6):
            assert rows[line]["outcome"] == "not_attempted"
        assert f"leads.jsonl:3: lead {FIRST + 1} opportunity" in err
        assert "line 1" in str(rows[6]["message"])
        _assert_exactly_once(zoho_emulator, [str(FIRST), str(FIRST + 3)])
        assert not zoho_emulator.lead(str(FIRST + 1)).get("$converted")

    def test_unpaired_surrogate_is_its_line_problem_and_the_report_is_written(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """An escaped surrogate without its pair (text UTF-8 cannot hold) invalidates its line,
        named; the report, which could not be written before, holds every line."""
        source = tmp_path / "leads.jsonl"
        source.write_text(
            f'{{"lead_id": "{FIRST}"}}\n'
            f'{{"lead_id": "{FIRST + 1}", "opportunity": {{"action": "create", '
            '"name": "Q\\ud800"}}\n'
        )
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        assert code == 1
        assert "Traceback" not in err
        assert f"leads.jsonl:2: lead {FIRST + 1} opportunity.name: holds an unpaired" in err
        rows = {r["line"]: r for r in _rows(tmp_path / "leads.report.jsonl")}
        assert rows[1]["outcome"] == "converted"
        assert rows[2]["outcome"] == "not_attempted"
        assert "\\ud800" in str(rows[2]["message"])
        assert zoho_emulator.convert_requests[str(FIRST + 1)] == 0

    def test_fail_fast_stops_at_first_bad_line(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """--fail-fast stops at the first invalid line instead of converting the others."""
        source = tmp_path / "leads.jsonl"
        source.write_text(f'{{oops\n{{"lead_id": "{FIRST}"}}\n')
        code, _ = _finish(
            _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source, "--fail-fast")
        )
        assert code == 1
        assert zoho_emulator.convert_requests[str(FIRST)] == 0


class TestNoCredentials:
    def test_runs_on_the_emulator_and_says_so(self, tmp_path: Path) -> None:
        """Without credentials, convert runs on the emulator and says so loudly."""
        source = Path(__file__).parents[2] / "examples" / "emulator" / "zoho-leads.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
        report = tmp_path / "out.csv"
        code, err = _finish(_convert(tmp_path, env, "zoho", source, "--report", str(report)))
        assert code == 0, err
        assert "NO CREDENTIALS GIVEN" in err and "EMULATOR" in err
        header, *body = report.read_text().splitlines()
        assert header.startswith("line,lead_id,outcome,")
        assert len(body) == len(source.read_text().splitlines())


class TestMatchAndStatus:
    def test_match_json(self, tmp_path: Path, zoho_emulator: ZohoEmulator) -> None:
        """`leadconvert match --json` prints the neutral match report of the Kaizen lead."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "leadconvert",
                "match",
                "-b",
                "zoho",
                "--json",
                "4876876000007400001",
            ],
            env=_zoho_env(zoho_emulator),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["preferred_module"] == "contacts"
        assert {c["id"] for c in report["contacts"]} == {
            "4876876000007421001",
            "4876876000007437017",
        }

    def test_status_of_a_mass_convert_job(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """`leadconvert status` shows a mass convert job's counts as Zoho reports them."""
        source = _write(tmp_path / "leads.jsonl", _zoho_leads(3, mass=3))
        code, err = _finish(_convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source))
        assert code == 0, err
        job_ids = {r["job_id"] for r in _rows(tmp_path / "leads.report.jsonl")}
        assert len(job_ids) == 1 and None not in job_ids
        out = subprocess.run(
            [sys.executable, "-m", "leadconvert", "status", "-b", "zoho", str(job_ids.pop())],
            env=_zoho_env(zoho_emulator),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        assert status["Status"] == "completed"
        assert status["Converted_Count"] == 3


class TestEmulatorSettings:
    def test_emulated_org_settings_fill_in(self, tmp_path: Path) -> None:
        """Without credentials the emulated org's own settings (Zoho module ids) are used, so
        carrying all tags over in a mass convert works out of the box."""
        lines: list[dict[str, object]] = [
            {"lead_id": str(FIRST + i), "owner_id": OWNER, "carry_over_tags": {"contacts": "all"}}
            for i in range(3)
        ]
        source = _write(tmp_path / "leads.jsonl", lines)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
        code, err = _finish(_convert(tmp_path, env, "zoho", source))
        assert code == 0, err
        rows = _rows(tmp_path / "leads.report.jsonl")
        assert {r["outcome"] for r in rows} == {"converted"} and len(rows) == 3
        assert len({r["job_id"] for r in rows}) == 1


class TestStatusExitCodes:
    def test_unknown_job_is_a_refusal_not_an_outage(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """A job id Zoho refuses exits 1 with its message; an unreachable CRM exits 3."""
        refused = subprocess.run(
            [sys.executable, "-m", "leadconvert", "status", "-b", "zoho", "12345"],
            env=_zoho_env(zoho_emulator),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1 and "12345" in refused.stderr
        env = _zoho_env(zoho_emulator)
        env["LEADCONVERT_ZOHO_API_DOMAIN"] = "http://127.0.0.1:9"  # nothing listens there
        env["LEADCONVERT_ZOHO_MAX_RETRIES"] = "0"
        down = subprocess.run(
            [sys.executable, "-m", "leadconvert", "status", "-b", "zoho", "12345"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 3, down.stderr
        assert "Traceback" not in down.stderr
