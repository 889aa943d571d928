"""The four properties as plain functions (so a test can also show them failing), and the worlds
the emulators are seeded with, as hypothesis strategies."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
from hypothesis import strategies as st
from leadconvert_salesforce import _plan as sf_plan
from leadconvert_salesforce._ids import IdError, canonical_id, to_18

from leadconvert import (
    AttachOpportunity,
    Conversion,
    ConversionResult,
    CreateAccount,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Mode,
    NoOpportunity,
    Outcome,
    dumps_json,
    plan_document,
    read_plan,
)
from leadconvert._translate import relabel_ids, translate
from leadconvert.backend import Backend, Client, PlanItem
from leadconvert.testing import assert_round_trip, normal_form, same_id
from leadconvert.testing._strategies import _without

REFERENCE = Path("/work/shared/reference")

# --- the seeded worlds ---------------------------------------------------------------------------

#: The Dynamics emulator's org for the properties: the shared records below, with GUIDs (the
#: plugin's own seed has other records).
DYNAMICS_SEED = Path(__file__).with_name("dynamics_seed.json")


def _guid(kind: int, n: int) -> str:
    return f"0000000{kind}-0000-4000-8000-00000000{n:04x}"


#: Records seeded in every emulator, by meaning: role -> symbol -> backend -> id.
SHARED: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "account": {
        "zylker": {
            "zoho": "4876876000007421010",
            "salesforce": to_18("001000000000001"),
            "dynamics": _guid(2, 0xA001),
        },
        "other": {
            "zoho": "4876876000007421020",
            "salesforce": to_18("001000000000002"),
            "dynamics": _guid(2, 0xA002),
        },
    },
    # Pat Boyle belongs to Zylker in all three.
    "contact": {
        "pat": {
            "zoho": "4876876000007421001",
            "salesforce": to_18("003000000000001"),
            "dynamics": _guid(3, 0xC001),
        }
    },
    "user": {
        "first": {
            "zoho": "4876876000000225013",
            "salesforce": to_18("005000000000001"),
            "dynamics": _guid(5, 0xE001),
        },
        "second": {
            "zoho": "4876876000000225015",
            "salesforce": to_18("005000000000002"),
            "dynamics": _guid(5, 0xE002),
        },
    },
}
#: Records only one CRM has: a Zoho contact with no account; Salesforce's person account, its
#: contact, and an opportunity to attach; a Dynamics contact with no account.
ZOHO_ONLY = {"contact": ["4876876000007437017"]}
SF_ONLY = {
    "account": [to_18("001000000000003")],
    "contact": [to_18("003000000000002")],
    "opportunity": [to_18("006000000000001")],
}
DYNAMICS_ONLY = {"contact": [_guid(3, 0xC002)]}
ONLY: Mapping[str, Mapping[str, list[str]]] = {
    "zoho": ZOHO_ONLY,
    "salesforce": SF_ONLY,
    "dynamics": DYNAMICS_ONLY,
}
#: Stages both seeds share (Zoho: in the "Standard (Standard)" pipeline).
ZOHO_PIPELINE = "Standard (Standard)"
COMMON_STAGES = ("Qualification", "Negotiation/Review", "Closed Won", "Closed Lost")
SF_STAGES = ("Prospecting", *COMMON_STAGES)
SF_CONVERTED_STATUS = "Closed - Converted"
#: Qualified lead statuses of the Dynamics seed, by number and by name ("Closed - Converted" is a
#: custom one, so that one status name means the same on Salesforce and Dynamics).
DYNAMICS_STATUSES = (
    "3",
    "Qualified",
    "100000001",
    "Qualified by Partner",
    "100000002",
    SF_CONVERTED_STATUS,
)
#: Opportunity fields both emulators store.
SAFE_FIELDS = st.dictionaries(
    st.sampled_from(["Description", "NextStep"]), st.text("abc xyz", min_size=1, max_size=8)
)
_names = st.text(st.characters(codec="utf-8", categories=["L", "N", "Zs"]), min_size=1, max_size=30)
_names = _names.filter(str.strip)
_dates = st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31))
_amounts = st.none() | st.decimals(Decimal("0"), Decimal("1e9"), places=2)

#: Opportunity attributes the Dynamics emulator stores (logical names).
DYNAMICS_FIELDS = st.dictionaries(
    st.sampled_from(["description", "currentsituation"]),
    st.text("abc xyz", min_size=1, max_size=8),
)

#: A lead id of the backend's shape that no seed holds: replaced by a fresh lead when sent.
PLACEHOLDER_LEAD = {
    "zoho": "1",
    "salesforce": to_18("00Q0000000ZZZZZ"),
    "dynamics": _guid(1, 0xFFFF),
}


def world_ids(backend: str) -> dict[str, st.SearchStrategy[str]]:
    """Per role, the ids of records seeded in ``backend``'s emulator."""
    out: dict[str, st.SearchStrategy[str]] = {"lead": st.just(PLACEHOLDER_LEAD[backend])}
    extra = ONLY[backend]
    for role in ("account", "contact", "user", "opportunity"):
        ids = [r[backend] for r in SHARED.get(role, {}).values()] + list(extra.get(role, []))
        out[role] = st.sampled_from(ids) if ids else st.just(PLACEHOLDER_LEAD[backend])
    return out


def world_opportunities(backend: str) -> st.SearchStrategy[Any]:
    """Opportunities the backend's emulator can create (valid pipeline and stage)."""
    if backend == "zoho":
        create = st.builds(
            CreateOpportunity,
            name=_names,
            stage=st.none() | st.sampled_from(COMMON_STAGES),
            close_date=st.none() | _dates,
            pipeline=st.none() | st.just(ZOHO_PIPELINE),
            amount=_amounts,
            fields=SAFE_FIELDS,
        )
        attach = st.builds(AttachOpportunity, id=st.just("4876876000000000001"))
    elif backend == "dynamics":
        # No pipeline (Dynamics has none) and no opportunity to attach (QualifyLead cannot).
        create = st.builds(
            CreateOpportunity,
            name=_names,
            stage=st.none() | st.sampled_from(SF_STAGES),
            close_date=st.none() | _dates,
            amount=_amounts,
            fields=DYNAMICS_FIELDS,
        )
        return st.one_of(st.just(NoOpportunity()), create)
    else:
        create = st.builds(
            CreateOpportunity,
            name=_names,
            stage=st.none() | st.sampled_from(SF_STAGES),
            close_date=st.none() | _dates,
            amount=_amounts,
            fields=SAFE_FIELDS,
        )
        attach = st.builds(AttachOpportunity, id=st.sampled_from(SF_ONLY["opportunity"]))
    return st.one_of(st.just(NoOpportunity()), create, attach)


def world_overrides(backend: str) -> dict[str, st.SearchStrategy[Any]]:
    """Field strategies that keep a conversion inside the emulator's seeded world."""
    out: dict[str, st.SearchStrategy[Any]] = {"opportunity": world_opportunities(backend)}
    if backend == "salesforce":
        out["converted_status"] = st.none() | st.just(SF_CONVERTED_STATUS)
    elif backend == "dynamics":
        out["converted_status"] = st.none() | st.sampled_from(DYNAMICS_STATUSES)
    else:
        out["options"] = st.just(())
    return out


CONTACT_ACCOUNT = {
    "4876876000007421001": "4876876000007421010",
    to_18("003000000000001"): to_18("001000000000001"),
    to_18("003000000000002"): to_18("001000000000002"),
    _guid(3, 0xC001): _guid(2, 0xA001),
}


def grounded(conversion: Conversion) -> Conversion:
    """A merge into a seeded contact names the account that contact belongs to (as the CRMs
    demand and neither backend can check before sending)."""
    contact = conversion.contact
    if not isinstance(contact, MergeContact):
        return conversion
    account = CONTACT_ACCOUNT.get(contact.id)
    if account is None:  # Zoho's contact without an account: no account may be named
        if isinstance(conversion.account, MergeAccount):
            return attrs.evolve(conversion, account=CreateAccount())
        return conversion
    if isinstance(conversion.account, MergeAccount | MergePersonAccount):
        return attrs.evolve(conversion, account=MergeAccount(account))
    return conversion


def person_grounded(conversion: Conversion) -> Conversion:
    """A person-account merge names the seeded person account (whether an account is a person
    account is the org's data, which validation cannot see)."""
    if isinstance(conversion.account, MergePersonAccount):
        person = SF_ONLY["account"][0]
        if _tolerant_canonical(conversion.account.id) != person and is_sf_account(
            conversion.account.id
        ):
            return attrs.evolve(conversion, account=MergePersonAccount(person))
    return conversion


def is_sf_account(value: str) -> bool:
    try:
        canonical_id(value, "Account")
    except IdError:
        return False
    return True


def sf_normalise(conversion: Conversion) -> Conversion:
    """Salesforce sends a person account and a business account both as ``accountId``."""
    if isinstance(conversion.account, MergePersonAccount):
        return attrs.evolve(conversion, account=MergeAccount(conversion.account.id))
    return conversion


NORMALISE: Mapping[str, Callable[[Conversion], Conversion]] = {
    "salesforce": sf_normalise,
    "zoho": lambda c: c,
    "dynamics": lambda c: c,
}

# --- property 1: round trip --------------------------------------------------------------------


def _documented_zoho_keys() -> tuple[set[str], set[str]]:
    convert = json.loads((REFERENCE / "zoho-oas-v8" / "convert_lead.json").read_text())
    mass = json.loads((REFERENCE / "zoho-oas-v8" / "mass_convert.json").read_text())
    single = set(convert["components"]["schemas"]["Lead_Converter"]["properties"])
    bulk = set(mass["components"]["schemas"]["Body_Wrapper"]["properties"])
    return single, bulk


ZOHO_SINGLE_KEYS, ZOHO_MASS_KEYS = _documented_zoho_keys()


def assert_documented_keys(
    backend: Backend, conversion: Conversion, settings: Mapping[str, str], mode: Mode
) -> None:
    """Every key a Zoho body carries is one Zoho's v8 OpenAPI files document."""
    if backend.name != "zoho":
        return
    plan = backend.plan([PlanItem(conversion, 1)], settings)
    for call in plan.calls:
        body = call.request.json
        keys = set(body["data"][0]) if call.kind == "convert" else set(body)
        allowed = ZOHO_SINGLE_KEYS if call.kind == "convert" else ZOHO_MASS_KEYS
        assert keys <= allowed, f"zoho {call.kind} sends undocumented keys {keys - allowed}"


def check_round_trip(
    backend: Backend, conversion: Conversion, settings: Mapping[str, str], mode: Mode
) -> None:
    """Property 1: neutral -> native -> neutral is the identity, and the native is documented."""
    assert_round_trip(
        backend, conversion, settings=settings, mode=mode, normalise=NORMALISE[backend.name]
    )
    assert_documented_keys(backend, conversion, settings, mode)


# --- property 2: differential ------------------------------------------------------------------

#: Each rule a backend checks before sending, and the codes its CRM answers when the request is
#: sent anyway. ``None``: the rule has no request that could carry it (the CRM cannot express it,
#: or it keeps the neutral form unambiguous); such conversions are checked in lenient mode instead.
CRM_CODES: Mapping[str, Mapping[str, frozenset[str] | None]] = {
    "zoho": {
        "zoho.id.syntax": frozenset({"INVALID_DATA"}),
        "zoho.deal.close_date_required": frozenset({"MANDATORY_NOT_FOUND"}),
        "zoho.deal.stage_required": frozenset({"MANDATORY_NOT_FOUND"}),
        "zoho.deal.pipeline_required": frozenset({"MANDATORY_NOT_FOUND"}),
        "zoho.deal.field_conflict": None,
        # A deal without Deal_Name is a meaning Zoho lacks (unsupported): no request carries it.
        "zoho.deal.name_required": None,
        "zoho.add_to_existing_record.needs_target": None,
        "zoho.mass_convert.owner_required": None,
        "zoho.mass_convert.conflict": None,
        "zoho.account.person_account": None,
        "zoho.opportunity.attach": None,
        "zoho.contact.overwrite_lead_source": None,
        "options.other_backend": None,
    },
    "salesforce": {
        "salesforce.id.malformed": frozenset({"MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"}),
        "salesforce.id.wrong_object": frozenset({"INVALID_CROSS_REFERENCE_KEY"}),
        # Salesforce reads the id through its suffix: another (unknown) record, or malformed.
        "salesforce.id.case_suffix": frozenset({"MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"}),
        "salesforce.contact.needs_account": frozenset({"REQUIRED_FIELD_MISSING"}),
        "salesforce.person_account.no_contact": frozenset(
            {"FIELD_INTEGRITY_EXCEPTION", "INVALID_CROSS_REFERENCE_KEY"}
        ),
        "salesforce.opportunity.name_too_long": frozenset({"STRING_TOO_LONG"}),
        "salesforce.owner.must_be_user": frozenset({"INVALID_CROSS_REFERENCE_KEY"}),
        "salesforce.overwrite_lead_source.needs_contact": frozenset({"FIELD_INTEGRITY_EXCEPTION"}),
        "salesforce.xml.invalid_character": None,
        "salesforce.opportunity.field_name": None,
        "salesforce.opportunity.field_conflict": None,
        "salesforce.opportunity.field_value": None,
        "salesforce.converted_status.reserved": None,
        "salesforce.opportunity.pipeline": None,
        "salesforce.opportunity.contact_role": None,
        "salesforce.notify_lead_owner": None,
        "salesforce.overwrite_account_name": None,
        "salesforce.move_attachments_to": None,
        "salesforce.carry_over_tags": None,
        "options.other_backend": None,
    },
    "dynamics": {
        # A malformed GUID: in the URL or a bind (0x80060888), or read as no such record.
        "dynamics.id_syntax": frozenset({"0x80060888", "0x80040217"}),
        # A number goes to Dataverse; a name is looked up among the org's Qualified statuses
        # first, and the client refuses one that is not there (no CRM code: the neutral one).
        "dynamics.status_not_qualified": frozenset({"0x80040203", "neutral:invalid_status"}),
        # An attribute that is no logical name: the Web API's "invalid property".
        "dynamics.opportunity_field_name": frozenset({"0x80060888"}),
        # A typed neutral field spelt as a field: kept out so the neutral form stays unambiguous.
        "dynamics.opportunity_field": None,
        # No request can carry these: the neutral model always gives the opportunity a customer
        # here, and the rest are meanings QualifyLead lacks.
        "dynamics.opportunity_customer": None,
        "dynamics.person_account": None,
        "dynamics.pipeline": None,
        "dynamics.contact_role": None,
        "dynamics.opportunity_attach": None,
        "dynamics.notify_lead_owner": None,
        "dynamics.notify_new_owner": None,
        "dynamics.overwrite_account_name": None,
        "dynamics.overwrite_lead_source": None,
        "dynamics.move_attachments_to": None,
        "dynamics.carry_over_tags": None,
        "options.other_backend": None,
    },
}


def _tolerant_canonical(value: str, *objects: str) -> str:
    try:
        return canonical_id(value, *objects)
    except IdError:
        try:
            return canonical_id(value)
        except IdError:
            return value


@contextlib.contextmanager
def sending_anyway(backend: Backend) -> Iterator[None]:
    """Let ``plan`` write a conversion validation refuses (Salesforce canonicalises ids while
    writing; a malformed or foreign id is sent as given)."""
    if backend.name == "salesforce":
        with mock.patch.object(sf_plan, "canonical_id", _tolerant_canonical):
            yield
    else:
        yield


def with_lead(conversion: Conversion, backend: Backend, fresh: Callable[[], str]) -> Conversion:
    """The conversion for a fresh lead, unless it names a lead on purpose."""
    if conversion.lead_id == PLACEHOLDER_LEAD[backend.name]:
        return attrs.evolve(conversion, lead_id=fresh())
    return conversion


def run(
    backend: Backend,
    client: Client,
    conversion: Conversion,
    settings: Mapping[str, str],
    mode: Mode = Mode.STRICT,
) -> ConversionResult:
    """Plan ``conversion`` (valid or not) and carry it out; the lead's last result."""
    from leadconvert._pipeline import check

    if mode is Mode.LENIENT:
        assert not check(backend, conversion, mode).errors
    with sending_anyway(backend):
        plan = backend.plan([PlanItem(conversion, 1)], settings)
    last: ConversionResult | None = None
    for index, call in enumerate(plan.calls):
        if call.after is not None and (last is None or last.outcome is not Outcome.CONVERTED):
            continue  # a follow-up runs only for a lead its call converted
        for result in client.execute(call, call_index=index):
            last = result
    assert last is not None
    return last


def check_accepted(
    backend: Backend,
    client: Client,
    conversion: Conversion,
    settings: Mapping[str, str],
    mode: Mode,
) -> ConversionResult:
    """Property 2, accepted side: the emulator converts it, into the records it names."""
    from leadconvert._pipeline import check

    result = run(backend, client, conversion, settings, mode)
    assert result.outcome is Outcome.CONVERTED, (
        f"{backend.name} accepts {conversion} but its emulator answered {result}"
    )
    assert all(step.succeeded for step in result.follow_ups), result.follow_ups
    # In lenient mode what was warned about is not sent: judge by the rest.
    for warning in check(backend, conversion, mode).warnings:
        conversion = _without(conversion, warning.path) or conversion
    account = conversion.account
    if isinstance(account, MergeAccount | MergePersonAccount):
        assert same_id(backend, "account", account.id, result.account_id or ""), (account, result)
    if isinstance(conversion.contact, MergeContact):
        assert same_id(backend, "contact", conversion.contact.id, result.contact_id or ""), result
    opportunity = conversion.opportunity
    if isinstance(opportunity, NoOpportunity):
        assert result.opportunity_id is None, result
    elif isinstance(opportunity, CreateOpportunity):
        assert result.opportunity_id is not None, result
    return result


#: What each CRM answers for a record it does not hold.
UNKNOWN_RECORD = {
    "zoho": frozenset({"INVALID_DATA"}),
    "salesforce": frozenset({"INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"}),
    # The client reads a merged contact's account before sending, and refuses the pair
    # ("contact_check") when the account named is not the contact's.
    "dynamics": frozenset({"0x80040217", "contact_check"}),
}


def _names_unseeded_record(backend: str, conversion: Conversion) -> bool:
    seeded = {r[backend] for records in SHARED.values() for r in records.values()}
    seeded.update(v for values in ONLY[backend].values() for v in values)
    found: list[tuple[str, str]] = []
    relabel_ids(conversion, lambda role, v: found.append((role, v)) or v)  # type: ignore[func-returns-value]
    for role, value in found:
        if role == "lead":
            continue
        key = value
        if backend == "salesforce":
            key = _tolerant_canonical(value)
        if key not in seeded:
            return True
    return False


def check_rejected(
    backend: Backend,
    client: Client,
    conversion: Conversion,
    rules: frozenset[str],
    settings: Mapping[str, str],
    fresh_lead: bool = True,
) -> ConversionResult:
    """Property 2, rejected side: the emulator refuses it with a code of a rule it breaks."""
    codes = frozenset().union(*(CRM_CODES[backend.name][r] or () for r in rules))
    if not fresh_lead or _names_unseeded_record(backend.name, conversion):
        # The CRM may name the missing record first; validation cannot know it is missing.
        codes |= UNKNOWN_RECORD[backend.name]
    from leadconvert._pipeline import check

    result = run(backend, client, conversion, settings)
    error = result.error
    paths = [v.path for v in check(backend, conversion).errors]
    late = FOLLOW_UP_PATHS.get(backend.name, ())
    if (
        result.outcome is Outcome.CONVERTED
        and paths
        and all(any(p == f or p.startswith(f"{f}.") for f in late) for p in paths)
    ):
        # Sent after the conversion (Dynamics assigns the owner and sets the opportunity's
        # fields in follow-ups): the follow-up is what the CRM refuses.
        if not result.follow_ups and _owner_goes_nowhere(backend, conversion, paths, settings):
            return result
        failed = [step for step in result.follow_ups if not step.succeeded]
        assert failed, f"{backend.name} refuses {conversion} ({sorted(rules)}); {result}"
        error = failed[0].error
    else:
        assert result.outcome is Outcome.FAILED, (
            f"{backend.name} refuses {conversion} ({sorted(rules)}) but its emulator answered "
            f"{result}"
        )
    code = None if error is None else error.backend_code or f"neutral:{error.code.value}"
    assert code in codes, (
        f"{backend.name}: {sorted(rules)} expects {sorted(codes)}, the emulator said {error}"
    )
    return result


def _owner_goes_nowhere(
    backend: Backend, conversion: Conversion, paths: list[str], settings: Mapping[str, str]
) -> bool:
    """The owner owns the records a conversion creates: with every record merged and no
    opportunity, no request carries the (malformed) owner, so the CRM has nothing to refuse."""
    if set(paths) != {"owner_id"} or conversion.owner_id is None:
        return False
    if not isinstance(conversion.account, MergeAccount | MergePersonAccount):
        return False
    if not isinstance(conversion.contact, MergeContact):
        return False
    if not isinstance(conversion.opportunity, NoOpportunity):
        return False
    with sending_anyway(backend):
        plan = backend.plan([PlanItem(conversion, 1)], settings)
    for call in plan.calls:
        sent = backend.render(call.request).to_dict()
        assert conversion.owner_id not in json.dumps(sent, default=str), sent
    return True


#: Parts of a conversion a backend sends in a follow-up after the conversion itself.
FOLLOW_UP_PATHS: Mapping[str, tuple[str, ...]] = {"dynamics": ("owner_id", "opportunity")}


# --- property 3: cross-backend -----------------------------------------------------------------


def reverse_world() -> dict[str, tuple[str, str]]:
    """Backend id (18-character for Salesforce) -> (role, symbol) of the shared records."""
    out: dict[str, tuple[str, str]] = {}
    for role, records in SHARED.items():
        for symbol, ids in records.items():
            for value in ids.values():
                out[value] = (role, symbol)
    return out


_REVERSE = reverse_world()


def outcome_summary(result: ConversionResult) -> dict[str, Any]:
    """A result in CRM-neutral terms: outcome, neutral error, and for each record whether it is
    a seeded record (by meaning), a new one, or none."""

    def record(value: str | None) -> str | None:
        if value is None:
            return None
        key = value
        with contextlib.suppress(IdError):
            key = canonical_id(value) if len(value) in (15, 18) and not value.isdigit() else value
        found = _REVERSE.get(key)
        return f"{found[0]}:{found[1]}" if found else "new"

    return {
        "outcome": result.outcome.value,
        "error": result.error.code.value if result.error else None,
        "account": record(result.account_id),
        "contact": record(result.contact_id),
        "opportunity": record(result.opportunity_id),
        "follow_ups": [s.succeeded for s in result.follow_ups],
    }


def check_cross_backend(
    pair: Mapping[str, Conversion],
    runners: Mapping[str, Callable[[Conversion], ConversionResult]],
) -> dict[str, dict[str, Any]]:
    """Property 3: one meaning ends in one neutral outcome on every backend."""
    summaries = {name: outcome_summary(runners[name](c)) for name, c in pair.items()}
    first, *others = summaries.values()
    for summary in summaries.values():
        # Salesforce reports its opportunity follow-up; Zoho sends the same fields at once.
        summary.pop("follow_ups")
    for other in others:
        assert other == first, f"the backends disagree: {summaries} for {dict(pair)}"
    return summaries


# --- property 4: translate round trip ----------------------------------------------------------


def check_translate_round_trip(
    source: Backend,
    target: Backend,
    conversion: Conversion,
    id_map: Mapping[str, str],
    mode: Mode,
    settings: Mapping[str, Mapping[str, str]],
) -> Conversion:
    """Property 4: source -> target -> source keeps every meaning the target can express."""
    native = _payload(source, conversion, settings[source.name])
    there = translate(
        native, source, target, mode=mode, settings=settings[target.name], id_map=id_map
    )
    from leadconvert._pipeline import check

    # What the source itself leaves out (lenient warnings, ignored meanings) never leaves it.
    own = [
        *check(source, conversion, mode).warnings,
        *(
            w.violation
            for w in source.plan([PlanItem(conversion, 1)], settings[source.name]).warnings
        ),
    ]
    if there.rejected:
        # ...and may be what the target needs (Zoho requires the pipeline Salesforce drops).
        _assert_caused_by(there.rejected, [v.path for v in own], target.name)
        return conversion
    back = translate(
        there.payload(),
        target,
        source,
        mode=mode,
        settings=settings[source.name],
        id_map=_inverse(id_map, target),
    )
    if back.rejected:
        # Lenient: what the target left out may be what the source needs.
        dropped = [v.path for v in own] + [w.violation.path for w in there.warnings]
        _assert_caused_by(back.rejected, dropped, source.name)
        return conversion
    (parsed,) = source.parse_native(read_plan(back.payload()).calls)
    expected = conversion
    for warning in (*there.warnings, *back.warnings):
        expected = _without(expected, warning.violation.path) or expected
    for violation in own:
        expected = _without(expected, violation.path) or expected
    normalise = NORMALISE[source.name]
    want = normalise(normal_form(expected))
    got = normalise(normal_form(parsed))
    spelled = dict(zip(_ids(want), _ids(got), strict=True))
    for a, b in spelled.items():
        assert same_id(source, "", a, b), f"id {a} came back as {b}"
    aligned = relabel_ids(want, lambda _r, v: spelled.get(v, v))
    assert aligned == got, (
        f"{source.name} -> {target.name} -> {source.name} changed the meaning:\n"
        f"  sent {aligned}\n  got  {got}"
    )
    return parsed


def _assert_caused_by(rejected: Any, dropped: list[str], where: str) -> None:
    """Every refusal is about something left out on the way (a path or one under it)."""
    for item in rejected:
        for v in item.violations:
            assert any(v.path == p or v.path.startswith(f"{p}.") for p in dropped), (
                f"{where} refuses {item.conversion}: {item.violations} (left out: {dropped})"
            )


def _inverse(id_map: Mapping[str, str], target: Backend) -> dict[str, str]:
    """The way back: target id (in every spelling the target parses it as) -> source id."""
    out: dict[str, str] = {}
    for source_id, target_id in id_map.items():
        out.setdefault(target_id, source_id)
        out.setdefault(spelt(target, target_id), source_id)
    return out


def spelt(backend: Backend, value: str) -> str:
    """How ``backend`` writes ``value`` in its own plans (Salesforce: 18 characters; Dynamics:
    a GUID in lower case)."""
    if backend.name == "salesforce":
        return _tolerant_canonical(value)
    return backend.canonical_id(value, "")


def _ids(conversion: Conversion) -> list[str]:
    found: list[str] = []
    relabel_ids(conversion, lambda _r, v: found.append(v) or v)  # type: ignore[func-returns-value]
    return found


def _payload(backend: Backend, conversion: Conversion, settings: Mapping[str, str]) -> str:
    plan = backend.plan([PlanItem(conversion, 1)], settings)
    return dumps_json(plan_document(backend, plan))
