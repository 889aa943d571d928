"""The migration runner: streams conversions through a backend, journaled and resumable.

For each window of input records it: reports invalid ones; skips leads the journal shows
converted; asks the CRM about leads whose last call ended in doubt before re-sending anything;
plans the rest; and runs the planned calls with bounded concurrency, marking each call's leads
``sending`` on disk before the call leaves and recording each outcome as it arrives.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import queue
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from attrs import evolve, field, frozen

from ._defaults import Defaults
from ._exceptions import (
    AuthenticationError,
    BackendError,
    LeadConvertError,
    RateLimitedError,
    TransportError,
    UnreachableError,
)
from ._input import InputRecord
from ._journal import (
    IN_DOUBT,
    Journal,
    JournalEntry,
    JournalError,
    JournalLock,
    journal_lock,
    org_lock,
)
from ._merge import OnAmbiguous, OnMatch
from ._pipeline import WINDOW, MergePolicy, Mode, Pipeline
from ._report import REPORT_COLUMNS, SUCCESS, ReportWriter
from ._results import (
    ConversionError,
    ConversionResult,
    ErrorCode,
    FollowUp,
    Outcome,
    Violation,
)
from .backend import Backend, Client, PlanItem, PlannedCall, StepRecorder

__all__ = [
    "REPORT_COLUMNS",
    "ProgressSink",
    "ReportWriter",
    "RunOptions",
    "RunSummary",
    "Runner",
    "convert_file",
    "default_paths",
    "new_run_id",
]


class ProgressSink(Protocol):
    """Where the runner reports progress (a rich bar on a terminal, plain lines otherwise)."""

    def advance(self, outcome: Outcome) -> None:
        """One more lead has its outcome."""


@frozen
class RunOptions:
    """How a run behaves."""

    mode: Mode = Mode.STRICT
    #: Calls in flight at once; never more than the backend's documented limit.
    concurrency: int | None = None
    #: Stop at the first invalid or failed lead instead of carrying on.
    fail_fast: bool = False
    window: int = WINDOW
    #: Look for existing records first and apply the merge policy (None: convert as given).
    on_match: OnMatch | None = None
    on_ambiguous: OnAmbiguous = OnAmbiguous.FAIL
    #: Values for target fields conversions leave unset (``--default``).
    defaults: Defaults | None = None


@frozen
class RunSummary:
    """What a run did, lead by lead counted by outcome."""

    counts: dict[Outcome, int] = field(factory=dict)
    invalid: int = 0
    interrupted: bool = False
    stopped_early: bool = False
    aborted: str | None = None
    #: Leads not converted, by neutral error code (the report's summary).
    error_codes: dict[str, int] = field(factory=dict)

    @property
    def total(self) -> int:
        """Leads with a recorded outcome, invalid ones included."""
        return sum(self.counts.values())

    @property
    def succeeded(self) -> bool:
        """Every lead is converted (now or before) and none was invalid."""
        return not self.invalid and all(outcome in SUCCESS for outcome in self.counts)


def _unknown(lead_id: str, message: str, code: ErrorCode = ErrorCode.UNKNOWN) -> ConversionResult:
    return ConversionResult(
        lead_id, Outcome.UNKNOWN, error=ConversionError(code=code, message=message)
    )


class Runner:
    """Carries out conversions on one backend, journaled, reporting every lead's outcome."""

    def __init__(
        self,
        backend: Backend,
        client: Client,
        journal: Journal,
        report: ReportWriter,
        settings: dict[str, str] | None = None,
        options: RunOptions | None = None,
        progress: ProgressSink | None = None,
        on_invalid: Callable[[InputRecord], None] | None = None,
    ) -> None:
        self.backend = backend
        self.client = client
        self.journal = journal
        self.report = report
        self.settings = settings or {}
        self.options = options or RunOptions()
        self.progress = progress
        self.on_invalid = on_invalid
        self._counts: Counter[Outcome] = Counter()
        self._invalid = 0
        self._calls = itertools.count()
        self._stop: str | None = None
        #: What the merge policy did with each lead still in flight, for its report row.
        self._notes: dict[str, str] = {}
        self._aborted: str | None = None
        #: The journal failed as a worker recorded a call's departure: raised by the main loop.
        self._journal_failure: JournalError | None = None
        #: The neutral code of what aborted the run (the CRM cannot be used).
        self._abort_code = ErrorCode.UNKNOWN
        limit = backend.limits.max_concurrency
        self.workers = max(1, min(self.options.concurrency or limit, limit))
        on_match = self.options.on_match
        self.pipeline = Pipeline(
            backend,
            self.settings,
            mode=self.options.mode,
            window=self.options.window,
            merge=MergePolicy(on_match, self.options.on_ambiguous) if on_match else None,
            client=client,
            workers=self.workers,
            defaults=self.options.defaults,
        )

    # --- bookkeeping ---------------------------------------------------------------------

    def _finish(self, result: ConversionResult, line: int | None, *, journal: bool = True) -> None:
        self._finish_all([(result, line)], journal=journal)

    def _finish_all(
        self,
        rows: Sequence[tuple[ConversionResult, int | None]],
        *,
        journal: bool = True,
        also_journal: Sequence[tuple[ConversionResult, int | None]] = (),
    ) -> None:
        """Record outcomes: one journal transaction (one fsync) for all of them, then report."""
        with _shielded():
            self._report(self._record(rows, journal=journal, also_journal=also_journal))

    def _record(
        self,
        rows: Sequence[tuple[ConversionResult, int | None]],
        *,
        journal: bool,
        also_journal: Sequence[tuple[ConversionResult, int | None]],
    ) -> list[tuple[ConversionResult, int | None]]:
        """Journal the outcomes (and ``also_journal``); the rows as they are to be reported.

        ``--fail-fast`` stops the run here, before another call can be launched.
        """
        noted = []
        for given, line in rows:
            note = self._notes.pop(given.lead_id, None)
            noted.append((evolve(given, merge=note) if note and not given.merge else given, line))
        to_journal = [*also_journal, *noted] if journal else list(also_journal)
        if to_journal:
            self.journal.record(to_journal)
        if self.options.fail_fast and self._stop is None:
            for result, _line in noted:
                if result.outcome not in SUCCESS:
                    self._stop = (
                        f"lead {result.lead_id} ended {result.outcome.value} (--fail-fast)"
                    )
                    break
        return noted

    def _report(self, noted: Sequence[tuple[ConversionResult, int | None]]) -> None:
        """Spool the report rows of outcomes already journaled, and count them."""
        self.report.write_all(noted)
        for result, _line in noted:
            self._counts[result.outcome] += 1
            if self.progress is not None:
                self.progress.advance(result.outcome)

    def _invalid_record(self, record: InputRecord) -> None:
        self._invalid += 1
        message = "; ".join(str(v) for v in record.violations)
        result = ConversionResult(
            record.lead_id or "",
            Outcome.NOT_ATTEMPTED,
            error=ConversionError(
                code=ErrorCode.INVALID_DATA,
                message=message,
                backend_code="invalid",
                fields=tuple(v.path for v in record.violations if v.path),
            ),
        )
        if self.on_invalid is not None:
            self.on_invalid(record)
        self._finish(result, record.line, journal=False)

    # --- the run -------------------------------------------------------------------------

    def run(self, records: Iterable[InputRecord]) -> RunSummary:
        """Convert every record; Ctrl-C stops cleanly after the calls in flight."""
        iterator = iter(records)
        interrupted = False
        try:
            while self._stop is None:
                with _shielded():
                    chunk = list(itertools.islice(iterator, self.options.window))
                if not chunk:
                    break
                self._run_window(chunk)
        except KeyboardInterrupt:
            interrupted = True
        return RunSummary(
            counts=dict(self._counts),
            invalid=self._invalid,
            interrupted=interrupted,
            stopped_early=self._stop is not None and self._aborted is None,
            aborted=self._aborted,
        )

    def _run_window(self, chunk: Sequence[InputRecord]) -> None:
        # The pipeline's stages, with the journal consulted between checking and matching:
        # converted leads are never matched or planned again, leads in doubt are asked about.
        checked = self.pipeline.check(chunk)
        for record in checked.invalid:
            self._invalid_record(record)
        to_plan: list[PlanItem] = []
        in_doubt: list[PlanItem] = []
        seen: dict[str, int | None] = {}
        seen_before: list[tuple[ConversionResult, int | None]] = []
        canonical = self.backend.canonical_id
        ids = [canonical(item.conversion.lead_id) for item in checked.items]
        # The whole window in a few statements; nothing below writes what it read.
        known = self.journal.get_many(ids)
        # Marked by an earlier run that was stopped while they were queued: never sent.
        sending = [e for e in known.values() if e.state == "sending" and not e.job_id]
        unsent_calls = self.journal.never_left((e.run_id, e.call_id) for e in sending)
        never_left = {e.lead_id for e in sending if (e.run_id, e.call_id) in unsent_calls}
        for item, lead_id in zip(checked.items, ids, strict=True):
            entry = known.get(lead_id)
            if lead_id in seen or (entry is not None and entry.run_id == self.journal.run_id):
                earlier = seen.get(lead_id, entry.line if entry else None)
                self._invalid_record(
                    InputRecord(
                        item.line or 0, None, (_duplicate(earlier),), item.conversion.lead_id
                    )
                )
                continue
            seen[lead_id] = item.line
            if entry is not None and entry.final and entry.result is not None:
                # Converted by an earlier run: report it again, never re-send it (journaled
                # again below so that a repeat later in this run is seen as one).
                self._finish(evolve(entry.result, lead_id=lead_id), item.line, journal=False)
                seen_before.append((entry.result, item.line))
            elif entry is not None and entry.in_doubt and lead_id not in never_left:
                in_doubt.append(item)
            else:
                to_plan.append(item)
            if self._stop is not None:
                return
        if seen_before:
            self.journal.record(seen_before)
        to_plan.extend(self._reconcile(in_doubt))
        if self._stop is not None or not to_plan:
            return
        merged = self.pipeline.merge(to_plan)
        self._notes.update(merged.notes)
        for refusal in merged.refused:
            self._finish(refusal.result, refusal.item.line)
        if merged.items and self._stop is None:
            plan = self.pipeline.plan(merged.items)
            # Each lead's canonical id as worked out above (merging keeps the lead id).
            spelled = dict(zip((i.conversion.lead_id for i in checked.items), ids, strict=True))
            lines: dict[str, int | None] = {}
            for i in merged.items:
                raw = i.conversion.lead_id
                lines[spelled.get(raw) or canonical(raw)] = i.line
            self._execute(plan.calls, lines)

    def _reconcile(self, items: Sequence[PlanItem]) -> Iterator[PlanItem]:
        """Finish what earlier runs started for these leads; yield those safe to send again.

        A journaled job is polled to its end first (``Client.resume_job``); leads whose call
        was cut off are asked about with the backend's bounded wait
        (``Client.resolve_in_doubt``); converted leads with follow-ups still pending get them
        run (in doubt ones checked first). Only a lead the CRM shows not converted is sent.
        """
        canonical = self.backend.canonical_id
        followers: list[tuple[PlanItem, ConversionResult, JournalEntry]] = []
        by_job: dict[str, list[tuple[PlanItem, JournalEntry]]] = {}
        by_kind: dict[str | None, list[tuple[PlanItem, JournalEntry]]] = {}
        for item in items:
            lead_id = canonical(item.conversion.lead_id)
            entry = self.journal.get(lead_id)
            if entry is None:
                yield item
            elif entry.pending_steps and entry.result is not None:
                followers.append((item, evolve(entry.result, lead_id=lead_id), entry))
            elif entry.job_id and (entry.state == "sending" or entry.outcome in IN_DOUBT):
                by_job.setdefault(entry.job_id, []).append((item, entry))
            else:
                by_kind.setdefault(entry.call_kind, []).append((item, entry))
        answers: list[tuple[PlanItem, JournalEntry, ConversionResult | None, str]] = []
        for job_id, group in by_job.items():
            if self._stop is not None:
                return
            ids = [entry.lead_id for _, entry in group]
            try:
                found = self.client.resume_job(job_id, ids, steps=_Recorder(self))
                reason = f"the CRM did not say what job {job_id} did with the lead"
            except BackendError as exc:
                found = []
                reason = f"could not check job {job_id} started by an earlier run: {exc}"
            answers.extend(self._pair(group, found, reason))
        size = max(1, self.backend.limits.max_batch)
        for kind, group in by_kind.items():
            for start in range(0, len(group), size):
                if self._stop is not None:
                    return
                chunk = group[start : start + size]
                ids = [entry.lead_id for _, entry in chunk]
                # The latest a call marked then can have left (_gate).
                sent = [e.sent_at + _LEAVE_WITHIN for _, e in chunk if e.sent_at is not None]
                try:
                    found = self.client.resolve_in_doubt(
                        ids, call_kind=kind, sent_at=max(sent) if sent else None
                    )
                    reason = "the CRM did not say whether the lead is converted"
                except BackendError as exc:
                    found = []
                    reason = f"could not check the lead's state after an interrupted call: {exc}"
                answers.extend(self._pair(chunk, found, reason))
        for item, entry, result, reason in answers:
            lead_id = entry.lead_id
            if result is None or result.outcome is Outcome.UNKNOWN:
                # In doubt and still unprovable: sending again could convert it twice.
                self._finish(evolve(_unknown(lead_id, reason), job_id=entry.job_id), item.line)
            elif result.outcome is Outcome.NOT_ATTEMPTED:
                yield item
            elif result.outcome is Outcome.CONVERTED and entry.follow_ups:
                # Converted by the call that was cut off: its follow-ups are still to run.
                converted = evolve(result, lead_id=lead_id, job_id=result.job_id or entry.job_id)
                self.journal.record([(converted, item.line)])
                followers.append((item, converted, entry))
            else:
                known_job = result.job_id or entry.job_id
                self._finish(evolve(result, lead_id=lead_id, job_id=known_job), item.line)
        if followers and self._stop is None:
            self._resume_follow_ups(followers)

    def _pair(
        self,
        group: Sequence[tuple[PlanItem, JournalEntry]],
        found: Sequence[ConversionResult],
        reason: str,
    ) -> Iterator[tuple[PlanItem, JournalEntry, ConversionResult | None, str]]:
        by_id = {self.backend.canonical_id(r.lead_id): r for r in found}
        for item, entry in group:
            yield item, entry, by_id.get(entry.lead_id), reason

    def _resume_follow_ups(
        self, followers: Sequence[tuple[PlanItem, ConversionResult, JournalEntry]]
    ) -> None:
        """Run the follow-ups an earlier run left pending: the plan of these leads is made
        again (its follow-ups are numbered as before) and only the steps not done are run."""
        # A lead whose follow-up was cut off is planned alone: its call is checked (and sent
        # again only if not applied) without re-sending the steps of leads it shares a call with.
        cut = [f for f in followers if any(not step.done for step in f[2].steps)]
        clean = [f for f in followers if not any(not step.done for step in f[2].steps)]
        for group in [*([f] for f in cut), clean]:
            if not group or self._stop is not None:
                continue
            plan = self.pipeline.plan([item for item, _, _ in group])
            resumed = {entry.lead_id: (result, entry) for _, result, entry in group}
            lines = {entry.lead_id: item.line for item, _, entry in group}
            self._execute(plan.calls, lines, resumed=resumed)

    def _send(
        self,
        call: PlannedCall,
        index: int,
        held: Mapping[str, ConversionResult] | None = None,
    ) -> list[ConversionResult]:
        if not self._takes_steps:
            return self.client.execute(call, call_index=index)
        conversion = (str(index), call.lead_ids) if call.after is None else None
        recorder = _Recorder(self, held, conversion=conversion)
        results = self.client.execute(call, call_index=index, steps=recorder)
        job_id = recorder.logged_job
        if job_id is not None:
            # The job is journaled in the departure log only: each lead's outcome carries it
            # into its row, as the job id written into the rows did before (Journal.job_queued).
            results = [r if r.job_id else evolve(r, job_id=job_id) for r in results]
        return results

    def _not_sent(
        self, ids: Sequence[str], index: int, lines: Mapping[str, int | None]
    ) -> list[tuple[ConversionResult, int | None]]:
        """The rows of a marked conversion call that never left: not attempted, saying why
        (a run the CRM stopped: as the report says of the leads it never reached)."""
        if self._stop == "interrupted":
            message = "not sent: the run was interrupted first"
        else:
            message = f"not sent: the run stopped first ({self._stop})"
        error = ConversionError(self._abort_code, message)
        return [
            (ConversionResult(i, Outcome.NOT_ATTEMPTED, call=index, error=error), lines.get(i))
            for i in ids
        ]

    def _gate(
        self,
        marked: float,
        call: PlannedCall,
        index: int,
        held: Mapping[str, ConversionResult],
        doubtful: bool,
        sent_at: float | None,
    ) -> list[ConversionResult]:
        """Send a marked call (``_send_step`` when its earlier send was cut off), unless the
        run is stopping or the call waited in the queue longer than ``_LEAVE_WITHIN`` since just
        before its mark (``_NotSent``: marked again, or reported not sent). So every call leaves
        within ``_LEAVE_WITHIN`` of its journaled mark, the bound a resumed run adds to
        ``sent_at``.

        A conversion call that finds the CRM unusable (no connection, credentials refused)
        stops the run here, in the worker: the calls queued behind it are not sent, as none
        would have been launched after it without the queue (``_results`` says the same).

        A conversion call's departure is journaled as it leaves (``Journal.departing``): a run
        killed with calls still queued leaves their leads ``sending``, and the next run tells
        from the departure log that those never left, instead of waiting out the doubt window.
        """
        if self._stop is not None or time.monotonic() - marked > _LEAVE_WITHIN:
            raise _NotSent
        if call.after is None:
            try:
                self.journal.departing(str(index))
            except JournalError as exc:
                # Unrecorded, it must not leave: the run stops as on any journal failure.
                self._journal_failure = exc
                self._stop = self._stop or "stopped"
                raise _NotSent from exc
        try:
            if doubtful:
                return self._send_step(call, index, sent_at, held)
            return self._send(call, index, held)
        except BackendError as exc:
            code = _unusable(exc)
            if code is not None and call.after is None:
                self._abort(str(exc), code)
            raise

    def _abort(self, reason: str, code: ErrorCode) -> None:
        """Stop the run: the CRM cannot be used (exit 3); ``code`` for the leads not sent."""
        self._aborted = reason
        self._abort_code = code
        self._stop = reason

    def _send_step(
        self,
        call: PlannedCall,
        index: int,
        sent_at: float | None,
        held: Mapping[str, ConversionResult] | None = None,
    ) -> list[ConversionResult]:
        """A follow-up whose earlier send was cut off: sent again only when the CRM shows it
        not applied (``Client.check_follow_up``)."""
        try:
            applied = self.client.check_follow_up(call, sent_at=sent_at)
        except NotImplementedError:
            problem = "its send was cut off and the backend cannot tell whether it was applied"
        except BackendError as exc:
            problem = f"its send was cut off and checking it failed: {exc}"
        else:
            if applied is None:
                return self._send(call, index, held)
            return [
                ConversionResult(lead, Outcome.CONVERTED, follow_ups=(applied,))
                for lead in call.lead_ids
            ]
        error = ConversionError(ErrorCode.UNKNOWN, f"in doubt: {problem}; check it by hand")
        return [
            ConversionResult(lead, Outcome.UNKNOWN, follow_ups=(FollowUp(call.kind, False, error),))
            for lead in call.lead_ids
        ]

    @functools.cached_property
    def _takes_steps(self) -> bool:
        """Whether the client's ``execute`` accepts a step recorder (older ones do not)."""
        try:
            parameters = inspect.signature(self.client.execute).parameters
        except (TypeError, ValueError):
            return False
        return "steps" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )

    @functools.cached_property
    def _stopping(self) -> threading.Event:
        """Set when the run stops: clients polling a journaled job return at once."""
        return threading.Event()

    def _execute(
        self,
        calls: Sequence[PlannedCall],
        lines: dict[str, int | None],
        resumed: dict[str, tuple[ConversionResult, JournalEntry]] | None = None,
    ) -> None:
        """Run planned calls with bounded concurrency, journaling each step before it leaves.

        ``resumed``: leads an earlier run converted, whose pending follow-ups are what is left
        to run; their conversion calls are not sent again.
        """
        canonical = self.backend.canonical_id
        # Each call's leads in their one spelling, worked out once for the whole run of calls.
        call_ids = [[canonical(i) for i in call.lead_ids] for call in calls]
        dependents: dict[int, list[int]] = {}
        ready: deque[int] = deque()
        # Follow-up steps are numbered per lead in plan order: the journal's step keys.
        seqs: dict[int, dict[str, int]] = {}
        planned: Counter[str] = Counter()
        for position, call in enumerate(calls):
            if call.after is None:
                ready.append(position)
                continue
            seqs[position] = {}
            for lead_id in call_ids[position]:
                seqs[position][lead_id] = planned[lead_id]
                planned[lead_id] += 1
            dependents.setdefault(call.after, []).append(position)
        # Leads converted by a call whose follow-ups are still to run: their report row waits.
        held: dict[str, ConversionResult] = {}
        waiting: Counter[str] = Counter()
        done_steps: set[tuple[str, int]] = set()
        #: Steps whose send was cut off, with when they were marked.
        doubtful_steps: dict[tuple[str, int], float | None] = {}
        if resumed:
            ready = deque(p for p in seqs if any(lead in resumed for lead in seqs[p]))
            for lead_id, (result, entry) in resumed.items():
                held[lead_id] = result
                for journaled in entry.steps:
                    if journaled.done:
                        done_steps.add((lead_id, journaled.seq))
                    else:
                        marked = journaled.updated_at
                        doubtful_steps[(lead_id, journaled.seq)] = (
                            None if marked is None else marked + _LEAVE_WITHIN
                        )
                waiting[lead_id] = sum(
                    (lead_id, k) not in done_steps for k in range(planned[lead_id])
                )
                if entry.follow_ups != planned[lead_id]:
                    self.journal.set_follow_ups(lead_id, planned[lead_id])
            for lead_id in [lead for lead, count in waiting.items() if count <= 0]:
                del waiting[lead_id]
                self._finish(held.pop(lead_id), lines.get(lead_id))
        running: dict[Future[list[ConversionResult]], tuple[int, int]] = {}
        # Calls marked and submitted at once: one per worker, and as many again queued behind
        # them, so that a worker whose call ends takes the next at once, without waiting for
        # this thread's pass (whose commit and GIL hand-overs were what freed workers waited
        # for). --fail-fast queues none: no call starts after the one that failed has ended.
        depth = self.workers if self.options.fail_fast else 2 * self.workers

        def never_left(position: int, index: int) -> list[tuple[ConversionResult, int | None]]:
            """A marked call that never left (the run stopped first): a conversion call's
            rows, not attempted; a follow-up call's marks forgotten (a step cut off by an
            earlier run stays in doubt), no rows."""
            if calls[position].after is None:
                return self._not_sent(call_ids[position], index, lines)
            steps = seqs[position]
            for lead_id in call_ids[position]:
                key = (lead_id, steps[lead_id])
                if lead_id in held and key not in done_steps and key not in doubtful_steps:
                    self.journal.unmark_step(lead_id, steps[lead_id])
            return []

        failed = False
        launch: list[tuple[int, int, bool, float | None]] = []
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="leadconvert") as pool:
            done: list[Future[list[ConversionResult]]] = []
            # Futures land here as they finish: the main thread wakes once for all of them.
            finished: queue.SimpleQueue[Future[list[ConversionResult]]] = queue.SimpleQueue()
            try:
                while True:
                    if self._journal_failure is not None:
                        raise self._journal_failure
                    # Held off Ctrl-C and SIGTERM: a signal lands after the marks are
                    # committed and their calls submitted, never between the two, and never
                    # inside the report's own bookkeeping.
                    with _shielded():
                        launch = []
                        # Before the marks: a call marked in this pass leaves within
                        # _LEAVE_WITHIN of this moment or not at all (_gate).
                        marked = time.monotonic()
                        unsent = [f for f in done if _unsent(f)]
                        # One journal transaction (one fsync) records the calls that finished and
                        # marks the ones about to leave; the marks are on disk before they do. A
                        # pass with nothing it could launch (the window's tail) only records
                        # outcomes: its commit needs no fsync of its own (Journal.batch).
                        may_mark = self._stop is None and (
                            bool(ready)
                            or bool(unsent)
                            or any(dependents.get(running[f][0]) for f in done)
                        )
                        with self.journal.batch(durable=may_mark):
                            collected = _Collected()
                            noted: list[tuple[ConversionResult, int | None]] = []
                            for future in unsent:
                                position, index = running.pop(future)
                                if self._stop is None:
                                    # Waited too long behind busy workers: marked again below,
                                    # so that its mark says when it may leave.
                                    ready.appendleft(position)
                                else:
                                    collected.rows.extend(never_left(position, index))
                            for future in done:
                                if future not in running:
                                    continue
                                position, index = running.pop(future)
                                follow = dependents.get(position, ())
                                self._collect(
                                    calls[position],
                                    call_ids[position],
                                    index,
                                    future,
                                    lines,
                                    held,
                                    waiting,
                                    Counter(i for d in follow for i in call_ids[d]),
                                    seqs.get(position, {}),
                                    collected,
                                )
                                ready.extend(
                                    d for d in follow if any(i in held for i in call_ids[d])
                                )
                            # Journaled with the marks; reported once the next calls are on
                            # their way (a free worker does not wait for the report's rows).
                            if collected.rows or collected.converted_first:
                                noted = self._record(
                                    collected.rows,
                                    journal=True,
                                    also_journal=collected.converted_first,
                                )
                            done = []
                            while (
                                ready
                                and len(running) + len(launch) < depth
                                and self._stop is None
                            ):
                                if (
                                    calls[ready[0]].after is not None
                                    and len(running) + len(launch) >= self.workers
                                ):
                                    # A follow-up leaves at once or waits here, never in the
                                    # queue: the departure log records conversion calls only.
                                    break
                                position = ready.popleft()
                                call = calls[position]
                                ids = call_ids[position]
                                if call.after is None:
                                    index = next(self._calls)
                                    self.journal.mark_sending(
                                        ((i, lines.get(i)) for i in ids),
                                        str(index),
                                        kind=call.kind,
                                        follow_ups={i: n for i in ids if (n := planned.get(i))},
                                    )
                                    launch.append((position, index, False, None))
                                    continue
                                steps = seqs[position]
                                wanted = [
                                    i for i in ids if i in held and (i, steps[i]) not in done_steps
                                ]
                                if not wanted:
                                    continue
                                index = next(self._calls)
                                for lead_id in wanted:
                                    self.journal.mark_step(lead_id, steps[lead_id], call.kind)
                                cut = [
                                    (i, steps[i]) for i in wanted if (i, steps[i]) in doubtful_steps
                                ]
                                # A step cut off earlier is checked first (from when it was sent).
                                sent_at = doubtful_steps[cut[0]] if cut else None
                                launch.append((position, index, bool(cut), sent_at))
                        for position, index, doubtful, sent_at in launch:
                            future = pool.submit(
                                self._gate, marked, calls[position], index, held, doubtful, sent_at
                            )
                            running[future] = (position, index)
                            future.add_done_callback(finished.put)
                        if noted:
                            self._report(noted)
                    if not running:
                        break
                    done = [finished.get()]
                    # While calls wait behind busy workers, nobody waits for this thread: take
                    # in more outcomes first (fewer passes, fewer commits), until half of the
                    # queue has left or _GATHER has passed.
                    until = time.monotonic() + _GATHER
                    while len(running) - len(done) > self.workers + self.workers // 2:
                        left = until - time.monotonic()
                        if left <= 0:
                            break
                        try:
                            done.append(finished.get(timeout=left))
                        except queue.Empty:
                            break
                    with contextlib.suppress(queue.Empty):
                        while True:
                            done.append(finished.get_nowait())
            except KeyboardInterrupt:
                # Let the calls in flight finish and be recorded; send nothing new. A client
                # polling a journaled job returns now: the next run polls it.
                self._stop = "interrupted"
                self._stopping.set()
                for future in running:
                    # Queued behind the workers, not sent: it never will be.
                    future.cancel()
                wait(running)
                submitted = set(running.values())
                with self.journal.batch():
                    for position, index, _, _ in launch:
                        if (position, index) in submitted:
                            continue
                        # Marked, then interrupted before it left: never sent, say so.
                        rows = never_left(position, index)
                        if rows:
                            self._finish_all(rows)
                    collected = _Collected()
                    for future, (position, index) in running.items():
                        if _unsent(future):
                            collected.rows.extend(never_left(position, index))
                            continue
                        self._collect(
                            calls[position],
                            call_ids[position],
                            index,
                            future,
                            lines,
                            held,
                            waiting,
                            Counter(),
                            seqs.get(position, {}),
                            collected,
                        )
                    collected.finish(self)
                raise
            except BaseException:
                # The journal cannot be written (a full disk...): stop at once, send nothing
                # more; what was in flight is reconciled by the next run.
                failed = True
                self._stop = self._stop or "stopped"
                self._stopping.set()
                for future in running:
                    # Marked but not sent: left in doubt for the next run, never sent now.
                    future.cancel()
                raise
            finally:
                for lead_id, result in held.items():
                    # Stopped before its follow-ups ran: the conversion stands, the steps are
                    # pending in the journal and the next run applies them.
                    step = FollowUp(
                        "follow-up",
                        False,
                        ConversionError(
                            ErrorCode.UNKNOWN,
                            "not run yet: the run stopped first; run the same command again "
                            "to apply it",
                        ),
                    )
                    row = evolve(result, follow_ups=(*result.follow_ups, step))
                    self._finish(row, lines.get(lead_id), journal=not failed)
                held.clear()

    def _collect(
        self,
        call: PlannedCall,
        ids: Sequence[str],
        index: int,
        future: Future[list[ConversionResult]],
        lines: dict[str, int | None],
        held: dict[str, ConversionResult],
        waiting: Counter[str],
        followed: Counter[str],
        steps: dict[str, int],
        collected: _Collected,
    ) -> None:
        """Take in a finished call's results; ``ids`` are its leads' canonical ids and
        ``followed`` how many follow-up steps each of them has after it."""
        if call.after is not None:
            self._collect_follow_up(call, ids, future, lines, held, waiting, steps, collected)
            return
        converted_first: list[tuple[ConversionResult, int | None]] = []
        for lead_id, result in zip(ids, self._results(ids, index, future), strict=True):
            if result.outcome is Outcome.CONVERTED and followed.get(lead_id):
                # The conversion is recorded now (its follow-ups pending in the journal since
                # it was marked); the report row waits for the follow-ups.
                converted_first.append((result, lines.get(lead_id)))
                held[lead_id] = result
                waiting[lead_id] = followed[lead_id]
            else:
                collected.rows.append((result, lines.get(lead_id)))
        collected.converted_first.extend(converted_first)

    def _collect_follow_up(
        self,
        call: PlannedCall,
        ids: Sequence[str],
        future: Future[list[ConversionResult]],
        lines: dict[str, int | None],
        held: dict[str, ConversionResult],
        waiting: Counter[str],
        steps: dict[str, int],
        collected: _Collected,
    ) -> None:
        try:
            answers = self._by_lead(future.result(), ids)
            failure = None
        except Exception as exc:
            answers, failure = (
                {},
                ConversionError(ErrorCode.UNKNOWN, f"{type(exc).__name__}: {exc}"),
            )
        for lead_id in ids:
            base = held.get(lead_id)
            if base is None or lead_id not in waiting:
                continue
            answer = answers.get(lead_id)
            if answer is None or not answer.follow_ups:
                error = failure or ConversionError(ErrorCode.UNKNOWN, "no result for the step")
                step = FollowUp(call.kind, False, error)
            else:
                # The step this call ran is the last one the client reports for the lead.
                step = answer.follow_ups[-1]
            self.journal.record_step(lead_id, steps.get(lead_id, 0), call.kind, step)
            held[lead_id] = evolve(base, follow_ups=(*base.follow_ups, step))
            waiting[lead_id] -= 1
            if waiting[lead_id] <= 0:
                del waiting[lead_id]
                collected.rows.append((held.pop(lead_id), lines.get(lead_id)))

    def _by_lead(
        self, results: Sequence[ConversionResult], ids: Sequence[str]
    ) -> dict[str, ConversionResult]:
        """``results`` by their lead's canonical id. A result naming its lead as the call did
        (already canonical: ``canonical_id`` gives a canonical id back) is taken as it is."""
        canonical = self.backend.canonical_id
        wanted = set(ids)
        return {r.lead_id if r.lead_id in wanted else canonical(r.lead_id): r for r in results}

    def _results(
        self, ids: Sequence[str], index: int, future: Future[list[ConversionResult]]
    ) -> list[ConversionResult]:
        """One result per lead of a call, in order, whatever the call raised or left out."""
        try:
            results = future.result()
        except TransportError as exc:
            if _unusable(exc) is None:
                message = f"the call failed; the lead's state is unproven: {exc}"
                return [evolve(_unknown(i, message), call=index) for i in ids]
            # No connection could be made (whatever the plugin called it): nothing was sent,
            # and the CRM cannot be used, so the run stops (exit 3) and these leads are not
            # attempted, never "unknown".
            self._abort(str(exc), ErrorCode.NETWORK_ERROR)
            error = ConversionError(ErrorCode.NETWORK_ERROR, str(exc), retryable=True)
            return [
                ConversionResult(i, Outcome.NOT_ATTEMPTED, call=index, error=error) for i in ids
            ]
        except AuthenticationError as exc:
            # Nothing was converted, and nothing after this will be: stop the run.
            self._abort(str(exc), ErrorCode.AUTH_FAILED)
            error = ConversionError(ErrorCode.AUTH_FAILED, str(exc), exc.backend_code)
            return [ConversionResult(i, Outcome.FAILED, call=index, error=error) for i in ids]
        except RateLimitedError as exc:
            error = ConversionError(
                ErrorCode.RATE_LIMITED, str(exc), exc.backend_code, retryable=True
            )
            return [ConversionResult(i, Outcome.FAILED, call=index, error=error) for i in ids]
        except BackendError as exc:
            message = f"the call failed; the lead's state is unproven: {exc}"
            return [evolve(_unknown(i, message), call=index) for i in ids]
        except Exception as exc:
            message = f"the backend failed: {type(exc).__name__}: {exc}"
            return [evolve(_unknown(i, message), call=index) for i in ids]
        by_id = self._by_lead(results, ids)
        out = []
        for lead_id in ids:
            result = by_id.get(lead_id)
            if result is None:
                result = _unknown(lead_id, "the backend returned no result for the lead")
            if result.lead_id != lead_id or result.call is None:
                result = evolve(
                    result, lead_id=lead_id, call=index if result.call is None else result.call
                )
            out.append(result)
        return out


#: Seconds a marked call may wait for a free worker before it leaves (``Runner._gate``).
_LEAVE_WITHIN = 2.0
#: Seconds a pass may wait to take in more outcomes while calls are queued.
_GATHER = 0.05


class _NotSent(Exception):
    """A marked call that did not leave (``Runner._gate``)."""


def _unusable(exc: BaseException) -> ErrorCode | None:
    """The neutral code of a failure that means the CRM cannot be used (no connection could
    be made, whatever the plugin called it; credentials refused), else None."""
    if isinstance(exc, AuthenticationError):
        return ErrorCode.AUTH_FAILED
    if isinstance(exc, TransportError) and (
        isinstance(exc, UnreachableError) or UnreachableError.caused(exc)
    ):
        return ErrorCode.NETWORK_ERROR
    return None


def _unsent(future: Future[list[ConversionResult]]) -> bool:
    """Whether a finished call never left: cancelled in the queue, or refused by the gate."""
    return future.cancelled() or isinstance(future.exception(), _NotSent)


class _Shield:
    #: Whether the main thread is inside a ``_shielded`` block (only the main thread sets it).
    active = False


class _Collected:
    """The outcomes of the calls collected in one pass, recorded together: one journal
    statement and one report statement for all of them, in the order they were collected."""

    def __init__(self) -> None:
        self.rows: list[tuple[ConversionResult, int | None]] = []
        #: Conversions whose follow-ups are still to run: journaled now, reported later.
        self.converted_first: list[tuple[ConversionResult, int | None]] = []

    def finish(self, runner: Runner) -> None:
        if self.rows or self.converted_first:
            runner._finish_all(self.rows, also_journal=self.converted_first)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM off a block of bookkeeping (journal, report), then deliver them.

    Python raises ``KeyboardInterrupt`` between any two bytecodes; cut in half, the report's
    spool or a mark-then-send pair would be left inconsistent. Outside the main thread (a
    library caller's worker) signals cannot be handled here and nothing changes.
    """
    if _Shield.active or threading.current_thread() is not threading.main_thread():
        # Inside a shielded block already (the outer one delivers what lands), or off the main
        # thread: nothing to install (each install is four ``signal.signal`` calls).
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous: dict[int, Any] = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[number] = signal.signal(number, hold)
        except (ValueError, OSError):  # pragma: no cover - not settable here
            continue
    _Shield.active = True
    try:
        yield
    finally:
        _Shield.active = False
        for held, handler in previous.items():
            signal.signal(held, handler)
    if caught:
        # Delivered now, to whatever handled it before (KeyboardInterrupt, the CLI's SIGTERM).
        signal.raise_signal(caught[0])


class _Recorder(StepRecorder):
    """A client's view of the run's journal while it carries out one call."""

    def __init__(
        self,
        runner: Runner,
        held: Mapping[str, ConversionResult] | None = None,
        *,
        conversion: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._runner = runner
        # The conversions whose follow-ups are still to run (read from the call's thread while
        # the main thread adds others: single dict reads, safe under the GIL).
        self._held = held or {}
        #: The conversion call this recorder's client carries out, its id and its leads (None:
        #: a follow-up, or a resumed job).
        self._conversion = conversion
        #: The job journaled with ``Journal.job_queued`` for every lead of the call.
        self.logged_job: str | None = None

    def job_scheduled(self, job_id: str, lead_ids: Sequence[str]) -> None:
        canonical = self._runner.backend.canonical_id
        if self._conversion is not None:
            call_id, call_leads = self._conversion
            if tuple(lead_ids) == call_leads or {canonical(i) for i in lead_ids} == {
                canonical(i) for i in call_leads
            }:
                # The job converts the call's leads, which the journal knows by their call: one
                # line in the departure log instead of a transaction.
                self._runner.journal.job_queued(call_id, job_id)
                self.logged_job = job_id
                return
        self._runner.journal.set_job([canonical(i) for i in lead_ids], job_id)

    @property
    def stopping(self) -> bool:
        return self._runner._stopping.is_set()

    def converted(self, lead_id: str) -> ConversionResult | None:
        return self._held.get(self._runner.backend.canonical_id(lead_id))


def _duplicate(earlier: int | None) -> Violation:
    where = f" on line {earlier}" if earlier else ""
    return Violation(
        rule="input.duplicate_lead",
        path="lead_id",
        message=f"the lead already appears earlier in this run{where}; it is converted once",
    )


def new_run_id() -> str:
    """A fresh id for a run, recorded in the journal."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def default_paths(source: Path, report: Path | None, journal: Path | None) -> tuple[Path, Path]:
    """The report (next to the input) and the journal (next to the report) unless given."""
    report = report or source.with_name(source.stem + ".report.jsonl")
    journal = journal or report.with_suffix(".journal.sqlite")
    return report, journal


def convert_file(
    backend: Backend,
    client: Client,
    records: Iterable[InputRecord],
    *,
    report: Path,
    journal: Path,
    settings: dict[str, str] | None = None,
    options: RunOptions | None = None,
    progress: ProgressSink | None = None,
    on_invalid: Callable[[InputRecord], None] | None = None,
    emulated: bool = False,
) -> RunSummary:
    """Convert ``records`` on ``backend`` through ``client``, journaled in ``journal``.

    Running it again with the same journal resumes: converted leads are skipped, what an
    earlier run started (a job, follow-ups) is finished, and leads whose call ended in doubt are
    checked against the CRM before anything is re-sent. One run at a time uses a journal, and
    one run at a time serves an org from this machine: a second one raises ``LockError``.

    ``emulated``: ``client`` talks to an emulator started for this run (a session without
    credentials), whose state ends with it. A journal that a run on another such emulator wrote
    is then started afresh, not refused as another org's: the new emulator has every lead open
    again. (The same emulator resumes it, as a CRM does.)
    """
    org = client.org_identity()
    locks: list[JournalLock] = []
    try:
        locks.append(journal_lock(journal).acquire())
        org_wide = org_lock(backend.name, org)
        if org_wide is not None:
            locks.append(org_wide.acquire())
        book = Journal(journal, backend.name, new_run_id(), org=org, emulated=emulated)
    except BaseException:
        for lock in reversed(locks):
            lock.release()
        raise
    try:
        return _convert_journaled(
            backend, client, records, book, report, settings, options, progress, on_invalid
        )
    finally:
        for lock in reversed(locks):
            lock.release()


def _convert_journaled(
    backend: Backend,
    client: Client,
    records: Iterable[InputRecord],
    book: Journal,
    report: Path,
    settings: dict[str, str] | None,
    options: RunOptions | None,
    progress: ProgressSink | None,
    on_invalid: Callable[[InputRecord], None] | None,
) -> RunSummary:
    try:
        writer = ReportWriter.open(report)
    except LeadConvertError:
        book.close()
        raise
    try:
        runner = Runner(
            backend, client, book, writer, settings, options, progress, on_invalid=on_invalid
        )
        try:
            summary = runner.run(writer.tap(records))
        except UnreachableError as exc:
            # No connection before any call could leave (looking for existing records, say):
            # nothing was sent; the leads read are reported not_attempted and the run exits 3.
            summary = RunSummary(aborted=str(exc))
        except BaseException:
            # An incomplete report never replaces the previous one; the journal has the run.
            writer.abandon()
            raise
        # A run the CRM stopped lists the leads it had read and never sent as not_attempted,
        # with the code of what stopped it (credentials refused, or no connection).
        stop_code = "auth_failed" if writer.error_codes.get("auth_failed") else "network_error"
        writer.close(unreached=summary.aborted, code=stop_code)
    finally:
        book.close()
    counts = {Outcome(k): v for k, v in writer.outcomes.items()}
    return evolve(summary, counts=counts, error_codes=dict(writer.error_codes))
