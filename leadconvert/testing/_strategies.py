"""Hypothesis strategies for neutral conversions: any, valid for a backend, valid for several
backends at once (one meaning, each backend's own ids), and invalid ones with the rules they break.

Nothing here knows a particular CRM: what is valid is asked of the backends themselves
(``leadconvert.check``), so a third-party backend gets the same strategies for free.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from attrs import frozen
from hypothesis import strategies as st

from .._check import Mode, check
from .._exceptions import LeadConvertError
from .._model import (
    AccountTarget,
    AttachOpportunity,
    BackendOptions,
    CarryOverTags,
    ContactTarget,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    NoOpportunity,
    OpportunityTarget,
)
from .._results import Violation
from .._translate import relabel_ids
from ..backend import ID_ROLES, Backend, PlanItem

__all__ = [
    "DIALECTS",
    "InvalidConversion",
    "backend_options",
    "conversions",
    "id_strategies",
    "invalid_conversions",
    "portable_conversions",
    "record_ids",
    "valid_conversions",
    "without_violations",
]

IdStrategies = Mapping[str, st.SearchStrategy[str]]

_ALNUM = string.ascii_letters + string.digits


def _numeric(role: str) -> st.SearchStrategy[str]:
    return st.integers(min_value=10**17, max_value=10**19 - 1).map(str)


def _plain(role: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(_ALNUM, min_size=15, max_size=15), st.text(_ALNUM, min_size=18, max_size=18)
    )


#: Generic record id shapes, by name: long numbers and plain 15/18 letters and digits. They
#: belong to no CRM in particular: a backend's own shapes come from its ``example_id``.
DIALECTS: Mapping[str, Callable[[str], st.SearchStrategy[str]]] = {
    "numeric": _numeric,
    "plain": _plain,
}

#: How many distinct records of each role a strategy draws ids for.
_RECORDS = 10**6


def record_ids(role: str | None = None, backends: Iterable[Backend] = ()) -> st.SearchStrategy[str]:
    """Record ids (for ``role``, one of ``ID_ROLES``, when given) of the generic shapes and of
    the shapes ``backends`` use, asked of their ``example_id``."""
    roles = [role] if role is not None else list(ID_ROLES)
    generic = [DIALECTS[d](r) for d in DIALECTS for r in roles]
    own = [id_strategies(b)[r] for b in backends for r in roles]
    return st.one_of(*generic, *own)


def _spellings(backend: Backend, role: str, record_id: str) -> list[str]:
    """``record_id`` and the other spellings ``backend`` reads as the same record.

    Asked of ``canonical_id``, never assumed: a shorter form or another letter case is kept only
    when the backend says it names the same record (Salesforce's 15-character ids, say).
    """
    key = backend.canonical_id(record_id, role)
    candidates = [record_id[:-k] for k in range(1, min(4, len(record_id)))]
    candidates += [record_id.lower(), record_id.upper()]
    out = [record_id]
    for candidate in candidates:
        if candidate not in out and backend.canonical_id(candidate, role) == key != candidate:
            out.append(candidate)
    return out


def _backend_ids(backend: Backend, role: str) -> st.SearchStrategy[str]:
    def spelt(drawn: tuple[int, int]) -> str:
        n, variant = drawn
        spellings = _spellings(backend, role, backend.example_id(role, n))
        return spellings[variant % len(spellings)]

    # A plain map, not a flatmap: building a strategy per draw costs more than the draw.
    return st.tuples(st.integers(0, _RECORDS - 1), st.integers(0, 7)).map(spelt)


def id_strategies(backend: Backend) -> dict[str, st.SearchStrategy[str]]:
    """Per role, ids of ``backend``'s own syntax: its ``example_id`` for drawn record numbers,
    in every spelling its ``canonical_id`` reads as the same record."""
    return {role: _backend_ids(backend, role) for role in ID_ROLES}


_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40).filter(
    str.strip
)
_amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False
)
#: Field names CRMs give their own meaning (the typed fields of a deal or opportunity), drawn
#: often, so that a field a backend would confuse with a typed one is found.
COMMON_FIELD_NAMES = (
    "Name",
    "StageName",
    "CloseDate",
    "Amount",
    "Description",
    "NextStep",
    "Probability",
    "Deal_Name",
    "Stage",
    "Closing_Date",
    "Pipeline",
    "Contact_Role",
    "Custom__c",
)
_field_names = st.one_of(
    st.sampled_from(COMMON_FIELD_NAMES),
    st.from_regex(r"[A-Z][A-Za-z0-9_]{0,20}", fullmatch=True),
)
_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**9), 10**9), _text)


def _ids(ids: IdStrategies | None, role: str) -> st.SearchStrategy[str]:
    if ids is not None and role in ids:
        return ids[role]
    return record_ids(role)


def _accounts(ids: IdStrategies | None) -> st.SearchStrategy[AccountTarget]:
    return st.one_of(
        st.just(CreateAccount()),
        st.builds(MergeAccount, id=_ids(ids, "account")),
        st.builds(MergePersonAccount, id=_ids(ids, "account")),
    )


def _contacts(ids: IdStrategies | None) -> st.SearchStrategy[ContactTarget]:
    return st.one_of(st.just(CreateContact()), st.builds(MergeContact, id=_ids(ids, "contact")))


def _opportunities(ids: IdStrategies | None) -> st.SearchStrategy[OpportunityTarget]:
    create = st.builds(
        CreateOpportunity,
        name=st.none() | _text,
        stage=st.none() | _text,
        close_date=st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
        pipeline=st.none() | _text,
        amount=st.none() | _amounts,
        contact_role=st.none() | _ids(ids, "contact"),
        fields=st.dictionaries(_field_names, _json_scalars, max_size=3),
    )
    return st.one_of(
        st.just(NoOpportunity()), create, st.builds(AttachOpportunity, id=_ids(ids, "opportunity"))
    )


def _tag_selections() -> st.SearchStrategy[tuple[str, ...] | str]:
    names = st.lists(_text, min_size=1, max_size=3, unique=True).map(tuple)
    return st.one_of(st.just(()), names, st.just("all"))


def backend_options(
    option_types: Mapping[str, type[BackendOptions]],
) -> st.SearchStrategy[tuple[BackendOptions, ...]]:
    """Tuples of option sets for some of ``option_types`` (at most one per backend)."""
    if not option_types:
        return st.just(())
    per_backend = [st.builds(option_type) for option_type in option_types.values()]
    return st.lists(st.sampled_from(range(len(per_backend))), unique=True, max_size=2).flatmap(
        lambda picks: st.tuples(*(per_backend[i] for i in sorted(picks)))
    )


def conversions(
    option_types: Mapping[str, type[BackendOptions]] | None = None,
    *,
    ids: IdStrategies | None = None,
    **overrides: st.SearchStrategy[Any],
) -> st.SearchStrategy[Conversion]:
    """Any neutral conversion (valid for the model, not necessarily for any backend).

    ``ids`` gives the strategy of record ids per role (``lead``, ``account``, ``contact``,
    ``opportunity``, ``user``); ``overrides`` fix the strategy of chosen fields.
    """
    fields: dict[str, st.SearchStrategy[Any]] = {
        "lead_id": _ids(ids, "lead"),
        "account": _accounts(ids),
        "contact": _contacts(ids),
        "opportunity": _opportunities(ids),
        "owner_id": st.none() | _ids(ids, "user"),
        "notify_lead_owner": st.booleans(),
        "notify_new_owner": st.booleans(),
        "overwrite_account_name": st.booleans(),
        "overwrite_lead_source": st.booleans(),
        "converted_status": st.none() | _text,
        "move_attachments_to": st.none() | st.sampled_from(Module),
        "carry_over_tags": st.builds(
            CarryOverTags,
            contacts=_tag_selections(),
            accounts=_tag_selections(),
            deals=_tag_selections(),
        ),
        "options": backend_options(option_types or {}),
    }
    unknown = set(overrides) - {f.name for f in attrs.fields(Conversion)}
    if unknown:
        raise TypeError(f"Conversion has no field(s) {sorted(unknown)}")
    fields.update(overrides)
    return st.builds(Conversion, **fields)


# --- repair: the nearest conversion a backend accepts ----------------------------------------


class _CannotReset(Exception):
    pass


def _default(field: attrs.Attribute[Any]) -> Any:
    if field.default is attrs.NOTHING:
        raise _CannotReset
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()
    return default


def _reset(obj: Any, segments: Sequence[str]) -> Any:
    """``obj`` with the value at ``segments`` back to its default (or removed from a mapping)."""
    head, rest = segments[0], segments[1:]
    if isinstance(obj, tuple) and all(isinstance(o, BackendOptions) for o in obj):
        if not any(o.backend == head for o in obj):
            raise _CannotReset
        if not rest:
            return tuple(o for o in obj if o.backend != head)
        return tuple(_reset(o, rest) if o.backend == head else o for o in obj)
    if isinstance(obj, Mapping):
        if rest or head not in obj:
            raise _CannotReset
        return {k: v for k, v in obj.items() if k != head}
    if not attrs.has(type(obj)):
        raise _CannotReset
    field = attrs.fields_dict(type(obj)).get(head)
    if field is None:
        raise _CannotReset
    value = _default(field) if not rest else _reset(getattr(obj, head), rest)
    return attrs.evolve(obj, **{field.alias or head: value})


def _without(conversion: Conversion, path: str) -> Conversion | None:
    """``conversion`` without what ``path`` names, climbing to its parents if need be."""
    segments = [s for s in path.split(".") if s]
    for end in range(len(segments), 0, -1):
        try:
            fixed = _reset(conversion, segments[:end])
        except (_CannotReset, ValueError, TypeError):
            continue
        if fixed != conversion:
            return fixed  # type: ignore[no-any-return]
    return None


_TOP_FIELDS = [f.name for f in attrs.fields(Conversion) if f.name != "lead_id"]


def _repair(
    conversion: Conversion, errors: Callable[[Conversion], Sequence[Violation]], rounds: int = 12
) -> Conversion | None:
    current = conversion
    for _ in range(rounds):
        found = errors(current)
        if not found:
            return current
        fixed: Conversion | None = None
        for v in found:
            fixed = _without(current, v.path)
            if fixed is not None:
                break
        if fixed is None:
            # Nothing the violations name can be taken back: take back whole features, in
            # order, keeping the first that leaves fewer violations.
            for name in _TOP_FIELDS:
                candidate = _without(current, name)
                if candidate is not None and len(errors(candidate)) < len(found):
                    fixed = candidate
                    break
        if fixed is None:
            return None
        current = fixed
    return None if errors(current) else current


def _errors(
    backend: Backend,
    conversion: Conversion,
    mode: Mode,
    settings: Mapping[str, str] | None,
) -> list[Violation]:
    """What stops ``conversion`` on ``backend``: its violations in ``mode`` and, when
    ``settings`` are given, a refusal of ``plan`` with them (a setting the conversion needs)."""
    found = list(check(backend, conversion, mode).errors)
    if found or settings is None:
        return found
    try:
        backend.plan([PlanItem(conversion)], settings)
    except LeadConvertError as exc:
        # No path: the repair then takes back whole features until the plan goes through.
        found.append(Violation("plan.refused", "", str(exc), backend.name))
    return found


def without_violations(
    backends: Backend | Iterable[Backend],
    conversion: Conversion,
    mode: Mode = Mode.STRICT,
    *,
    settings: Mapping[str, Mapping[str, str]] | None = None,
) -> Conversion | None:
    """The nearest conversion every one of ``backends`` accepts in ``mode``, or ``None``.

    Each violation's path is taken back to its default (a merge target back to "create", a
    flag back to false, an option set removed...), until nothing is violated. With
    ``settings`` (backend name -> its settings), the conversion must also plan with them on
    each backend. ``None`` when that cannot be done (e.g. a lead id the backend cannot read).
    """
    group = [backends] if isinstance(backends, Backend) else list(backends)
    given = settings or {}
    return _repair(
        conversion,
        lambda c: [
            v
            for b in group
            for v in _errors(b, c, mode, given.get(b.name, {}) if settings is not None else None)
        ],
    )


def _option_types(backends: Iterable[Backend]) -> dict[str, type[BackendOptions]]:
    return {b.name: b.options_type for b in backends if b.options_type is not None}


def valid_conversions(
    backend: Backend,
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
    ids: IdStrategies | None = None,
    **overrides: st.SearchStrategy[Any],
) -> st.SearchStrategy[Conversion]:
    """Conversions ``backend`` accepts in ``mode`` and plans with ``settings`` (default: none).

    Ids are of the backend's own syntax (``id_strategies``) unless ``ids`` says otherwise;
    ``overrides`` fix chosen fields, as for ``conversions``. Fields the backend rejects, or
    cannot plan with these settings (Zoho's "all" tags without the module's id, say), are drawn
    and then taken back to their default, so every field still varies where the backend allows
    it and every conversion drawn plans: nothing is left to luck.
    """
    return _valid(backend, settings, mode, ids, overrides)


def _valid(
    backend: Backend,
    settings: Mapping[str, str] | None,
    mode: Mode,
    ids: IdStrategies | None,
    overrides: Mapping[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[Conversion]:
    chosen = {**id_strategies(backend), **(ids or {})}
    base = conversions(_option_types([backend]), ids=chosen, **overrides)
    given = {backend.name: dict(settings or {})}
    return base.map(lambda c: without_violations(backend, c, mode, settings=given)).filter(  # type: ignore[return-value]
        lambda c: c is not None
    )


def _symbol(role: str, number: int) -> str:
    return f"{role}-{number}"


@st.composite
def _portable(
    draw: st.DrawFn,
    backends: Sequence[Backend],
    mode: Mode,
    records: Mapping[str, st.SearchStrategy[Mapping[str, str]]],
    settings: Mapping[str, Mapping[str, str]],
    overrides: Mapping[str, st.SearchStrategy[Any]],
) -> dict[str, Conversion]:
    symbols = {role: st.integers(0, 9).map(functools.partial(_symbol, role)) for role in ID_ROLES}
    shape = draw(conversions(_option_types(backends), ids=symbols, **overrides))
    named: dict[tuple[str, str], Mapping[str, str]] = {}

    def consistent(record: Mapping[str, str]) -> bool:
        # Two records may share an id in one backend only if they are one record in all.
        for other in named.values():
            same = [record[b.name] == other[b.name] for b in backends]
            if any(same) and not all(same):
                return False
        return True

    def collect(role: str, value: str) -> str:
        if (role, value) not in named:
            named[(role, value)] = draw(records[role].filter(consistent))
        return value

    relabel_ids(shape, collect)

    def expressed(c: Conversion, backend: Backend) -> Conversion:
        return relabel_ids(c, lambda role, value: named[(role, value)][backend.name])

    fixed = _repair(
        shape,
        lambda c: [
            v for b in backends for v in _errors(b, expressed(c, b), mode, settings.get(b.name, {}))
        ],
    )
    if fixed is None:
        from hypothesis import reject

        reject()
    return {b.name: expressed(fixed, b) for b in backends}


def portable_conversions(
    backends: Iterable[Backend],
    *,
    mode: Mode = Mode.STRICT,
    records: Mapping[str, st.SearchStrategy[Mapping[str, str]]] | None = None,
    settings: Mapping[str, Mapping[str, str]] | None = None,
    **overrides: st.SearchStrategy[Any],
) -> st.SearchStrategy[dict[str, Conversion]]:
    """One meaning valid on every one of ``backends``: backend name -> its conversion.

    Record ids are CRM-specific, so each backend gets the same conversion with its own ids.
    ``records`` gives, per role, a strategy of *records*: backend name -> the record's id in that
    backend (say, the same seeded account in two emulators); each record the conversion names is
    drawn from it, so every backend's conversion names its own copy of the same records. By
    default each record gets an id of each backend's own syntax. ``settings`` (backend name ->
    its settings; default none) are what each backend must be able to plan the conversion with.
    """
    group = sorted(backends, key=lambda b: b.name)
    per_backend = {b.name: id_strategies(b) for b in group}
    chosen: dict[str, st.SearchStrategy[Mapping[str, str]]] = {
        role: st.fixed_dictionaries({b.name: per_backend[b.name][role] for b in group})
        for role in ID_ROLES
    }
    chosen.update(records or {})
    return _portable(group, mode, chosen, settings or {}, overrides)


@frozen
class InvalidConversion:
    """A conversion a backend refuses, with every violation it reports."""

    conversion: Conversion
    violations: tuple[Violation, ...]

    @property
    def rules(self) -> frozenset[str]:
        """The rules broken."""
        return frozenset(v.rule for v in self.violations)


#: One or two fields of a conversion, to replace (built once, not per draw).
_FIELD_PICKS = st.lists(
    st.sampled_from([f.name for f in attrs.fields(Conversion)]), min_size=1, max_size=2, unique=True
)


@st.composite
def _invalid(
    draw: st.DrawFn,
    backend: Backend,
    mode: Mode,
    valid: st.SearchStrategy[Conversion],
    anything: st.SearchStrategy[Conversion],
) -> InvalidConversion:
    base = draw(valid)
    other = draw(anything)
    names = draw(_FIELD_PICKS)
    broken = attrs.evolve(base, **{name: getattr(other, name) for name in names})
    errors = check(backend, broken, mode).errors
    if not errors:
        from hypothesis import reject

        reject()
    return InvalidConversion(broken, errors)


def invalid_conversions(
    backend: Backend,
    *,
    mode: Mode = Mode.STRICT,
    ids: IdStrategies | None = None,
    **overrides: st.SearchStrategy[Any],
) -> st.SearchStrategy[InvalidConversion]:
    """Conversions ``backend`` refuses in ``mode``, paired with the violations it reports.

    Each is a valid conversion with one or two fields replaced by arbitrary values, so most
    break exactly one rule.
    """
    anything = conversions(_option_types([backend]), ids=None, **overrides)
    valid = _valid(backend, None, mode, ids, overrides)
    return _invalid(backend, mode, valid, anything)
