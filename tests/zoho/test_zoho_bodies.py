"""Zoho's planner writes bodies as plain dicts: they are what the cattrs converter writes from the
wire classes (the reference below builds the wire objects, as the planner once did), and its
grouping keys from the neutral options group leads exactly as their serialised bodies would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadconvert_zoho import _plan
from leadconvert_zoho._options import ZohoOptions, options_of
from leadconvert_zoho._rules import (
    ZOHO_ID,
    _is_zoho_id,
    mass_only,
    single_only,
    tags_all,
    validate,
)
from leadconvert_zoho._wire import (
    CONVERTER,
    MASS_CONVERT_MAX,
    MODULE_API_NAMES,
    MODULE_ID_SETTINGS,
    ApiNameRef,
    ConvertBody,
    DealsWire,
    IdRef,
    MassConvertBody,
    ModuleRefWire,
    PortalUserTypeWire,
    TagsWire,
    api_version,
    convert_path,
    mass_convert_path,
)

from leadconvert import (
    CarryOverTags,
    ConfigurationError,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    Module,
    NoOpportunity,
    OpportunityTarget,
    dumps_json,
)
from leadconvert.backend import (
    BackendPlan,
    NativeRequest,
    PlanItem,
    PlannedCall,
    PlanWarning,
    violation,
)
from leadconvert.testing import conversions

MODULE_IDS = {
    "contacts_module_id": "3652397000000002179",
    "accounts_module_id": "3652397000000002177",
    "deals_module_id": "3652397000000002181",
}
SETTINGS = st.sampled_from([{}, MODULE_IDS, {"contacts_module_id": "3652397000000002179"}])
ZOHO = {"zoho": ZohoOptions}
MANY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


# --- the reference: wire objects unstructured by the cattrs converter ---------------------------


def _ref_deals(opportunity: OpportunityTarget) -> DealsWire | None:
    if not isinstance(opportunity, CreateOpportunity) or opportunity.name is None:
        return None
    return DealsWire(
        deal_name=opportunity.name,
        closing_date=opportunity.close_date.isoformat() if opportunity.close_date else None,
        stage=opportunity.stage,
        amount=opportunity.amount,
        pipeline=opportunity.pipeline,
        contact_role=opportunity.contact_role,
        other=dict(opportunity.fields),
    )


def _ref_tag_names(selection: tuple[str, ...] | str) -> list[str] | None:
    return list(selection) if selection and selection != "all" else None


def ref_convert_body(
    conversion: Conversion, version: str, settings: Mapping[str, str]
) -> dict[str, Any]:
    opts = options_of(conversion)
    tags = conversion.carry_over_tags
    tag_wire = TagsWire(
        contacts=_ref_tag_names(tags.contacts),
        accounts=_ref_tag_names(tags.accounts),
        deals=_ref_tag_names(tags.deals),
    )
    module = conversion.move_attachments_to
    attachments = None
    if module:
        module_id = settings.get(MODULE_ID_SETTINGS[module]) if version != "v7" else None
        attachments = ApiNameRef(MODULE_API_NAMES[module], module_id or None)
    account, contact = conversion.account, conversion.contact
    body = ConvertBody(
        overwrite=conversion.overwrite_account_name or None,
        notify_lead_owner=conversion.notify_lead_owner or None,
        notify_new_entity_owner=conversion.notify_new_owner or None,
        move_attachments_to=attachments,
        accounts=IdRef(account.id) if isinstance(account, MergeAccount) else None,
        contacts=IdRef(contact.id) if isinstance(contact, MergeContact) else None,
        assign_to=IdRef(conversion.owner_id) if conversion.owner_id else None,
        deals=_ref_deals(conversion.opportunity),
        carry_over_tags=(
            tag_wire
            if tag_wire.contacts is not None
            or tag_wire.accounts is not None
            or tag_wire.deals is not None
            else None
        ),
        add_to_existing_record=(True if opts.add_to_existing_record and version == "v8" else None),
    )
    return {"data": [CONVERTER.unstructure(body)]}


def _ref_module_ref(module: Module, settings: Mapping[str, str]) -> ModuleRefWire | None:
    module_id = settings.get(MODULE_ID_SETTINGS[module])
    return ModuleRefWire(MODULE_API_NAMES[module], module_id) if module_id else None


def ref_mass_body(
    lead_ids: Sequence[str], conversion: Conversion, settings: Mapping[str, str]
) -> dict[str, Any]:
    opts = options_of(conversion)
    tag_refs: list[ModuleRefWire] = []
    for module in tags_all(conversion.carry_over_tags):
        ref = _ref_module_ref(module, settings)
        if ref is None:
            raise ConfigurationError(
                f'carrying "all" tags to {MODULE_API_NAMES[module]} needs the module\'s id: set '
                f"{MODULE_ID_SETTINGS[module]} (Zoho's Modules API lists it)"
            )
        tag_refs.append(ref)
    module = conversion.move_attachments_to
    portal = opts.portal_user_type
    body = MassConvertBody(
        ids=list(lead_ids),
        deals=_ref_deals(conversion.opportunity),
        assign_to=IdRef(conversion.owner_id) if conversion.owner_id else None,
        related_modules=(
            [ModuleRefWire(r.api_name, r.id) for r in opts.related_modules]
            if opts.related_modules
            else None
        ),
        carry_over_tags=tag_refs or None,
        move_attachments_to=_ref_module_ref(module, settings) if module else None,
        portal_user_type=PortalUserTypeWire(portal.id, portal.api_name) if portal else None,
        apply_assignment_threshold=opts.apply_assignment_threshold,
    )
    result: dict[str, Any] = CONVERTER.unstructure(body)
    return result


def ref_mass_key(conversion: Conversion) -> str:
    """The key the planner once grouped by: the shared mass-convert body, serialised."""
    shared = Conversion(
        lead_id="0",
        opportunity=conversion.opportunity,
        owner_id=conversion.owner_id,
        move_attachments_to=conversion.move_attachments_to,
        carry_over_tags=CarryOverTags(
            **{m.value: "all" for m in tags_all(conversion.carry_over_tags)}
        ),
        options=(options_of(conversion),),
    )
    return dumps_json(ref_mass_body([], shared, {s: s for s in MODULE_ID_SETTINGS.values()}))


def _outcome(write: Any, *args: Any) -> tuple[str, str]:
    try:
        return "body", dumps_json(write(*args))
    except ConfigurationError as exc:
        return "error", str(exc)


# --- bodies -------------------------------------------------------------------------------------


@MANY
@given(conversions(ZOHO), st.sampled_from(["v7", "v8"]), SETTINGS)
def test_convert_body_is_what_the_converter_writes(
    conversion: Conversion, version: str, settings: Mapping[str, str]
) -> None:
    ours = dumps_json(_plan.to_convert_body(conversion, version, settings))
    assert ours == dumps_json(ref_convert_body(conversion, version, settings))


@MANY
@given(conversions(ZOHO), SETTINGS, st.lists(st.just("3652397000000624046"), max_size=3))
def test_mass_body_is_what_the_converter_writes(
    conversion: Conversion, settings: Mapping[str, str], ids: list[str]
) -> None:
    ours = _outcome(_plan.to_mass_body, ids, conversion, settings)
    assert ours == _outcome(ref_mass_body, ids, conversion, settings)


def test_bodies_hold_every_kind_of_value() -> None:
    conversion = Conversion(
        lead_id="3652397000000624046",
        account=MergeAccount("3652397000000624047"),
        contact=MergeContact("3652397000000624048"),
        opportunity=CreateOpportunity(
            name="Deal",
            stage="Won",
            close_date=dt.date(2026, 12, 31),
            pipeline="Standard",
            amount=Decimal("1.50"),
            contact_role="3652397000000624049",
            fields={"Description": "d", "Probability": 1, "Flag": True, "Note": None},
        ),
        owner_id="3652397000000624050",
        notify_lead_owner=True,
        notify_new_owner=True,
        overwrite_account_name=True,
        move_attachments_to=Module.DEALS,
        carry_over_tags=CarryOverTags(contacts=("a", "b"), accounts="all", deals=("c",)),
        options=(ZohoOptions(add_to_existing_record=True),),
    )
    for version in ("v7", "v8"):
        for given_settings in ({}, MODULE_IDS):
            assert dumps_json(
                _plan.to_convert_body(conversion, version, given_settings)
            ) == dumps_json(ref_convert_body(conversion, version, given_settings))
    assert '"Amount": 1.50' in dumps_json(_plan.to_convert_body(conversion, "v8", {}))


# --- grouping keys ------------------------------------------------------------------------------

_OWNERS = st.sampled_from([None, "3652397000000624050", "3652397000000624051"])
_SMALL_OPPORTUNITIES = st.one_of(
    st.just(NoOpportunity()),
    st.builds(
        CreateOpportunity,
        name=st.sampled_from([None, "A", "B"]),
        stage=st.sampled_from([None, "Won"]),
        close_date=st.sampled_from([None, dt.date(2026, 12, 31)]),
        amount=st.sampled_from([None, Decimal("1.0"), Decimal("1.00"), Decimal("1")]),
        fields=st.sampled_from(
            [
                {},
                {"X": 1},
                {"X": True},
                {"X": "1"},
                {"X": 1.0},
                {"X": Decimal("1.0")},
                {"Y": None, "X": 1},
                {"X": 1, "Y": None},
                {"Stage": "Won"},
            ]
        ),
    ),
)
_SMALL_OPTIONS = st.sampled_from(
    [
        (),
        (ZohoOptions(),),
        (ZohoOptions(apply_assignment_threshold=True),),
        (ZohoOptions(apply_assignment_threshold=False),),
    ]
)
_SMALL_TAGS = st.sampled_from(
    [CarryOverTags(), CarryOverTags(contacts="all"), CarryOverTags(deals="all")]
)
_SIMILAR = conversions(
    ZOHO,
    opportunity=_SMALL_OPPORTUNITIES,
    owner_id=_OWNERS,
    move_attachments_to=st.sampled_from([None, Module.CONTACTS]),
    carry_over_tags=_SMALL_TAGS,
    options=_SMALL_OPTIONS,
)
#: As ``_SIMILAR``, but nothing that needs single convert but a missing owner: groups form.
_GROUPABLE = conversions(
    ZOHO,
    account=st.just(CreateAccount()),
    contact=st.just(CreateContact()),
    opportunity=_SMALL_OPPORTUNITIES,
    owner_id=_OWNERS,
    notify_lead_owner=st.just(False),
    notify_new_owner=st.just(False),
    overwrite_account_name=st.just(False),
    move_attachments_to=st.sampled_from([None, Module.CONTACTS]),
    carry_over_tags=_SMALL_TAGS,
    options=_SMALL_OPTIONS,
)


@MANY
@given(_GROUPABLE | _SIMILAR, _GROUPABLE | _SIMILAR)
def test_stand_ins_are_equal_exactly_when_keys_are(a: Conversion, b: Conversion) -> None:
    key_a, key_b = ref_mass_key(a), ref_mass_key(b)
    assert (_plan._mass_key(a) == _plan._mass_key(b)) == (key_a == key_b)
    stand_a, stand_b = _plan._mass_key_stand_in(a), _plan._mass_key_stand_in(b)
    if stand_a is not None and stand_b is not None:
        assert (stand_a == stand_b) == (key_a == key_b)


def ref_plan(items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
    """The planner as it was: wire objects through cattrs, grouped by serialised bodies."""
    version = api_version(settings)
    warnings: list[PlanWarning] = []
    order: list[PlannedCall | tuple[Conversion, list[str], bool]] = []
    groups: dict[str, tuple[Conversion, list[str], bool]] = {}

    def single(conversion: Conversion, reasons: list[str]) -> PlannedCall:
        module = conversion.move_attachments_to
        if module is not None and version != "v7":
            setting = MODULE_ID_SETTINGS[module]
            if not settings.get(setting):
                reasons = [
                    *reasons,
                    f"move_attachments_to is sent as {{api_name}} only: set {setting} (Zoho's "
                    "Modules API lists it) to send the module id v8 documents as required",
                ]
        return PlannedCall(
            NativeRequest(
                "POST",
                convert_path(version, conversion.lead_id),
                json=ref_convert_body(conversion, version, settings),
            ),
            (conversion.lead_id,),
            "convert",
            "; ".join(reasons),
        )

    for item in items:
        conversion = item.conversion
        if conversion.converted_status is not None:
            warnings.append(
                PlanWarning(
                    conversion.lead_id,
                    violation(
                        "zoho.converted_status.ignored",
                        "converted_status",
                        "Zoho has no converted lead status: the value is ignored",
                        "zoho",
                    ),
                    item.line,
                )
            )
        if options_of(conversion).add_to_existing_record and version != "v8":
            warnings.append(
                PlanWarning(
                    conversion.lead_id,
                    violation(
                        "zoho.add_to_existing_record.v8_only",
                        "options.zoho.add_to_existing_record",
                        "add_to_existing_record exists from API v8 on: not sent on v7",
                        "zoho",
                    ),
                    item.line,
                )
            )
        whys = [why for _, why in single_only(conversion)]
        needs_mass = bool(mass_only(conversion))
        if conversion.move_attachments_to is not None and not needs_mass and not whys:
            setting = MODULE_ID_SETTINGS[conversion.move_attachments_to]
            if not settings.get(setting):
                whys.append(
                    f"move_attachments_to without {setting}: mass convert needs the module id"
                )
        if whys:
            order.append(single(conversion, list(dict.fromkeys(whys))))
            continue
        key = ref_mass_key(conversion)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (conversion, [], needs_mass)
            order.append(group)
        group[1].append(conversion.lead_id)
    calls: list[PlannedCall] = []
    for entry in order:
        if isinstance(entry, PlannedCall):
            calls.append(entry)
            continue
        first, ids, needs = entry
        if len(ids) == 1 and not needs:
            calls.append(
                single(
                    first, ["no other lead shares these options: single convert answers at once"]
                )
            )
            continue
        chunks = [ids[i : i + MASS_CONVERT_MAX] for i in range(0, len(ids), MASS_CONVERT_MAX)]
        for index, chunk in enumerate(chunks, 1):
            calls.append(
                PlannedCall(
                    NativeRequest(
                        "POST",
                        mass_convert_path(version),
                        json=ref_mass_body(chunk, first, settings),
                    ),
                    tuple(chunk),
                    "mass_convert",
                    f"{len(ids)} lead(s) share these options and need nothing mass convert "
                    f"lacks: batch {index} of {len(chunks)} (at most {MASS_CONVERT_MAX} ids)",
                )
            )
    return BackendPlan(tuple(calls), tuple(warnings))


def _shown(planned: BackendPlan) -> str:
    return dumps_json(
        [
            [[c.request.to_dict(), c.lead_ids, c.kind, c.reason, c.after] for c in planned.calls],
            [w.to_dict() for w in planned.warnings],
        ]
    )


def _planned(plan: Any, items: Sequence[PlanItem], settings: Mapping[str, str]) -> str:
    try:
        return _shown(plan(items, settings))
    except ConfigurationError as exc:
        return f"error: {exc}"


@MANY
@given(
    st.lists(_GROUPABLE | _SIMILAR, max_size=60),
    st.sampled_from([{}, MODULE_IDS, {**MODULE_IDS, "api_version": "v7"}]),
)
def test_plan_is_the_plan_of_serialised_keys(
    batch: list[Conversion], settings: Mapping[str, str]
) -> None:
    """The same calls, groups, batches, reasons and warnings as grouping by serialised bodies."""
    items = [
        PlanItem(evolve(c, lead_id=f"36523970000006{n:05d}"), n) for n, c in enumerate(batch, 1)
    ]
    assert _planned(_plan.plan, items, settings) == _planned(ref_plan, items, settings)


def test_many_leads_in_batches() -> None:
    shared = Conversion(lead_id="1", owner_id="3652397000000624050")
    lone = Conversion(
        lead_id="2",
        owner_id="3652397000000624050",
        opportunity=CreateOpportunity(name="Own", fields={"X": 1.5}),
    )
    items = [PlanItem(evolve(shared, lead_id=f"{n}"), n) for n in range(1, 121)]
    items.insert(7, PlanItem(evolve(lone, lead_id="999"), 999))
    items.append(PlanItem(evolve(shared, lead_id="1000", options=(ZohoOptions(),)), 1000))
    assert _planned(_plan.plan, items, {}) == _planned(ref_plan, items, {})


# --- rules --------------------------------------------------------------------------------------


@MANY
@given(
    st.text(alphabet=st.sampled_from("0123456789٣²\n x"), max_size=34)
    | st.from_regex(r"[0-9]{1,32}\n?", fullmatch=True)
)
def test_zoho_ids_are_told_as_the_pattern_tells_them(value: str) -> None:
    assert _is_zoho_id(value) == bool(ZOHO_ID.match(value))


@MANY
@given(conversions(ZOHO))
def test_deals_checked_once_are_checked_alike(conversion: Conversion) -> None:
    """validate remembers a deal's problems by the deal object: a copy gives the same answer."""
    first = validate(conversion)
    assert validate(conversion) == first
    copy = evolve(conversion, opportunity=evolve(conversion.opportunity))
    assert validate(copy) == first
