"""The one pipeline: read -> check -> match and merge -> plan, window by window.

Every command and the Python API go through ``Pipeline``: ``validate`` stops after checking,
``plan``, ``translate`` and ``leadconvert.testing`` plan, and the runner plans too, but looks
each checked lead up in its journal between checking and matching (``Pipeline.check``,
``Pipeline.merge`` and ``Pipeline.plan`` are the stages it calls one by one). Each conversion is
checked once; a conversion the merge policy proposes is a new one and is checked by the policy.

The pipeline streams: records are taken in windows whose size is a multiple of every built-in
batch limit, so memory stays flat whatever the input size while homogeneous input still needs
the minimum number of calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

from attrs import evolve, field, frozen

from ._check import Checked, Mode, check
from ._defaults import Defaults
from ._exceptions import BackendError, ConfigurationError, UnreachableError
from ._input import InputRecord
from ._merge import Action, OnAmbiguous, OnMatch, decide
from ._model import Conversion, trusted_constructor
from ._results import (
    ConversionError,
    ConversionResult,
    ErrorCode,
    MatchReport,
    Outcome,
    Violation,
)
from .backend import Backend, BackendPlan, Client, PlanItem, PlanWarning

__all__ = [
    "WINDOW",
    "Checked",
    "CheckedWindow",
    "MergePolicy",
    "MergedWindow",
    "Mode",
    "Pipeline",
    "PlanWindow",
    "Refusal",
    "check",
    "plan_records",
]

#: Records planned together; a multiple of Zoho's 50 and Salesforce's 100.
WINDOW = 5000

#: PlanItem(...) without attrs' __init__: it has neither converters nor validators, and each
#: checked record becomes one.
_new_plan_item = trusted_constructor(PlanItem)


def _frozen_notes(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@frozen
class CheckedWindow:
    """One window after checking: the conversions to go on with, and those left out."""

    items: tuple[PlanItem, ...]
    #: Records that could not be read or break a rule, each with its violations.
    invalid: tuple[InputRecord, ...]
    #: What lenient mode will not send, per lead.
    warnings: tuple[PlanWarning, ...]


@frozen
class MergePolicy:
    """``--on-match`` and ``--on-ambiguous``: look for existing records first, and what then."""

    on_match: OnMatch = OnMatch.MERGE
    on_ambiguous: OnAmbiguous = OnAmbiguous.FAIL


@frozen
class Refusal:
    """A lead the merge stage keeps from being planned, with the result to report for it."""

    item: PlanItem
    result: ConversionResult


@frozen
class MergedWindow:
    """The items after the merge policy: merged or unchanged, and those refused."""

    items: tuple[PlanItem, ...]
    refused: tuple[Refusal, ...] = ()
    #: What the policy did with each planned lead (canonical id -> reason), for the plan and
    #: the report.
    notes: Mapping[str, str] = field(factory=dict, converter=_frozen_notes)


@frozen
class PlanWindow:
    """One window of a streamed plan: its calls and warnings, and the records left out."""

    plan: BackendPlan
    invalid: tuple[InputRecord, ...]
    refused: tuple[Refusal, ...] = ()
    notes: Mapping[str, str] = field(factory=dict, converter=_frozen_notes)


class Pipeline:
    """Reads, checks, matches and plans conversions for one backend with fixed settings.

    ``defaults`` fill target fields a conversion left unset (``--default``), before it is
    checked; each one taken is noted in the plan as a ``defaults.applied`` warning.

    ``settings`` are the resolved settings (see ``leadconvert.resolve_settings``); they are
    checked once, here, with ``Backend.check_settings``: a problem raises ``ConfigurationError``
    before any record is read. ``merge`` needs ``client``, whose ``match`` it calls with at most
    ``workers`` calls in flight.
    """

    def __init__(
        self,
        backend: Backend,
        settings: Mapping[str, str] | None = None,
        *,
        mode: Mode = Mode.STRICT,
        window: int = WINDOW,
        merge: MergePolicy | None = None,
        client: Client | None = None,
        workers: int = 1,
        defaults: Defaults | None = None,
    ) -> None:
        if merge is not None and client is None:
            raise ValueError("the merge policy needs a client to look for existing records")
        self.backend = backend
        self.settings: Mapping[str, str] = MappingProxyType(dict(settings or {}))
        self.mode = mode
        self.window = max(1, window)
        self.merge_policy = merge
        self.client = client
        self.workers = max(1, workers)
        self.defaults = defaults if defaults else None
        problems = backend.check_settings(self.settings)
        if problems:
            raise ConfigurationError(
                f"settings of backend {backend.name!r}: "
                + "; ".join(f"{v.path}: {v.message}" if v.path else v.message for v in problems)
            )

    # --- the stages ----------------------------------------------------------------------

    def check(self, records: Iterable[InputRecord]) -> CheckedWindow:
        """Check each record once: readable and valid ones become plan items."""
        items: list[PlanItem] = []
        invalid: list[InputRecord] = []
        warnings: list[PlanWarning] = []
        backend, mode, defaults = self.backend, self.mode, self.defaults
        append, new_item = items.append, _new_plan_item
        for record in records:
            conversion = record.conversion
            if conversion is None:
                invalid.append(record)
                continue
            if defaults is not None:
                applied = defaults.apply(conversion)
                conversion = applied.conversion
                warnings.extend(
                    PlanWarning(conversion.lead_id, note, record.line) for note in applied.notes()
                )
            checked = check(backend, conversion, mode)
            if checked.errors:
                invalid.append(evolve(record, violations=checked.errors))
                continue
            if checked.warnings:
                warnings.extend(
                    PlanWarning(conversion.lead_id, v, record.line) for v in checked.warnings
                )
            append(new_item(conversion, record.line))
        return CheckedWindow(tuple(items), tuple(invalid), tuple(warnings))

    def merge(self, items: Sequence[PlanItem]) -> MergedWindow:
        """Apply the merge policy to checked items (unchanged when there is none)."""
        policy = self.merge_policy
        if policy is None or not items:
            return MergedWindow(tuple(items))
        assert self.client is not None
        out: list[PlanItem] = []
        refused: list[Refusal] = []
        notes: dict[str, str] = {}
        ids = [item.conversion.lead_id for item in items]
        if self.workers > 1 and len(items) > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="match") as pool:
                reports = list(pool.map(self._match, ids))
        else:
            reports = [self._match(lead_id) for lead_id in ids]
        for item, found in zip(items, reports, strict=True):
            lead_id = self.backend.canonical_id(item.conversion.lead_id)
            if isinstance(found, BackendError):
                if policy.on_match is OnMatch.CREATE:
                    out.append(item)
                    continue
                # Without the report a merge would be a guess: the lead waits for a rerun.
                error = ConversionError(
                    ErrorCode.NETWORK_ERROR,
                    f"could not look for existing records: {found}",
                    found.backend_code,
                    retryable=True,
                )
                refused.append(
                    Refusal(item, ConversionResult(lead_id, Outcome.FAILED, error=error))
                )
                continue
            decision = decide(
                item.conversion,
                found,
                self.backend,
                policy.on_match,
                policy.on_ambiguous,
                self.mode,
            )
            if decision.conversion is not None:
                notes[lead_id] = decision.reason
                out.append(PlanItem(decision.conversion, item.line))
                continue
            outcome = Outcome.FAILED if decision.action is Action.FAILED else Outcome.NOT_ATTEMPTED
            result = ConversionResult(lead_id, outcome, error=decision.error, merge=decision.reason)
            refused.append(Refusal(item, result))
        return MergedWindow(tuple(out), tuple(refused), notes)

    def plan(self, items: Sequence[PlanItem], warnings: Sequence[PlanWarning] = ()) -> BackendPlan:
        """The backend's plan of checked items, with the checking warnings first."""
        planned = self.backend.plan(items, self.settings) if items else BackendPlan(())
        if not warnings:
            return planned
        return BackendPlan(planned.calls, (*warnings, *planned.warnings))

    # --- the whole flow ------------------------------------------------------------------

    def windows(self, records: Iterable[InputRecord]) -> Iterator[PlanWindow]:
        """Check, merge and plan ``records`` window by window."""
        iterator = iter(records)
        while chunk := list(itertools.islice(iterator, self.window)):
            yield self.plan_window(chunk)

    def plan_window(self, records: Sequence[InputRecord]) -> PlanWindow:
        """Check, merge and plan ``records`` together, as one window."""
        checked = self.check(records)
        merged = self.merge(checked.items)
        return PlanWindow(
            self.plan(merged.items, checked.warnings), checked.invalid, merged.refused, merged.notes
        )

    def plan_conversions(self, conversions: Sequence[Conversion]) -> PlanWindow:
        """Check, merge and plan conversions given in memory, as one window.

        Each conversion's ``line`` is its position, counted from 1.
        """
        return self.plan_window(
            [
                InputRecord(index, conversion, (), conversion.lead_id)
                for index, conversion in enumerate(conversions, 1)
            ]
        )

    def _match(self, lead_id: str) -> MatchReport | BackendError:
        assert self.client is not None
        try:
            return self.client.match(lead_id)
        except UnreachableError:
            # No connection: the CRM cannot be used, which no lead's refusal would say (exit 3).
            raise
        except BackendError as exc:
            return exc


def plan_records(
    backend: Backend,
    records: Iterable[InputRecord],
    settings: Mapping[str, str],
    mode: Mode = Mode.STRICT,
    window: int = WINDOW,
) -> Iterator[PlanWindow]:
    """Check and plan ``records`` window by window; invalid records are returned, not planned."""
    return Pipeline(backend, settings, mode=mode, window=window).windows(records)


def violations_of(refusal: Refusal) -> tuple[Violation, ...]:
    """A refused lead's reason as violations, for commands that report refusals as invalid."""
    result = refusal.result
    rule = "match.failed" if result.outcome is Outcome.FAILED else "match.skipped"
    message = result.merge or (result.error.message if result.error else "refused")
    return (Violation(rule=rule, path="", message=message),)
