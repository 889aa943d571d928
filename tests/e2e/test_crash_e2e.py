"""The crash suite: `leadconvert convert` killed at many points of a run, then resumed.

Real subprocesses, real transports, the shipped emulators (in this test process, so their
counters are the evidence). Every kill waits for an observable event (a journal row, a request
that reached the emulator, a job still scheduled) and checks it landed in its window; after the
last resume every lead has exactly one convert request at the emulator, every requested
follow-up exactly one applied update, and a report row with the right outcome and ids.

The long chains are marked ``crash_full`` (``pytest -m crash_full tests/e2e``); CI runs the rest.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_helpers import (
    Run,
    converts,
    env_without_leadconvert,
    journal_leads,
    opportunity_updates,
    requests_of,
    wait_for,
    zoho_requests,
)
from e2e_helpers import _env, _write, _zoho_env
from leadconvert_salesforce import to_18

from leadconvert._journal import read_departure_log
from leadconvert.emulation import Fault

FIRST = 5000000000000001000  # the Zoho seed's generated leads
OWNER = "4876876000000225013"
DEAL = {
    "action": "create",
    "name": "Crash deal",
    "stage": "Needs Analysis",
    "close_date": "2026-12-31",
    "pipeline": "Standard (Standard)",
    "amount": "1500.00",
}
SF_DEAL = {
    "action": "create",
    "name": "Crash follow-up deal",
    "stage": "Prospecting",
    "close_date": "2026-12-31",
    "amount": "250.00",
}


def _rows(report: Path) -> dict[str, dict[str, Any]]:
    return {
        str(r["lead_id"]): r
        for r in (json.loads(line) for line in report.read_text().splitlines() if line.strip())
    }


def _zoho(emulator: Any, tmp_path: Path, **settings: str) -> dict[str, str]:
    env = _zoho_env(emulator)
    env.update({f"LEADCONVERT_ZOHO_{k.upper()}": v for k, v in settings.items()})
    env["LEADCONVERT_LOCK_DIR"] = str(tmp_path / "locks")
    return env


def _salesforce(emulator: Any, tmp_path: Path, **settings: str) -> dict[str, str]:
    env = _env("salesforce", emulator.credentials(), retry_base_delay="0.01", **settings)
    env["LEADCONVERT_LOCK_DIR"] = str(tmp_path / "locks")
    return env


def _job_of(emulator: Any, job_id: str) -> Any:
    with emulator.lock:
        return emulator.org.jobs[job_id]


def _job_pending(emulator: Any, job_id: str) -> bool:
    """The job is scheduled and not yet due: its leads are not converted yet."""
    job = _job_of(emulator, job_id)
    return bool(job.status == "SCHEDULED" and time.monotonic() < job.due)


def _journaled_jobs(journal: Path) -> dict[str, list[str]]:
    """The jobs the journal holds for leads still in doubt, as a resumed run reads them: a
    lead's own row, else the departure log's line for the call the row names."""
    log = read_departure_log(journal.with_name(journal.name + "-departures"))
    jobs: dict[str, list[str]] = {}
    for lead, row in journal_leads(journal).items():
        job = row["job_id"] or log.jobs.get((row["run_id"], row["call_id"]))
        if job and (row["state"] == "sending" or row["outcome"] == "scheduled"):
            jobs.setdefault(job, []).append(lead)
    return jobs


def _zoho_converted(emulator: Any, lead_id: str) -> bool:
    return bool(emulator.lead(lead_id).get("$converted"))


def _assert_zoho_end(emulator: Any, report: Path, lines: list[dict[str, Any]]) -> None:
    rows = _rows(report)
    assert sorted(rows) == sorted(str(x["lead_id"]) for x in lines)
    for line in lines:
        lead = str(line["lead_id"])
        row = rows[lead]
        assert row["outcome"] == "converted", row
        assert converts(emulator, lead) == 1, f"lead {lead} was sent {converts(emulator, lead)}x"
        detail = emulator.lead(lead)["$converted_detail"]
        assert row["contact_id"] == detail["contact"], row
        assert row["account_id"] == detail["account"], row
        if "opportunity" in line:
            assert row["opportunity_id"] == detail["deal"], row


class TestZohoCrashes:
    @pytest.mark.crash_full
    def test_eleven_kills_over_one_run(self, tmp_path: Path, zoho_emulator: Any) -> None:
        """Kills before a job is scheduled, during scheduled jobs (SIGKILL, SIGTERM), while a
        resume polls a job or waits on leads in doubt, during single converts (SIGKILL,
        Ctrl-C), with a convert in flight, and right before the end: each lead once."""
        zoho_emulator.job_delay = 2.5
        mass = [
            {"lead_id": str(FIRST + i), "owner_id": OWNER, "opportunity": DEAL} for i in range(200)
        ]
        singles = [{"lead_id": str(FIRST + 200 + i)} for i in range(40)]
        lines: list[dict[str, Any]] = [*mass, *singles]
        source = _write(tmp_path / "leads.jsonl", lines)
        report, journal = tmp_path / "report.jsonl", tmp_path / "journal.sqlite"
        env = _zoho(zoho_emulator, tmp_path, doubt_wait="8")
        args = (
            str(source),
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--concurrency",
            "1",
        )
        zoho_emulator.inject("delay", count=None, delay=0.03, path="/actions/convert")

        def jobs_now() -> int:
            with zoho_emulator.lock:
                return len(zoho_emulator.org.jobs)

        # 1. SIGKILL with the first mass convert at Zoho, not yet scheduled (held 1 s).
        held = zoho_emulator.inject("delay", count=1, delay=1.0, path="mass_convert", method="POST")
        run = Run(tmp_path, env, "zoho", *args)
        wait_for("the first mass convert at Zoho", lambda: held.hits == 1, run)
        # Zoho counts the request at its headers: let the client finish writing the body.
        time.sleep(0.1)
        before = jobs_now()
        run.kill()
        run.wait()
        assert before == 0, "the job was scheduled before the kill"
        batch1 = [str(x["lead_id"]) for x in mass[:50]]

        # 2. SIGKILL the resume while it waits for those leads (in doubt, job not yet run).
        run = Run(tmp_path, env, "zoho", *args)
        lookups = zoho_requests(zoho_emulator, "GET", "/Leads?") + zoho_requests(
            zoho_emulator, "GET", "/Leads"
        )
        wait_for(
            "the resume reading the leads in doubt",
            lambda: (
                zoho_requests(zoho_emulator, "GET", "/Leads")
                > lookups - zoho_requests(zoho_emulator, "GET", "/Leads?")
                and jobs_now() == 1
            ),
            run,
        )
        assert not _zoho_converted(zoho_emulator, batch1[0]), "the job ran before the kill"
        run.kill()
        run.wait()
        # Zoho acted on the held request after its sender died: the leads are in doubt.
        with zoho_emulator.lock:
            (job1,) = zoho_emulator.org.jobs.values()
        assert job1.ids == batch1, "the held mass convert was not the first batch"

        # 3. SIGKILL while the second mass convert's job is scheduled (its id journaled).
        run = Run(tmp_path, env, "zoho", *args)
        wait_for(
            "a second job journaled and still scheduled",
            lambda: any(
                _job_pending(zoho_emulator, j) and leads[0] not in batch1
                for j, leads in _journaled_jobs(journal).items()
            ),
            run,
        )
        run.kill()
        run.wait()
        (job2,) = [j for j, leads in _journaled_jobs(journal).items() if leads[0] not in batch1]
        assert _job_pending(zoho_emulator, job2), "the job ended before the kill"
        assert all(_zoho_converted(zoho_emulator, lead) for lead in batch1), (
            journal_leads(journal).get(batch1[0]),
            [(j.status, j.ids[0]) for j in zoho_emulator.org.jobs.values()],
            zoho_emulator.lead(batch1[0]),
        )

        # 4. SIGKILL the resume while it polls that journaled job.
        run = Run(tmp_path, env, "zoho", *args)
        polls = zoho_requests(zoho_emulator, "GET", "mass_convert")
        wait_for(
            "the resume polling the journaled job",
            lambda: zoho_requests(zoho_emulator, "GET", "mass_convert") > polls,
            run,
        )
        assert _job_pending(zoho_emulator, job2), "the job ended before the kill"
        run.kill()
        run.wait()

        # 5. SIGTERM while the third job is scheduled: exit 130 at once, the job journaled.
        run = Run(tmp_path, env, "zoho", *args)
        wait_for(
            "a third job journaled and still scheduled",
            lambda: any(
                _job_pending(zoho_emulator, j) and j != job2 for j in _journaled_jobs(journal)
            ),
            run,
        )
        run.kill(signal.SIGTERM)
        assert run.wait(timeout=10) == 130, run.stderr
        (job3,) = [j for j in _journaled_jobs(journal) if j != job2]
        assert _job_of(zoho_emulator, job3).ids, "the third job was not journaled"

        # 6. SIGKILL during the single converts.
        single_ids = [str(x["lead_id"]) for x in singles]
        run = Run(tmp_path, env, "zoho", *args)
        wait_for(
            "ten single converts",
            lambda: sum(converts(zoho_emulator, s) for s in single_ids) >= 10,
            run,
        )
        run.kill()
        run.wait()
        assert sum(_zoho_converted(zoho_emulator, s) for s in single_ids) < len(single_ids)

        # 7. Ctrl-C during the single converts: the call in flight ends, exit 130.
        run = Run(tmp_path, env, "zoho", *args)
        done = sum(converts(zoho_emulator, s) for s in single_ids)
        wait_for(
            "five more single converts",
            lambda: sum(converts(zoho_emulator, s) for s in single_ids) >= done + 5,
            run,
        )
        run.kill(signal.SIGINT)
        assert run.wait(timeout=30) == 130, run.stderr

        # 8. SIGKILL with a single convert at Zoho, not yet applied (held 4 s).
        zoho_emulator.clear_faults()  # the held fault must be the first that matches
        held = zoho_emulator.inject("delay", count=1, delay=4.0, path="/actions/convert")
        zoho_emulator.inject("delay", count=None, delay=0.03, path="/actions/convert")
        run = Run(tmp_path, env, "zoho", *args)
        wait_for("a held single convert at Zoho", lambda: held.hits == 1, run)
        run.kill()
        run.wait()
        # With one call at a time, the held convert is the last one Zoho received.
        cut = [p for m, p in zoho_emulator.calls if p.endswith("/actions/convert")][-1]
        cut = cut.split("/Leads/")[1].split("/")[0]
        assert journal_leads(journal)[cut]["state"] == "sending"
        assert not _zoho_converted(zoho_emulator, cut), "the held convert was applied"

        # 9. SIGKILL the resume while it waits for that lead (Zoho may still convert it).
        run = Run(tmp_path, env, "zoho", *args)
        reads = zoho_requests(zoho_emulator, "GET", "/Leads")
        wait_for(
            "the resume reading the lead in doubt",
            lambda: zoho_requests(zoho_emulator, "GET", "/Leads") > reads,
            run,
        )
        converted_at_kill = _zoho_converted(zoho_emulator, cut)
        run.kill()
        run.wait()
        assert not converted_at_kill, "the held convert was applied before the kill"

        # 10. SIGKILL right before the end: the input's last lead, sent after every other one
        #     (one call at a time), held 2 s at Zoho.
        last = single_ids[-1]
        zoho_emulator.clear_faults()
        held = zoho_emulator.inject(
            "delay", count=1, delay=2.0, path=f"/Leads/{last}/actions/convert"
        )
        zoho_emulator.inject("delay", count=None, delay=0.03, path="/actions/convert")
        run = Run(tmp_path, env, "zoho", *args)
        wait_for("the last lead held at Zoho", lambda: held.hits == 1, run)
        run.kill()
        run.wait()
        assert not _zoho_converted(zoho_emulator, last), "the last convert was applied"
        recorded = journal_leads(journal)
        # Near the end: at most a lead or two an earlier kill left in doubt still to go.
        assert sum(recorded[s]["state"] != "done" for s in single_ids) <= 3, "not near the end"

        # 11. SIGKILL the resume while it waits for the last lead; then resume to the end.
        run = Run(tmp_path, env, "zoho", *args)
        reads = zoho_requests(zoho_emulator, "GET", "/Leads")
        wait_for(
            "the resume reading the last lead",
            lambda: zoho_requests(zoho_emulator, "GET", "/Leads") > reads,
            run,
        )
        run.kill()
        run.wait()
        run = Run(tmp_path, env, "zoho", *args)
        assert run.wait() == 0, run.stderr
        _assert_zoho_end(zoho_emulator, report, lines)

    def test_kill_during_a_scheduled_job_then_resume(
        self, tmp_path: Path, zoho_emulator: Any
    ) -> None:
        """A run killed while its mass convert job is scheduled (a job that takes seconds): the
        resume polls the journaled job to its end and sends none of its leads again."""
        zoho_emulator.job_delay = 3.0
        lines: list[dict[str, Any]] = [
            {"lead_id": str(FIRST + i), "owner_id": OWNER, "opportunity": DEAL} for i in range(60)
        ]
        source = _write(tmp_path / "leads.jsonl", lines)
        report, journal = tmp_path / "report.jsonl", tmp_path / "journal.sqlite"
        env = _zoho(zoho_emulator, tmp_path, doubt_wait="1")
        # One call at a time: no second mass convert is on its way when the kill lands.
        args = (
            str(source),
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--concurrency",
            "1",
        )
        run = Run(tmp_path, env, "zoho", *args)
        wait_for(
            "a job journaled and still scheduled",
            lambda: any(_job_pending(zoho_emulator, j) for j in _journaled_jobs(journal)),
            run,
        )
        run.kill()
        run.wait()
        assert any(_job_pending(zoho_emulator, j) for j in _journaled_jobs(journal)), (
            "the job ended before the kill"
        )
        # doubt_wait (1 s) is shorter than the job: only the journaled job id keeps the leads
        # from going out again.
        run = Run(tmp_path, env, "zoho", *args)
        assert run.wait() == 0, run.stderr
        _assert_zoho_end(zoho_emulator, report, lines)

    def test_read_timeout_is_in_doubt_not_resent(self, tmp_path: Path, zoho_emulator: Any) -> None:
        """A single convert Zoho is still executing when the read times out is never sent
        again: the client waits (doubt_wait) until the lead shows converted."""
        lines: list[dict[str, Any]] = [{"lead_id": str(FIRST + i)} for i in range(3)]
        source = _write(tmp_path / "leads.jsonl", lines)
        held = zoho_emulator.inject(
            "delay", count=1, delay=2.0, path=f"/Leads/{FIRST}/actions/convert"
        )
        env = _zoho(zoho_emulator, tmp_path, timeout="0.5", doubt_wait="8")
        run = Run(tmp_path, env, "zoho", str(source), "--report", str(tmp_path / "r.jsonl"))
        wait_for("the held convert at Zoho", lambda: held.hits == 1, run)
        arrived = time.monotonic()
        assert run.wait() == 0, run.stderr
        # The read timed out: the client read the lead's state while Zoho still held it.
        assert zoho_requests(zoho_emulator, "GET", "/Leads") >= 1
        # Whatever the run did, the held request is carried out before the counting.
        time.sleep(max(0.0, arrived + 2.3 - time.monotonic()))
        _assert_zoho_end(zoho_emulator, tmp_path / "r.jsonl", lines)


def _sf_lines(n: int, with_deal: range) -> list[dict[str, Any]]:
    ids = [to_18(f"00QB{i:011d}") for i in range(n)]
    lines: list[dict[str, Any]] = [{"lead_id": lead} for lead in ids]
    for i in with_deal:
        lines[i]["opportunity"] = SF_DEAL
    return lines


def _assert_sf_end(emulator: Any, report: Path, lines: list[dict[str, Any]]) -> None:
    rows = _rows(report)
    assert sorted(rows) == sorted(str(x["lead_id"]) for x in lines)
    for line in lines:
        lead = str(line["lead_id"])
        row = rows[lead]
        assert row["outcome"] == "converted", row
        assert converts(emulator, lead) == 1, f"lead {lead} was sent {converts(emulator, lead)}x"
        record = emulator.record("Lead", lead)
        assert record["IsConverted"] and row["contact_id"] == record["ConvertedContactId"], row
        assert row["account_id"] == record["ConvertedAccountId"], row
        if "opportunity" in line:
            opportunity = str(row["opportunity_id"])
            assert opportunity == record["ConvertedOpportunityId"], row
            assert emulator.record("Opportunity", opportunity)["StageName"] == "Prospecting"
            assert opportunity_updates(emulator, lead, opportunity) == 1, (
                f"lead {lead}: {opportunity_updates(emulator, lead, opportunity)} updates"
            )
            (step,) = row["follow_ups"]
            assert step["succeeded"] is True, row


def _sf_pending_follow_up(journal: Path) -> list[str]:
    """Leads journaled converted whose follow-up has not been sent yet."""
    return [
        lead
        for lead, row in journal_leads(journal).items()
        if row["state"] == "done"
        and row["outcome"] == "converted"
        and row["follow_ups"]
        and not row.get("steps")
    ]


class TestSalesforceCrashes:
    @pytest.mark.crash_full
    def test_ten_kills_over_one_run(self, tmp_path: Path, sf_emulator: Any) -> None:
        """Kills during a batch, between conversions and their follow-ups, during a follow-up,
        while a resume waits on leads in doubt, SIGTERM and Ctrl-C, and right before the end."""
        lines = _sf_lines(320, range(0, 320, 8))
        source = _write(tmp_path / "leads.jsonl", lines)
        report, journal = tmp_path / "report.jsonl", tmp_path / "journal.sqlite"
        env = _salesforce(sf_emulator, tmp_path, doubt_wait="6")
        args = (
            str(source),
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--concurrency",
            "1",
        )
        ids = [str(x["lead_id"]) for x in lines]
        followed = {str(lines[i]["lead_id"]) for i in range(0, 320, 8)}
        sf_emulator.inject("delay", 10_000, seconds=0.03, target="update")

        def converted(lead: str) -> bool:
            return bool(sf_emulator.record("Lead", lead)["IsConverted"])

        # 1. SIGKILL during a batch: the first convertLead (100 leads) held 1 s at the org.
        sf_emulator.inject("delay", 1, seconds=1.0, target="convertLead")
        run = Run(tmp_path, env, "salesforce", *args)
        wait_for(
            "the first batch at the org", lambda: requests_of(sf_emulator, "convertLead") == 1, run
        )
        run.kill()
        run.wait()
        assert not converted(ids[0]), "the held batch was applied before the kill"

        # 2. SIGKILL the resume while it waits on that batch (in doubt; the org still acts).
        run = Run(tmp_path, env, "salesforce", *args)
        queries = requests_of(sf_emulator, "query")
        wait_for(
            "the resume reading the batch in doubt",
            lambda: requests_of(sf_emulator, "query") > queries,
            run,
        )
        run.kill()
        run.wait()

        # 3. SIGKILL between conversions and their follow-ups (journaled converted, no update
        #    sent yet: the follow-ups wait for the one connection).
        run = Run(tmp_path, env, "salesforce", *args)
        wait_for(
            "a conversion journaled before its follow-up",
            lambda: bool(_sf_pending_follow_up(journal)),
            run,
        )
        run.kill()
        run.wait()
        pending = _sf_pending_follow_up(journal)
        assert pending and all(converted(lead) for lead in pending)

        # 4. SIGKILL during a follow-up: the update held 1 s at the org.
        sf_emulator.inject("delay", 1, seconds=1.0, target="update")
        run = Run(tmp_path, env, "salesforce", *args)
        updates = requests_of(sf_emulator, "update")
        wait_for(
            "an update held at the org", lambda: requests_of(sf_emulator, "update") > updates, run
        )
        run.kill()
        run.wait()

        # 5. SIGTERM between a batch and its follow-ups: exit 130, nothing lost.
        run = Run(tmp_path, env, "salesforce", *args)
        wait_for(
            "a conversion journaled before its follow-up",
            lambda: (
                bool(_sf_pending_follow_up(journal))
                and requests_of(sf_emulator, "convertLead") >= 3
            ),
            run,
        )
        run.kill(signal.SIGTERM)
        assert run.wait(timeout=30) == 130, run.stderr

        # 6. Ctrl-C during a batch held 1 s: the batch ends and is recorded, exit 130.
        batches = requests_of(sf_emulator, "convertLead")
        sf_emulator.inject("delay", 1, seconds=1.0, target="convertLead")
        run = Run(tmp_path, env, "salesforce", *args)
        wait_for(
            "a batch held at the org",
            lambda: requests_of(sf_emulator, "convertLead") > batches,
            run,
        )
        run.kill(signal.SIGINT)
        assert run.wait(timeout=30) == 130, run.stderr

        # 7. SIGKILL during the follow-ups of a batch.
        run = Run(tmp_path, env, "salesforce", *args)
        updates = requests_of(sf_emulator, "update")
        wait_for("two more updates", lambda: requests_of(sf_emulator, "update") >= updates + 2, run)
        run.kill()
        run.wait()

        # 8. SIGKILL right before the end: the last follow-up held at the org.
        sf_emulator.clear_faults()
        remaining = sum(
            1 for lead in followed if not (journal_leads(journal).get(lead, {}).get("steps"))
        )
        sf_emulator.inject("delay", 10_000, seconds=0.03, target="update")
        run = Run(tmp_path, env, "salesforce", *args)
        updates = requests_of(sf_emulator, "update")
        if remaining > 1:
            wait_for(
                "all but the last update",
                lambda: requests_of(sf_emulator, "update") >= updates + remaining - 1,
                run,
            )
        sf_emulator.inject("delay", 1, seconds=1.5, target="update")
        wait_for(
            "the last update held at the org",
            lambda: requests_of(sf_emulator, "update") >= updates + remaining,
            run,
        )
        run.kill()
        run.wait()

        # 9. SIGKILL the resume while it checks that update; 10. then resume to the end.
        run = Run(tmp_path, env, "salesforce", *args)
        queries = requests_of(sf_emulator, "query")
        wait_for(
            "the resume checking the update",
            lambda: requests_of(sf_emulator, "query") > queries,
            run,
        )
        run.kill()
        run.wait()
        run = Run(tmp_path, env, "salesforce", *args)
        assert run.wait() == 0, run.stderr
        _assert_sf_end(sf_emulator, report, lines)

    def test_kill_between_conversion_and_follow_up(self, tmp_path: Path, sf_emulator: Any) -> None:
        """Leads converted and journaled before their opportunity update are updated exactly
        once by the resume, and reported with their follow-ups (issue 12, problem 1)."""
        lines = _sf_lines(40, range(0, 40, 2))
        source = _write(tmp_path / "leads.jsonl", lines)
        report, journal = tmp_path / "report.jsonl", tmp_path / "journal.sqlite"
        env = _salesforce(sf_emulator, tmp_path, doubt_wait="3")
        args = (
            str(source),
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--concurrency",
            "1",
        )
        sf_emulator.inject("delay", 10_000, seconds=0.05, target="update")
        run = Run(tmp_path, env, "salesforce", *args)
        wait_for(
            "conversions journaled before their follow-ups",
            lambda: len(_sf_pending_follow_up(journal)) >= 5,
            run,
        )
        run.kill()
        run.wait()
        assert len(_sf_pending_follow_up(journal)) >= 5
        sf_emulator.clear_faults()
        run = Run(tmp_path, env, "salesforce", *args)
        assert run.wait() == 0, run.stderr
        _assert_sf_end(sf_emulator, report, lines)

    def test_read_timeout_is_in_doubt_not_resent(self, tmp_path: Path, sf_emulator: Any) -> None:
        """A convertLead the org is still executing when the read times out is never sent
        again: the client waits (doubt_wait) until the leads show converted."""
        lines = _sf_lines(5, range(0))
        source = _write(tmp_path / "leads.jsonl", lines)
        sf_emulator.inject("delay", 1, seconds=2.0, target="convertLead")
        env = _salesforce(sf_emulator, tmp_path, timeout="0.7", doubt_wait="8")
        run = Run(tmp_path, env, "salesforce", str(source), "--report", str(tmp_path / "r.jsonl"))
        wait_for("the held convertLead", lambda: requests_of(sf_emulator, "convertLead") >= 1, run)
        arrived = time.monotonic()
        assert run.wait() == 0, run.stderr
        # The read timed out: the client re-read the leads while the org still held the call.
        assert requests_of(sf_emulator, "query") >= 3
        # Whatever the run did, the held request is carried out before the counting.
        time.sleep(max(0.0, arrived + 2.3 - time.monotonic()))
        _assert_sf_end(sf_emulator, tmp_path / "r.jsonl", lines)

    def test_follow_up_cut_off_by_a_read_timeout_is_checked_not_failed(
        self, tmp_path: Path, sf_emulator: Any
    ) -> None:
        """An opportunity update the org still applies when the read times out is found
        applied (doubt_wait) and reported succeeded, sent once."""
        lines = _sf_lines(3, range(3))
        source = _write(tmp_path / "leads.jsonl", lines)
        sf_emulator.inject("delay", 1, seconds=2.0, target="update")
        env = _salesforce(sf_emulator, tmp_path, timeout="0.7", doubt_wait="8")
        run = Run(tmp_path, env, "salesforce", str(source), "--report", str(tmp_path / "r.jsonl"))
        wait_for("the held update", lambda: requests_of(sf_emulator, "update") >= 1, run)
        arrived = time.monotonic()
        assert run.wait() == 0, run.stderr
        time.sleep(max(0.0, arrived + 2.3 - time.monotonic()))
        _assert_sf_end(sf_emulator, tmp_path / "r.jsonl", lines)


class TestRefusals:
    """Two runs at once, a journal of another org, an empty, a damaged journal, a full disk."""

    def _lines(self, n: int) -> list[dict[str, Any]]:
        return [{"lead_id": str(FIRST + i)} for i in range(n)]

    def test_second_run_on_the_same_journal_stops_at_once(
        self, tmp_path: Path, zoho_emulator: Any
    ) -> None:
        source = _write(tmp_path / "leads.jsonl", self._lines(60))
        zoho_emulator.inject("delay", count=None, delay=0.1, path="/actions/convert")
        env = _zoho(zoho_emulator, tmp_path)
        args = (str(source), "--journal", str(tmp_path / "j.sqlite"), "--concurrency", "1")
        first = Run(tmp_path, env, "zoho", *args, "--report", str(tmp_path / "a.jsonl"))
        wait_for(
            "the first run converting",
            lambda: sum(zoho_emulator.convert_requests.values()) > 0,
            first,
        )
        second = Run(tmp_path, env, "zoho", *args, "--report", str(tmp_path / "b.jsonl"))
        assert second.wait(timeout=30) == 2
        assert "in use by process" in second.stderr and str(first.process.pid) in second.stderr
        assert first.alive(), "the first run ended before the second one was refused"
        # The same input with another journal: the org is busy, refused too.
        third = Run(
            tmp_path,
            env,
            "zoho",
            str(source),
            "--journal",
            str(tmp_path / "other.sqlite"),
            "--report",
            str(tmp_path / "c.jsonl"),
        )
        assert third.wait(timeout=30) == 2, third.stderr
        assert "zoho org" in third.stderr and str(first.process.pid) in third.stderr
        assert first.alive(), "the first run ended before the third one was refused"
        assert first.wait() == 0, first.stderr
        assert set(zoho_emulator.convert_requests.values()) == {1}

    def test_journal_of_another_org_is_refused(self, tmp_path: Path, zoho_emulator: Any) -> None:
        """A journal written against the emulator is refused with real (other) credentials."""
        source = _write(tmp_path / "leads.jsonl", self._lines(3))
        journal = tmp_path / "j.sqlite"
        env = env_without_leadconvert()
        env["LEADCONVERT_LOCK_DIR"] = str(tmp_path / "locks")
        first = Run(tmp_path, env, "zoho", str(source), "--journal", str(journal))
        assert first.wait() == 0, first.stderr
        second = Run(
            tmp_path, _zoho(zoho_emulator, tmp_path), "zoho", str(source), "--journal", str(journal)
        )
        assert second.wait() == 2
        assert "belongs to another org" in second.stderr, second.stderr
        assert sum(zoho_emulator.convert_requests.values()) == 0

    def test_the_same_command_again_on_its_own_emulator_converts_again(
        self, tmp_path: Path, zoho_emulator: Any
    ) -> None:
        """The README's command, run twice without credentials: each run starts an emulator of
        its own, so the second finds the first's journal (the default path) of an org that
        ended with it, starts it afresh and converts every lead on its new emulator."""
        source = _write(tmp_path / "leads.jsonl", self._lines(3))
        env = env_without_leadconvert()
        env["LEADCONVERT_LOCK_DIR"] = str(tmp_path / "locks")
        journal = tmp_path / "leads.report.journal.sqlite"
        orgs = []
        for _ in range(2):
            # A relative path, as the README gives it: the default journal's is relative too.
            run = Run(tmp_path, env, "zoho", source.name)
            assert run.wait() == 0, run.stderr
            rows = [json.loads(x) for x in (tmp_path / "leads.report.jsonl").read_text().split()]
            assert [r["outcome"] for r in rows] == ["converted"] * 3
            with sqlite3.connect(journal) as db:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                assert db.execute("SELECT count(*) FROM leads").fetchone() == (3,)
            assert meta["emulated"] == "1"
            orgs.append(meta["org"])
        # Two emulators, two orgs: the second journal is a new one, not the first resumed.
        assert orgs[0] != orgs[1]
        # A CRM's run (credentials given) still refuses it, and sends nothing.
        refused = Run(tmp_path, _zoho(zoho_emulator, tmp_path), "zoho", str(source))
        assert refused.wait() == 2
        assert "belongs to another org" in refused.stderr, refused.stderr
        assert sum(zoho_emulator.convert_requests.values()) == 0

    @pytest.mark.parametrize("damage", ["empty", "corrupt", "old"])
    def test_damaged_journal_is_refused(
        self, tmp_path: Path, zoho_emulator: Any, damage: str
    ) -> None:
        source = _write(tmp_path / "leads.jsonl", self._lines(120))
        journal = tmp_path / "j.sqlite"
        env = _zoho(zoho_emulator, tmp_path)
        args = (str(source), "--journal", str(journal))
        assert Run(tmp_path, env, "zoho", *args).wait() == 0
        sent = dict(zoho_emulator.convert_requests)
        report = tmp_path / "leads.report.jsonl"
        complete = report.read_text()
        if damage == "empty":
            journal.write_bytes(b"")
            expected = "is empty"
        elif damage == "corrupt":
            data = bytearray(journal.read_bytes())
            page = 4096
            assert len(data) > 3 * page
            data[2 * page : 2 * page + 200] = b"\xff" * 200
            journal.write_bytes(bytes(data))
            expected = "is damaged"
        else:
            db = sqlite3.connect(journal)
            db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
            db.commit()
            db.close()
            expected = "version 1"
        run = Run(tmp_path, env, "zoho", *args)
        assert run.wait() == 2, run.stderr
        assert expected in run.stderr and "internal error" not in run.stderr, run.stderr
        assert dict(zoho_emulator.convert_requests) == sent
        assert report.read_text() == complete, "the refused run touched the last report"

    def test_full_disk_is_exit_2_with_a_message(self, tmp_path: Path, zoho_emulator: Any) -> None:
        """The journal on a tiny file system that fills up mid-run: exit 2, a message, nothing
        sent unjournaled; after freeing space the resume converts every lead once."""
        mount = tmp_path / "tiny"
        mount.mkdir()
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
        try:
            filler = mount / "filler"
            lines = self._lines(300)
            source = _write(tmp_path / "leads.jsonl", lines)
            journal = mount / "j.sqlite"
            env = _zoho(zoho_emulator, tmp_path)
            args = (str(source), "--journal", str(journal), "--report", str(tmp_path / "r.jsonl"))
            # Leave room for the journal's first pages only.
            free = _free_bytes(mount)
            filler.write_bytes(b"\0" * max(0, free - 96 * 1024))
            run = Run(tmp_path, env, "zoho", *args)
            code = run.wait()
            assert code in (2, 3), run.stderr
            assert "the disk is full" in run.stderr and "free some space" in run.stderr, run.stderr
            assert "internal error" not in run.stderr
            recorded = journal_leads(journal)
            sent = {k for k, v in zoho_emulator.convert_requests.items() if v}
            assert sent <= set(recorded), "a lead was sent without a mark on disk"
            filler.unlink()
            run = Run(tmp_path, env, "zoho", *args)
            assert run.wait() == 0, run.stderr
            _assert_zoho_end(zoho_emulator, tmp_path / "r.jsonl", lines)
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


DYN_DEAL = {
    "action": "create",
    "name": "Crash renewal",
    "stage": "Propose",
    "close_date": "2026-12-31",
    "amount": "12500.00",
}


@pytest.fixture
def dyn_emulator() -> Iterator[Any]:
    """A Dynamics 365 emulator at the shipped seed."""
    from leadconvert_dynamics import DynamicsEmulator

    with DynamicsEmulator() as emulator:
        yield emulator


def _dyn_pending_follow_up(journal: Path) -> list[str]:
    return _sf_pending_follow_up(journal)


class TestDynamicsCrashes:
    @pytest.mark.crash_full
    def test_ten_kills_over_one_run(self, tmp_path: Path, dyn_emulator: Any) -> None:
        """Kills during a qualify batch, while a resume waits on leads in doubt, between
        qualifications and their follow-up batches, during a follow-up batch, SIGTERM and
        Ctrl-C, and right before the end: each lead qualified once, each follow-up applied."""
        ids = [dyn_emulator.add_lead(lastname=f"Crash {i}") for i in range(120)]
        lines: list[dict[str, Any]] = [{"lead_id": lead} for lead in ids]
        for i in range(0, 120, 3):
            lines[i]["opportunity"] = DYN_DEAL
        source = _write(tmp_path / "leads.jsonl", lines)
        report, journal = tmp_path / "report.jsonl", tmp_path / "journal.sqlite"
        env = _env(
            "dynamics",
            dyn_emulator.credentials(),
            retry_base_delay="0.01",
            doubt_wait="6",
            batch_size="10",
        )
        env["LEADCONVERT_LOCK_DIR"] = str(tmp_path / "locks")
        args = (
            str(source),
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--concurrency",
            "1",
        )
        qualified = lambda lead: dyn_emulator.lead(lead)["statecode"] == 1  # noqa: E731

        def requests(operation: str) -> int:
            return sum(1 for r in dyn_emulator.requests if r.operation == operation)

        def hold(operation: str, seconds: float, count: int = 1) -> Any:
            return dyn_emulator.inject_fault(Fault(delay=seconds, operation=operation, count=count))

        # 1. SIGKILL with the first qualify batch held at the org.
        held = hold("qualify_batch", 1.0)
        run = Run(tmp_path, env, "dynamics", *args)
        wait_for("the first qualify batch at the org", lambda: held.hits == 1, run)
        time.sleep(0.1)  # the org counts a request at its headers: let the body arrive
        run.kill()
        run.wait()
        assert not qualified(ids[0]), "the held batch was applied before the kill"

        # 2. SIGKILL the resume while it waits on that batch (the org still acts on it).
        run = Run(tmp_path, env, "dynamics", *args)
        queries = requests("query")
        wait_for("the resume reading the batch in doubt", lambda: requests("query") > queries, run)
        run.kill()
        run.wait()

        # 3. SIGKILL between qualifications and their follow-up batch. A qualify batch's
        #    follow-ups are one batch, launched in the same pass that journals the batch, so the
        #    window is held open: the next qualify batch, queued behind it and held at the org,
        #    keeps the one worker, and the follow-up waits for it. (Counted from this run's
        #    first qualify batch: the leads an earlier kill left in doubt are settled, follow-ups
        #    and all, before it.)
        hold("qualify_batch", 1.0, count=2)
        run = Run(tmp_path, env, "dynamics", *args)
        batches = requests("qualify_batch")
        wait_for(
            "a qualification journaled before its follow-up",
            lambda: requests("qualify_batch") > batches and bool(_dyn_pending_follow_up(journal)),
            run,
        )
        run.kill()
        run.wait()
        pending = _dyn_pending_follow_up(journal)
        assert pending and all(qualified(lead) for lead in pending)

        # 4. SIGKILL during a follow-up batch held at the org.
        held = hold("batch", 1.0)
        run = Run(tmp_path, env, "dynamics", *args)
        wait_for("a follow-up batch held at the org", lambda: held.hits == 1, run)
        time.sleep(0.1)
        run.kill()
        run.wait()

        # 5. SIGTERM between a qualify batch and its follow-ups: exit 130, nothing lost.
        run = Run(tmp_path, env, "dynamics", *args)
        batches = requests("qualify_batch")
        wait_for(
            "a new qualification journaled before its follow-up",
            lambda: requests("qualify_batch") > batches and bool(_dyn_pending_follow_up(journal)),
            run,
        )
        run.kill(signal.SIGTERM)
        assert run.wait(timeout=30) == 130, run.stderr

        # 6. Ctrl-C with a qualify batch held: the batch ends and is recorded, exit 130.
        held = hold("qualify_batch", 1.0)
        run = Run(tmp_path, env, "dynamics", *args)
        wait_for("a qualify batch held at the org", lambda: held.hits == 1, run)
        run.kill(signal.SIGINT)
        assert run.wait(timeout=30) == 130, run.stderr

        # 7. SIGKILL after two more follow-up batches.
        run = Run(tmp_path, env, "dynamics", *args)
        follow_ups = requests("batch")
        wait_for("two more follow-up batches", lambda: requests("batch") >= follow_ups + 2, run)
        run.kill()
        run.wait()

        # 8. SIGKILL right before the end: every lead qualified and every follow-up done but
        #    those of the last follow-up batch, held at the org.
        slow = dyn_emulator.inject_fault(Fault(delay=0.6, operation="batch", count=None))

        def last_batch_in_flight() -> bool:
            rows = journal_leads(journal)
            if len(rows) < len(ids) or any(r["outcome"] != "converted" for r in rows.values()):
                return False
            steps = [st for r in rows.values() for st in r.get("steps", [])]
            sending = [st for st in steps if st["state"] == "sending"]
            planned = sum(r["follow_ups"] for r in rows.values())
            return bool(sending) and len(steps) == planned and slow.hits > 0

        run = Run(tmp_path, env, "dynamics", *args)
        wait_for("the last follow-up batch held at the org", last_batch_in_flight, run)
        run.kill()
        run.wait()
        cut = [
            lead
            for lead, r in journal_leads(journal).items()
            for st in r.get("steps", [])
            if st["state"] == "sending"
        ]
        assert all(dyn_emulator.counts(lead)["follow_up"] == 0 for lead in cut), "applied"
        dyn_emulator.clear_faults()

        # 9. SIGKILL the resume while it checks that batch; 10. resume to the end.
        run = Run(tmp_path, env, "dynamics", *args)
        queries = requests("query")
        wait_for("the resume checking the last batch", lambda: requests("query") > queries, run)
        run.kill()
        run.wait()
        run = Run(tmp_path, env, "dynamics", *args)
        assert run.wait() == 0, run.stderr
        rows = _rows(report)
        assert sorted(rows) == sorted(ids)
        for line in lines:
            lead = str(line["lead_id"])
            row = rows[lead]
            record = dyn_emulator.lead(lead)
            assert row["outcome"] == "converted" and record["statecode"] == 1, row
            counts = dyn_emulator.counts(lead)
            assert counts["convert"] == 1, f"lead {lead} was sent {counts['convert']}x"
            assert row["account_id"] == record["_parentaccountid_value"], row
            if "opportunity" in line:
                assert row["opportunity_id"] == record["_qualifyingopportunityid_value"], row
                assert counts["follow_up"] == 1, f"lead {lead}: {counts['follow_up']} updates"
                assert row["follow_ups"] and all(f["succeeded"] for f in row["follow_ups"]), row
