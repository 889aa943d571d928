"""The migration runner: streams conversions through a backend, journaled and resumable.

For each window of input records it: reports invalid ones; skips leads the journal shows
converted; asks the CRM about leads whose last call ended in doubt before re-sending anything;
plans the rest; and runs the planned calls with bounded concurrency, marking each call's leads
``sending`` on disk before the call leaves and recording each outcome as it arrives.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from attrs import evolve, field, frozen

from ._exceptions import (
    AuthenticationError,
    BackendError,
    LeadConvertError,
    RateLimitedError,
)
from ._input import InputRecord
from ._journal import Journal
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
from .backend import Backend, Client, PlanItem, PlannedCall

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
        noted = []
        for given, line in rows:
            note = self._notes.pop(given.lead_id, None)
            noted.append((evolve(given, merge=note) if note and not given.merge else given, line))
        to_journal = [*also_journal, *noted] if journal else list(also_journal)
        if to_journal:
            self.journal.record(to_journal)
        for result, line in noted:
            self.report.write(result, line)
            self._counts[result.outcome] += 1
            if self.progress is not None:
                self.progress.advance(result.outcome)
            if self.options.fail_fast and result.outcome not in SUCCESS and self._stop is None:
                self._stop = f"lead {result.lead_id} ended {result.outcome.value} (--fail-fast)"

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
            while self._stop is None and (
                chunk := list(itertools.islice(iterator, self.options.window))
            ):
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
        for item in checked.items:
            lead_id = self.backend.canonical_id(item.conversion.lead_id)
            entry = self.journal.get(lead_id)
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
            elif entry is not None and entry.in_doubt:
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
            lines = {self.backend.canonical_id(i.conversion.lead_id): i.line for i in merged.items}
            self._execute(plan.calls, lines)

    def _reconcile(self, items: Sequence[PlanItem]) -> Iterator[PlanItem]:
        """Ask the CRM about leads whose last call ended in doubt; yield those safe to send."""
        size = max(1, self.backend.limits.max_batch)
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            ids = [self.backend.canonical_id(i.conversion.lead_id) for i in batch]
            try:
                found = {self.backend.canonical_id(r.lead_id): r for r in self.client.lookup(ids)}
            except BackendError as exc:
                found = {}
                reason = f"could not check the lead's state after an interrupted call: {exc}"
            else:
                reason = "the CRM did not say whether the lead is converted"
            for item, lead_id in zip(batch, ids, strict=True):
                result = found.get(lead_id)
                if result is None or result.outcome is Outcome.UNKNOWN:
                    # In doubt and still unprovable: sending again could convert it twice.
                    self._finish(_unknown(lead_id, reason), item.line)
                elif result.outcome is Outcome.NOT_ATTEMPTED:
                    yield item
                else:
                    self._finish(evolve(result, lead_id=lead_id), item.line)

    def _execute(self, calls: Sequence[PlannedCall], lines: dict[str, int | None]) -> None:
        canonical = self.backend.canonical_id
        dependents: dict[int, list[int]] = {}
        ready: deque[int] = deque()
        for position, call in enumerate(calls):
            if call.after is None:
                ready.append(position)
            else:
                dependents.setdefault(call.after, []).append(position)
        # Leads converted by a call whose follow-ups are still to run: their report row waits.
        held: dict[str, ConversionResult] = {}
        waiting: Counter[str] = Counter()
        running: dict[Future[list[ConversionResult]], tuple[int, int]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="leadconvert") as pool:
            done: set[Future[list[ConversionResult]]] = set()
            try:
                while True:
                    launch: list[tuple[int, int]] = []
                    # One journal transaction (one fsync) records the calls that finished and
                    # marks the ones about to leave; the marks are on disk before they do.
                    with self.journal.batch():
                        for future in done:
                            position, index = running.pop(future)
                            follow = [calls[d] for d in dependents.get(position, ())]
                            self._collect(
                                calls[position], index, future, lines, held, waiting, follow
                            )
                            ready.extend(
                                d
                                for d in dependents.get(position, ())
                                if any(canonical(i) in held for i in calls[d].lead_ids)
                            )
                        done = set()
                        while (
                            ready
                            and len(running) + len(launch) < self.workers
                            and self._stop is None
                        ):
                            position = ready.popleft()
                            index = next(self._calls)
                            call = calls[position]
                            if call.after is None:
                                ids = [canonical(i) for i in call.lead_ids]
                                self.journal.mark_sending(
                                    ((i, lines.get(i)) for i in ids), str(index)
                                )
                            launch.append((position, index))
                    self.report.flush()
                    for position, index in launch:
                        future = pool.submit(self.client.execute, calls[position], call_index=index)
                        running[future] = (position, index)
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Let the calls in flight finish and be recorded; send nothing new.
                self._stop = "interrupted"
                wait(running)
                with self.journal.batch():
                    for future, (position, index) in running.items():
                        self._collect(calls[position], index, future, lines, held, waiting, [])
                raise
            finally:
                for lead_id, result in held.items():
                    # Stopped before its follow-up ran: the conversion stands, the step did not.
                    step = FollowUp(
                        "follow-up",
                        False,
                        ConversionError(ErrorCode.UNKNOWN, "not run: the run stopped first"),
                    )
                    self._finish(
                        evolve(result, follow_ups=(*result.follow_ups, step)), lines.get(lead_id)
                    )
                held.clear()

    def _collect(
        self,
        call: PlannedCall,
        index: int,
        future: Future[list[ConversionResult]],
        lines: dict[str, int | None],
        held: dict[str, ConversionResult],
        waiting: Counter[str],
        follow: Sequence[PlannedCall],
    ) -> None:
        canonical = self.backend.canonical_id
        ids = [canonical(i) for i in call.lead_ids]
        if call.after is not None:
            self._collect_follow_up(call, ids, future, lines, held, waiting)
            return
        followed: Counter[str] = Counter(canonical(i) for f in follow for i in f.lead_ids)
        done: list[tuple[ConversionResult, int | None]] = []
        converted_first: list[tuple[ConversionResult, int | None]] = []
        for lead_id, result in zip(ids, self._results(ids, index, future), strict=True):
            if followed[lead_id] and result.outcome is Outcome.CONVERTED:
                # The conversion is recorded now; the report row waits for the follow-ups.
                converted_first.append((result, lines.get(lead_id)))
                held[lead_id] = result
                waiting[lead_id] = followed[lead_id]
            else:
                done.append((result, lines.get(lead_id)))
        self._finish_all(done, also_journal=converted_first)

    def _collect_follow_up(
        self,
        call: PlannedCall,
        ids: Sequence[str],
        future: Future[list[ConversionResult]],
        lines: dict[str, int | None],
        held: dict[str, ConversionResult],
        waiting: Counter[str],
    ) -> None:
        try:
            answers = {self.backend.canonical_id(r.lead_id): r for r in future.result()}
            failure = None
        except Exception as exc:
            answers, failure = (
                {},
                ConversionError(ErrorCode.UNKNOWN, f"{type(exc).__name__}: {exc}"),
            )
        for lead_id in ids:
            base = held.get(lead_id)
            if base is None:
                continue
            answer = answers.get(lead_id)
            if answer is None:
                error = failure or ConversionError(ErrorCode.UNKNOWN, "no result for the step")
                steps: tuple[FollowUp, ...] = (FollowUp(call.kind, False, error),)
            else:
                steps = tuple(f for f in answer.follow_ups if f not in base.follow_ups)
            held[lead_id] = evolve(base, follow_ups=(*base.follow_ups, *steps))
            waiting[lead_id] -= 1
            if waiting[lead_id] <= 0:
                del waiting[lead_id]
                self._finish(held.pop(lead_id), lines.get(lead_id))

    def _results(
        self, ids: Sequence[str], index: int, future: Future[list[ConversionResult]]
    ) -> list[ConversionResult]:
        """One result per lead of a call, in order, whatever the call raised or left out."""
        try:
            results = future.result()
        except AuthenticationError as exc:
            # Nothing was converted, and nothing after this will be: stop the run.
            self._aborted = str(exc)
            self._stop = self._aborted
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
        by_id = {self.backend.canonical_id(r.lead_id): r for r in results}
        out = []
        for lead_id in ids:
            result = by_id.get(lead_id)
            if result is None:
                result = _unknown(lead_id, "the backend returned no result for the lead")
            out.append(
                evolve(result, lead_id=lead_id, call=index if result.call is None else result.call)
            )
        return out


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
) -> RunSummary:
    """Convert ``records`` on ``backend`` through ``client``, journaled in ``journal``.

    Running it again with the same journal resumes: converted leads are skipped, leads whose
    call ended in doubt are checked against the CRM before anything is re-sent.
    """
    book = Journal(journal, backend.name, new_run_id())
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
        except BaseException:
            # An incomplete report never replaces the previous one; the journal has the run.
            writer.abandon()
            raise
        writer.close()
    finally:
        book.close()
    return evolve(summary, error_codes=dict(writer.error_codes))
