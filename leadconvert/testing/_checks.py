"""Property checks a test can call on any backend: the native round trip, and a plan carried out."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import attrs

from .._check import Mode
from .._json import dumps_json
from .._model import Conversion
from .._pipeline import Pipeline
from .._plan_document import plan_document, read_plan
from .._results import ConversionResult, Outcome
from .._translate import relabel_ids
from ..backend import Backend, Client, PlanItem
from ._strategies import _without

__all__ = ["assert_round_trip", "convert_on", "normal_form", "round_trip", "same_id"]


def same_id(backend: Backend, role: str, a: str, b: str) -> bool:
    """Whether two spellings name one record of ``role`` on ``backend``: the backend's
    ``canonical_id`` is the same (Salesforce's 15- and 18-character forms of one id, say)."""
    return a == b or backend.canonical_id(a, role) == backend.canonical_id(b, role)


def normal_form(conversion: Conversion) -> Conversion:
    """``conversion`` without option sets that hold only defaults (they mean nothing)."""
    kept = []
    for item in conversion.options:
        try:
            empty = item == type(item)()
        except TypeError:
            empty = False
        if not empty:
            kept.append(item)
    return attrs.evolve(conversion, options=tuple(kept))


def _native(backend: Backend, conversion: Conversion, settings: Mapping[str, str] | None) -> str:
    plan = backend.plan([PlanItem(conversion, 1)], dict(settings or {}))
    return dumps_json(plan_document(backend, plan))


def _as_written(
    backend: Backend, expected: Conversion, got: Conversion, settings: Mapping[str, str] | None
) -> Conversion:
    """``expected`` with ``got``'s targets where the backend writes both alike on the wire."""
    for name in ("account", "contact", "opportunity"):
        mine, theirs = getattr(expected, name), getattr(got, name)
        if type(mine) is type(theirs):
            continue
        try:
            swapped = attrs.evolve(expected, **{name: theirs})
            alike = _native(backend, expected, settings) == _native(
                backend, relabel_ids(swapped, lambda _r, v: v), settings
            )
        except Exception:  # noqa: S112 - a target the backend cannot write is not alike
            continue
        if alike and getattr(mine, "id", None) is not None:
            expected = attrs.evolve(expected, **{name: attrs.evolve(theirs, id=mine.id)})
    return expected


def _ids(conversion: Conversion) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def note(role: str, value: str) -> str:
        found.append((role, value))
        return value

    relabel_ids(conversion, note)
    return found


def round_trip(
    backend: Backend,
    conversion: Conversion,
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
) -> tuple[Conversion, Conversion]:
    """(expected, got): ``conversion`` planned on ``backend`` and parsed back from the plan.

    ``expected`` is ``conversion`` without what the backend warned it will not do (lenient
    mode's warnings, and meanings the backend ignores); raises ``ValueError`` when the backend
    refuses ``conversion`` in ``mode``.
    """
    window = Pipeline(backend, settings, mode=mode).plan_conversions([conversion])
    if window.invalid:
        violations = list(window.invalid[0].violations)
        raise ValueError(f"{backend.name} refuses the conversion: {violations}")
    # The wire form is what is tested here: the plan as shown, read back as a user's file is.
    shown = dumps_json(plan_document(backend, window.plan))
    parsed = backend.parse_native(read_plan(shown).calls)
    if len(parsed) != 1:
        raise AssertionError(f"{backend.name}: one conversion planned, {len(parsed)} parsed back")
    expected = conversion
    for warning in window.plan.warnings:
        expected = _without(expected, warning.violation.path) or expected
    return expected, parsed[0]


def assert_round_trip(
    backend: Backend,
    conversion: Conversion,
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
    ids_match: Callable[[str, str, str], bool] | None = None,
    normalise: Callable[[Conversion], Conversion] | None = None,
) -> None:
    """Assert neutral -> native -> neutral gives ``conversion`` back.

    Everything must come back equal, except what the backend warned about (see ``round_trip``)
    and the spelling of record ids, compared with ``ids_match(role, sent, parsed)`` (default:
    ``same_id`` on ``backend``).
    Where the backend writes two targets identically (Salesforce sends a person account and a
    business account both as ``accountId``), the one parsed back is taken as meant; ``normalise``
    maps both sides to one form for any further such case.
    """
    expected, got = round_trip(backend, conversion, settings=settings, mode=mode)
    expected, got = normal_form(expected), normal_form(got)
    expected = _as_written(backend, expected, got, settings)
    if normalise is not None:
        expected, got = normalise(expected), normalise(got)
    if ids_match is None:
        ids_match = functools.partial(same_id, backend)
    sent, back = _ids(expected), _ids(got)
    assert [r for r, _ in sent] == [r for r, _ in back], (
        f"{backend.name}: the round trip changed which records are named:\n"
        f"  expected {expected}\n  got      {got}"
    )
    for (role, a), (_, b) in zip(sent, back, strict=True):
        assert ids_match(role, a, b), f"{backend.name}: {role} id {a!r} came back as {b!r}"
    spelled = iter(b for _, b in back)
    aligned = relabel_ids(expected, lambda _role, _value: next(spelled))
    assert aligned == got, (
        f"{backend.name}: neutral -> native -> neutral is not the identity:\n"
        f"  expected {aligned}\n  got      {got}"
    )


def convert_on(
    backend: Backend,
    client: Client,
    conversions: Sequence[Conversion],
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
) -> list[ConversionResult]:
    """Check, plan and carry out ``conversions`` with ``client``; one result per conversion.

    Conversions the backend refuses are not sent: their result is ``NOT_ATTEMPTED``. Follow-up
    calls run after the call they depend on; a lead's result is its last one.
    """
    window = Pipeline(backend, settings, mode=mode).plan_conversions(conversions)
    refused = {record.line - 1 for record in window.invalid if record.line is not None}
    plan = window.plan
    latest: dict[str, ConversionResult] = {}
    converted_by: dict[int, set[str]] = {}
    for index, call in enumerate(plan.calls):
        if call.after is not None and not set(call.lead_ids) & converted_by.get(call.after, set()):
            continue  # as in a run: a follow-up runs when its call converted any of its leads
        results = client.execute(call, call_index=index)
        for result in results:
            latest[result.lead_id] = result
        converted_by[index] = {
            lead
            for lead, result in zip(call.lead_ids, results, strict=False)
            if result.outcome is Outcome.CONVERTED
        }
    out: list[ConversionResult] = []
    for index, conversion in enumerate(conversions):
        if index in refused:
            out.append(ConversionResult(conversion.lead_id, Outcome.NOT_ATTEMPTED))
            continue
        found = latest.get(conversion.lead_id)
        if found is None:
            key = backend.canonical_id(conversion.lead_id)
            found = next(
                (r for lead, r in latest.items() if backend.canonical_id(lead) == key),
                ConversionResult(conversion.lead_id, Outcome.NOT_ATTEMPTED),
            )
        out.append(attrs.evolve(found, lead_id=conversion.lead_id))
    return out
