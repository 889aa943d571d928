"""The runner: every lead ends with one recorded outcome, and none is converted twice.

These tests drive the real runner and journal with an in-memory CRM backend (a small plugin
written for the tests, not a mock of leadconvert's code); end-to-end runs against the shipped
emulators live in tests/e2e.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from leadconvert import (
    AuthenticationError,
    Conversion,
    ConversionResult,
    MatchReport,
    MergePersonAccount,
    NeutralConverter,
    Outcome,
    TransportError,
    Violation,
    _runner,
    read_records,
)
from leadconvert._journal import Journal
from leadconvert._runner import RunOptions, RunSummary, convert_file
from leadconvert.backend import (
    MEANINGS,
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Limits,
    NativeRequest,
    PlanItem,
    PlannedCall,
    Support,
    unsupported,
)


class MemoryCRM:
    """A CRM kept in a dict: lead id -> converted or not, with scripted failures."""

    def __init__(self, leads: Sequence[str]) -> None:
        self.converted: dict[str, int] = {lead: 0 for lead in leads}
        self.lock = threading.Lock()
        #: Per call: "drop-after" converts then raises, "drop-before" raises, "auth" refuses.
        self.faults: list[str] = []
        self.lookups = 0

    def convert(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault == "auth":
            raise AuthenticationError("session expired", backend_code="INVALID_SESSION_ID")
        if fault == "drop-before":
            raise TransportError("connection dropped")
        results = []
        for lead in lead_ids:
            with self.lock:
                if lead not in self.converted:
                    results.append(ConversionResult(lead, Outcome.FAILED))
                    continue
                self.converted[lead] += 1
                already = self.converted[lead] > 1
            results.append(
                ConversionResult(
                    lead,
                    Outcome.ALREADY_CONVERTED if already else Outcome.CONVERTED,
                    account_id=f"acc-{lead}",
                )
            )
        if fault == "drop-after":
            raise TransportError("connection dropped after the CRM acted")
        return results


class MemoryClient(Client):
    def __init__(self, crm: MemoryCRM) -> None:
        self.crm = crm

    def execute(
        self, call: PlannedCall, *, call_index: int | None = None
    ) -> list[ConversionResult]:
        return self.crm.convert(call.lead_ids)

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        self.crm.lookups += 1
        return [
            ConversionResult(
                lead,
                Outcome.CONVERTED if self.crm.converted.get(lead) else Outcome.NOT_ATTEMPTED,
                account_id=f"acc-{lead}" if self.crm.converted.get(lead) else None,
            )
            for lead in lead_ids
        ]

    def match(self, lead_id: str) -> MatchReport:
        return MatchReport(lead_id)


class MemoryBackend(Backend):
    name = "memory"
    limits = Limits(max_batch=3, max_concurrency=2)
    capabilities = (CapabilityColumn("Memory", {k: Capability(Support.NATIVE) for k in MEANINGS}),)

    def validate(self, conversion: Conversion) -> list[Violation]:
        if isinstance(conversion.account, MergePersonAccount):
            return [unsupported("memory.person", "account", "no person accounts", self.name)]
        return []

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        ids = [i.conversion.lead_id for i in items]
        return BackendPlan(
            tuple(
                PlannedCall(NativeRequest("POST", "/convert"), tuple(ids[s : s + 3]), "convert")
                for s in range(0, len(ids), 3)
            )
        )

    def example_id(self, role: str, n: int) -> str:
        return f"{role}-{n}"

    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        raise NotImplementedError

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        raise NotImplementedError


def _input(tmp_path: Path, lines: Sequence[str]) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _run(
    tmp_path: Path,
    crm: MemoryCRM,
    source: Path,
    options: RunOptions | None = None,
    client: Client | None = None,
) -> tuple[RunSummary, list[dict[str, object]]]:
    converter = NeutralConverter({})
    report = tmp_path / "report.jsonl"
    summary = convert_file(
        MemoryBackend(),
        client or MemoryClient(crm),
        read_records(source, converter),
        report=report,
        journal=tmp_path / "journal.sqlite",
        options=options,
    )
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    return summary, rows


def _leads(n: int) -> list[str]:
    return [f"L{i}" for i in range(n)]


class TestRunnerOutcomes:
    def test_every_lead_has_one_row(self, tmp_path: Path) -> None:
        """Each lead gets exactly one report row and one conversion."""
        crm = MemoryCRM(_leads(10))
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in _leads(10)])
        summary, rows = _run(tmp_path, crm, source)
        assert summary.succeeded
        assert sorted(r["lead_id"] for r in rows) == sorted(_leads(10))
        assert all(r["outcome"] == "converted" for r in rows)
        assert set(crm.converted.values()) == {1}

    def test_invalid_lines_reported_others_converted(self, tmp_path: Path) -> None:
        """Bad lines are reported with line numbers; valid ones still convert; exit is failure."""
        crm = MemoryCRM(_leads(3))
        source = _input(
            tmp_path,
            [
                '{"lead_id": "L0"}',
                "{oops",
                '{"lead_id": "L1", "account": {"action": "merge_person_account", "id": "x"}}',
                '{"lead_id": "L2"}',
            ],
        )
        summary, rows = _run(tmp_path, crm, source)
        assert not summary.succeeded and summary.invalid == 2
        by_line = {r["line"]: r for r in rows}
        assert by_line[2]["outcome"] == "not_attempted"
        assert by_line[3]["outcome"] == "not_attempted" and by_line[3]["lead_id"] == "L1"
        assert "no person accounts" in str(by_line[3]["message"])
        assert by_line[1]["outcome"] == by_line[4]["outcome"] == "converted"
        assert crm.converted == {"L0": 1, "L1": 0, "L2": 1}

    def test_duplicate_lead_in_input_converted_once(self, tmp_path: Path) -> None:
        """A lead listed twice is converted once; the repeat is reported, naming the first line."""
        crm = MemoryCRM(["L0"])
        source = _input(tmp_path, ['{"lead_id": "L0"}', '{"lead_id": "L0"}'])
        _summary, rows = _run(tmp_path, crm, source)
        assert crm.converted == {"L0": 1}
        assert sorted(str(r["outcome"]) for r in rows) == ["converted", "not_attempted"]
        assert any("line 1" in str(r["message"]) for r in rows)

    def test_fail_fast_stops(self, tmp_path: Path) -> None:
        """With fail_fast the run stops at the first lead that is not converted."""
        crm = MemoryCRM(_leads(3))
        lines = ["{oops"] + [json.dumps({"lead_id": lead}) for lead in _leads(3)]
        summary, rows = _run(tmp_path, crm, _input(tmp_path, lines), RunOptions(fail_fast=True))
        assert summary.stopped_early
        assert len(rows) == 1
        assert sum(crm.converted.values()) == 0


class TestRunnerResume:
    def test_rerun_skips_converted(self, tmp_path: Path) -> None:
        """Running again converts nothing twice and reports every lead again."""
        crm = MemoryCRM(_leads(7))
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in _leads(7)])
        _run(tmp_path, crm, source)
        summary, rows = _run(tmp_path, crm, source)
        assert summary.succeeded
        assert len(rows) == 7 and {r["outcome"] for r in rows} == {"converted"}
        assert set(crm.converted.values()) == {1}

    def test_dropped_after_acting_is_reconciled(self, tmp_path: Path) -> None:
        """A call cut off after the CRM acted is left unknown, then reconciled, never re-sent."""
        crm = MemoryCRM(_leads(3))
        crm.faults = ["drop-after"]
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in _leads(3)])
        summary, rows = _run(tmp_path, crm, source)
        assert {r["outcome"] for r in rows} == {"unknown"}
        assert not summary.succeeded
        summary, rows = _run(tmp_path, crm, source)
        assert crm.lookups == 1
        assert {r["outcome"] for r in rows} == {"converted"}
        assert set(crm.converted.values()) == {1}

    def test_dropped_before_acting_is_resent(self, tmp_path: Path) -> None:
        """A call cut off before the CRM acted is checked, found not converted, and sent again."""
        crm = MemoryCRM(_leads(3))
        crm.faults = ["drop-before"]
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in _leads(3)])
        _run(tmp_path, crm, source)
        assert sum(crm.converted.values()) == 0
        summary, _rows = _run(tmp_path, crm, source)
        assert summary.succeeded
        assert set(crm.converted.values()) == {1}

    def test_killed_mid_call_is_reconciled(self, tmp_path: Path) -> None:
        """Leads left 'sending' by a killed process are checked before anything is re-sent."""
        from leadconvert._journal import Journal

        crm = MemoryCRM(_leads(2))
        crm.convert(["L0"])  # the CRM acted, then the process died before recording it
        journal = Journal(tmp_path / "journal.sqlite", "memory", "dead-run")
        journal.mark_sending([("L0", 1), ("L1", 2)], "0")
        journal.departing("0")  # the call left
        journal.close()
        source = _input(tmp_path, ['{"lead_id": "L0"}', '{"lead_id": "L1"}'])
        summary, _ = _run(tmp_path, crm, source)
        assert summary.succeeded
        assert crm.converted == {"L0": 1, "L1": 1}

    def test_auth_failure_aborts(self, tmp_path: Path) -> None:
        """A refused session stops the run; its leads are failed with auth_failed, none lost."""
        crm = MemoryCRM(_leads(9))
        crm.faults = ["auth"] * 3
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in _leads(9)])
        summary, rows = _run(tmp_path, crm, source, RunOptions(concurrency=1))
        assert summary.aborted
        assert rows and {r["error_code"] for r in rows} == {"auth_failed"}

    def test_journal_of_other_backend_refused(self, tmp_path: Path) -> None:
        """A journal written for another backend is refused rather than mixed up."""
        from leadconvert._journal import Journal, OrgMismatchError

        Journal(tmp_path / "journal.sqlite", "zoho", "r").close()
        crm = MemoryCRM(["L0"])
        with pytest.raises(OrgMismatchError, match="belongs to a run on backend 'zoho'"):
            _run(tmp_path, crm, _input(tmp_path, ['{"lead_id": "L0"}']))


class _TimedClient(MemoryClient):
    """Each call takes ``seconds``; when each lead's call reached the CRM, and the ``sent_at``
    the runner gave ``resolve_in_doubt``."""

    def __init__(self, crm: MemoryCRM, seconds: float) -> None:
        super().__init__(crm)
        self.seconds = seconds
        self.sent: dict[str, float] = {}
        self.doubt_sent_at: list[float | None] = []

    def execute(
        self, call: PlannedCall, *, call_index: int | None = None
    ) -> list[ConversionResult]:
        now = time.time()
        for lead in call.lead_ids:
            self.sent[lead] = now
        time.sleep(self.seconds)
        return super().execute(call, call_index=call_index)

    def resolve_in_doubt(
        self, lead_ids: Sequence[str], *, call_kind: str | None, sent_at: float | None
    ) -> list[ConversionResult]:
        self.doubt_sent_at.append(sent_at)
        return self.lookup(lead_ids)


class TestQueuedCalls:
    """Calls are marked and queued behind busy workers; each leaves within ``_LEAVE_WITHIN``
    of its mark or is marked again, and a resumed run measures doubt from that bound."""

    def _run_timed(
        self, tmp_path: Path, client: _TimedClient, leads: Sequence[str]
    ) -> list[dict[str, object]]:
        source = _input(tmp_path, [json.dumps({"lead_id": x}) for x in leads])
        return _run(tmp_path, client.crm, source, RunOptions(concurrency=1), client)[1]

    def test_a_call_queued_too_long_is_marked_again_before_it_leaves(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_runner, "_LEAVE_WITHIN", 0.05)
        leads = _leads(9)  # three calls of three, one worker: two wait behind the first
        crm = MemoryCRM(leads)
        client = _TimedClient(crm, seconds=0.15)
        rows = self._run_timed(tmp_path, client, leads)
        assert {r["outcome"] for r in rows} == {"converted"}
        assert set(crm.converted.values()) == {1}
        journal = Journal(tmp_path / "journal.sqlite", "memory", "check")
        try:
            for lead in leads:
                entry = journal.get(lead)
                assert entry is not None and entry.sent_at is not None
                # Journaled before it left, and never more than the bound before.
                assert 0 <= client.sent[lead] - entry.sent_at <= 0.05 + 0.01, lead
        finally:
            journal.close()

    def test_a_resumed_run_waits_from_the_latest_a_marked_call_can_have_left(
        self, tmp_path: Path
    ) -> None:
        journal = Journal(tmp_path / "journal.sqlite", "memory", "dead-run")
        journal.mark_sending([("L0", 1)], "0", kind="convert")
        journal.departing("0")
        marked = journal.get("L0")
        journal.close()
        assert marked is not None and marked.sent_at is not None
        crm = MemoryCRM(["L0"])
        client = _TimedClient(crm, seconds=0)
        rows = self._run_timed(tmp_path, client, ["L0"])
        assert [r["outcome"] for r in rows] == ["converted"]
        assert client.doubt_sent_at == [marked.sent_at + _runner._LEAVE_WITHIN]

    def test_a_call_killed_in_the_queue_is_sent_again_without_asking(self, tmp_path: Path) -> None:
        """Marked, never departed, on this boot: the resumed run sends it as never sent."""
        journal = Journal(tmp_path / "journal.sqlite", "memory", "dead-run")
        journal.mark_sending([("L0", 1), ("L1", 2)], "0", kind="convert")
        journal.mark_sending([("L2", 3)], "1", kind="convert")
        journal.departing("0")
        journal.close()
        crm = MemoryCRM(_leads(3))
        crm.convert(["L0", "L1"])  # call 0 left and the CRM acted; call 1 was still queued
        client = _TimedClient(crm, seconds=0)
        rows = self._run_timed(tmp_path, client, _leads(3))
        assert {r["outcome"] for r in rows} == {"converted"}
        assert crm.converted == {"L0": 1, "L1": 1, "L2": 1}
        # Only the call that left was asked about; the queued one was just sent.
        assert len(client.doubt_sent_at) == 1
        assert set(client.sent) == {"L2"}

    def test_a_departure_log_of_another_boot_proves_nothing(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "journal.sqlite", "memory", "dead-run")
        journal.mark_sending([("L0", 1)], "0", kind="convert")
        journal.close()
        log = journal.departures_path
        text = log.read_text()
        assert text.startswith("boot dead-run ")
        # As after a power cut: the log was written on another boot of the machine.
        log.write_text("boot dead-run 00000000-0000-0000-0000-000000000000\n")
        crm = MemoryCRM(["L0"])
        client = _TimedClient(crm, seconds=0)
        rows = self._run_timed(tmp_path, client, ["L0"])
        assert [r["outcome"] for r in rows] == ["converted"]
        assert len(client.doubt_sent_at) == 1  # in doubt: asked before it was sent

    def test_the_departure_log_goes_when_nothing_is_in_doubt(self, tmp_path: Path) -> None:
        crm = MemoryCRM(_leads(4))
        client = _TimedClient(crm, seconds=0)
        self._run_timed(tmp_path, client, _leads(4))
        assert not (tmp_path / "journal.sqlite-departures").exists()

    def test_fail_fast_sends_nothing_after_the_failed_call(self, tmp_path: Path) -> None:
        leads = _leads(12)
        crm = MemoryCRM(leads[1:])  # L0 is unknown to the CRM: its call's first lead fails
        source = _input(tmp_path, [json.dumps({"lead_id": lead}) for lead in leads])
        summary, rows = _run(tmp_path, crm, source, RunOptions(fail_fast=True, concurrency=1))
        assert summary.stopped_early
        # One call in flight at a time and none queued: only the first call was sent.
        assert sum(crm.converted.values()) == 2
        assert len(rows) == 3


class TestUnmarkStep:
    def test_an_unmarked_step_is_no_longer_in_doubt(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "journal.sqlite", "memory", "run")
        try:
            journal.mark_sending([("L0", 1)], "0", kind="convert", follow_ups={"L0": 2})
            journal.record([(ConversionResult("L0", Outcome.CONVERTED), 1)])
            journal.mark_step("L0", 0, "update")
            journal.mark_step("L0", 1, "update")
            journal.unmark_step("L0", 1)
            entry = journal.get("L0")
            assert entry is not None
            assert [(s.seq, s.state) for s in entry.steps] == [(0, "sending")]
            assert entry.pending_steps
        finally:
            journal.close()
