"""Pure translation: neutral conversions to Zoho requests and back, Zoho's rules, the planner."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from leadconvert import (
    AttachOpportunity,
    CarryOverTags,
    ConfigurationError,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    NoOpportunity,
    Violation,
    dumps_json,
    loads_json,
)
from leadconvert.backend import (
    BackendPlan,
    NativeRequest,
    PlanItem,
    PlannedCall,
    PlanWarning,
    unsupported,
    violation,
)

from ._options import ModuleRef, PortalUserType, ZohoOptions
from ._wire import (
    CONVERTER,
    ApiNameRef,
    ConvertBody,
    DealsWire,
    IdRef,
    MassConvertBody,
    ModuleRefWire,
    PortalUserTypeWire,
    TagsWire,
)

__all__ = [
    "API_VERSIONS",
    "MASS_CONVERT_MAX",
    "convert_path",
    "mass_convert_path",
    "parse_native",
    "plan",
    "to_convert_body",
    "to_mass_body",
    "validate",
]

NAME = "zoho"
MASS_CONVERT_MAX = 50
API_VERSIONS = ("v7", "v8")
#: Zoho record and user ids are numeric strings (e.g. ``3652397000000624046``).
ZOHO_ID = re.compile(r"^[0-9]{1,30}$")

MODULE_API_NAMES: Mapping[Module, str] = {
    Module.CONTACTS: "Contacts",
    Module.ACCOUNTS: "Accounts",
    Module.DEALS: "Deals",
}
MODULES_BY_API_NAME: Mapping[str, Module] = {v: k for k, v in MODULE_API_NAMES.items()}
#: The settings that hold each module's id, which mass convert's module references need.
MODULE_ID_SETTINGS: Mapping[Module, str] = {
    Module.CONTACTS: "contacts_module_id",
    Module.ACCOUNTS: "accounts_module_id",
    Module.DEALS: "deals_module_id",
}

_CONVERT_PATH = re.compile(r"^/crm/(v\d+)/Leads/([^/]+)/actions/convert$")
_MASS_PATH = re.compile(r"^/crm/(v\d+)/Leads/actions/mass_convert$")


def api_version(settings: Mapping[str, str]) -> str:
    """The configured API version, checked."""
    version = settings.get("api_version", "v8")
    if version not in API_VERSIONS:
        raise ConfigurationError(f"zoho api_version must be one of {API_VERSIONS}, got {version!r}")
    return version


def convert_path(version: str, lead_id: str) -> str:
    """Single convert's path."""
    return f"/crm/{version}/Leads/{lead_id}/actions/convert"


def mass_convert_path(version: str) -> str:
    """Mass convert's path (POST to start a job, GET with ``job_id`` for its status)."""
    return f"/crm/{version}/Leads/actions/mass_convert"


#: The options of a conversion that gives none (frozen, so one instance serves all).
_NO_OPTIONS = ZohoOptions()


def _options(conversion: Conversion) -> ZohoOptions:
    if not conversion.options:
        return _NO_OPTIONS
    found = conversion.options_for(NAME)
    return found if isinstance(found, ZohoOptions) else _NO_OPTIONS


def _tags_all(tags: CarryOverTags) -> list[Module]:
    if not (tags.contacts or tags.accounts or tags.deals):
        return []
    return [m for m, sel in tags.by_module().items() if sel == "all"]


def _tags_named(tags: CarryOverTags) -> list[Module]:
    if not (tags.contacts or tags.accounts or tags.deals):
        return []
    return [m for m, sel in tags.by_module().items() if sel != "all"]


# --- validation ---------------------------------------------------------------------------------


def _single_only(conversion: Conversion) -> list[tuple[str, str]]:
    """(path, why) for each thing in ``conversion`` only single convert can express."""
    opts = _options(conversion)
    out: list[tuple[str, str]] = []
    if isinstance(conversion.account, MergeAccount):
        out.append(("account", "per-lead Accounts target: mass convert cannot carry it"))
    if isinstance(conversion.contact, MergeContact):
        out.append(("contact", "per-lead Contacts target: mass convert cannot carry it"))
    if conversion.notify_lead_owner:
        out.append(("notify_lead_owner", "notify_lead_owner: mass convert has no such flag"))
    if conversion.notify_new_owner:
        out.append(("notify_new_owner", "notify_new_entity_owner: mass convert has no such flag"))
    if conversion.overwrite_account_name:
        out.append(("overwrite_account_name", "overwrite: mass convert has no such flag"))
    for module in _tags_named(conversion.carry_over_tags):
        out.append(
            (
                f"carry_over_tags.{module.value}",
                "named tags: mass convert carries all of a lead's tags or none",
            )
        )
    if opts.add_to_existing_record:
        out.append(
            ("options.zoho.add_to_existing_record", "add_to_existing_record: single convert only")
        )
    if conversion.owner_id is None:
        out.append(("owner_id", "no owner_id: mass convert requires assign_to"))
    return out


def _mass_only(conversion: Conversion) -> list[tuple[str, str]]:
    """(path, why) for each thing in ``conversion`` only mass convert can express."""
    opts = _options(conversion)
    out: list[tuple[str, str]] = []
    for module in _tags_all(conversion.carry_over_tags):
        out.append(
            (
                f"carry_over_tags.{module.value}",
                '"all" tags: only mass convert carries every tag of the lead',
            )
        )
    if opts.related_modules:
        out.append(("options.zoho.related_modules", "related_modules: mass convert only"))
    if opts.portal_user_type is not None:
        out.append(("options.zoho.portal_user_type", "portal_user_type: mass convert only"))
    if opts.apply_assignment_threshold is not None:
        out.append(
            ("options.zoho.apply_assignment_threshold", "apply_assignment_threshold: mass only")
        )
    return out


def _check_id(found: list[Violation], path: str, value: str | None, what: str) -> None:
    if value is not None and not ZOHO_ID.match(value):
        found.append(
            violation(
                "zoho.id.syntax",
                path,
                f"{what} must be a numeric Zoho id, got {value!r}",
                NAME,
            )
        )


def validate(conversion: Conversion) -> list[Violation]:
    """Every Zoho rule ``conversion`` breaks, all at once (pure)."""
    found: list[Violation] = []
    _check_id(found, "lead_id", conversion.lead_id, "the lead id")
    _check_id(found, "owner_id", conversion.owner_id, "assign_to (a user id)")
    account = conversion.account
    if isinstance(account, MergePersonAccount):
        found.append(
            unsupported(
                "zoho.account.person_account",
                "account",
                "Zoho has no person accounts: merge into a business account instead",
                NAME,
            )
        )
    elif isinstance(account, MergeAccount):
        _check_id(found, "account.id", account.id, "the account id")
    if isinstance(conversion.contact, MergeContact):
        _check_id(found, "contact.id", conversion.contact.id, "the contact id")
    opportunity = conversion.opportunity
    if isinstance(opportunity, AttachOpportunity):
        found.append(
            unsupported(
                "zoho.opportunity.attach",
                "opportunity",
                "Zoho cannot attach an existing deal on conversion; it can only create one",
                NAME,
            )
        )
    elif isinstance(opportunity, CreateOpportunity):
        for attr, key in (
            ("close_date", "Closing_Date"),
            ("stage", "Stage"),
            ("pipeline", "Pipeline"),
        ):
            if getattr(opportunity, attr) is None:
                found.append(
                    violation(
                        f"zoho.deal.{attr}_required",
                        f"opportunity.{attr}",
                        f"Zoho requires Deals.{key} to create a deal",
                        NAME,
                    )
                )
        _check_id(found, "opportunity.contact_role", opportunity.contact_role, "Contact_Role")
        named = {"Deal_Name", "Closing_Date", "Stage", "Amount", "Pipeline", "Contact_Role"}
        for key in opportunity.fields:
            if key in named:
                found.append(
                    violation(
                        "zoho.deal.field_conflict",
                        f"opportunity.fields.{key}",
                        f"{key} is set by the opportunity's own field, not by fields",
                        NAME,
                    )
                )
    if conversion.overwrite_lead_source:
        found.append(
            unsupported(
                "zoho.contact.overwrite_lead_source",
                "overwrite_lead_source",
                "Zoho cannot overwrite the contact's lead source on conversion",
                NAME,
            )
        )
    opts = _options(conversion)
    if opts.add_to_existing_record and not (
        isinstance(account, MergeAccount) or isinstance(conversion.contact, MergeContact)
    ):
        found.append(
            violation(
                "zoho.add_to_existing_record.needs_target",
                "options.zoho.add_to_existing_record",
                "add_to_existing_record needs an existing account or contact to add to",
                NAME,
            )
        )
    mass = _mass_only(conversion)
    if mass:
        single = _single_only(conversion)
        if conversion.owner_id is None:
            found.append(
                violation(
                    "zoho.mass_convert.owner_required",
                    "owner_id",
                    f"{mass[0][1]}, and mass convert requires an owner (assign_to)",
                    NAME,
                )
            )
        blockers = [(p, why) for p, why in single if p != "owner_id"]
        if blockers:
            for path, why in mass:
                found.append(
                    unsupported(
                        "zoho.mass_convert.conflict",
                        path,
                        f"{why}, but this conversion also needs single convert ("
                        + "; ".join(w for _, w in blockers)
                        + "): no one Zoho call can express both",
                        NAME,
                    )
                )
    return found


# --- neutral -> native --------------------------------------------------------------------------


def _deals(opportunity: CreateOpportunity) -> DealsWire:
    return DealsWire(
        deal_name=opportunity.name,
        closing_date=opportunity.close_date.isoformat() if opportunity.close_date else None,
        stage=opportunity.stage,
        amount=opportunity.amount,
        pipeline=opportunity.pipeline,
        contact_role=opportunity.contact_role,
        other=dict(opportunity.fields),
    )


def _tag_names(selection: tuple[str, ...] | str) -> list[str] | None:
    return list(selection) if selection and selection != "all" else None


def to_convert_body(conversion: Conversion, version: str = "v8") -> dict[str, Any]:
    """The single-convert JSON body ``{"data": [ {...} ]}`` for ``conversion``.

    False flags and defaults are left out: Zoho documents ``false`` as the default of every
    flag, and leaving out Accounts / Contacts / Deals means create / create / none.
    Whatever single convert cannot express (validated separately) is not sent.
    """
    opts = _options(conversion)
    tags = conversion.carry_over_tags
    tag_wire = TagsWire(
        contacts=_tag_names(tags.contacts),
        accounts=_tag_names(tags.accounts),
        deals=_tag_names(tags.deals),
    )
    account = conversion.account
    contact = conversion.contact
    opportunity = conversion.opportunity
    body = ConvertBody(
        overwrite=conversion.overwrite_account_name or None,
        notify_lead_owner=conversion.notify_lead_owner or None,
        notify_new_entity_owner=conversion.notify_new_owner or None,
        move_attachments_to=(
            ApiNameRef(MODULE_API_NAMES[conversion.move_attachments_to])
            if conversion.move_attachments_to
            else None
        ),
        accounts=IdRef(account.id) if isinstance(account, MergeAccount) else None,
        contacts=IdRef(contact.id) if isinstance(contact, MergeContact) else None,
        assign_to=IdRef(conversion.owner_id) if conversion.owner_id else None,
        deals=_deals(opportunity) if isinstance(opportunity, CreateOpportunity) else None,
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


def _module_ref(module: Module, settings: Mapping[str, str]) -> ModuleRefWire | None:
    module_id = settings.get(MODULE_ID_SETTINGS[module])
    return ModuleRefWire(MODULE_API_NAMES[module], module_id) if module_id else None


def to_mass_body(
    lead_ids: Sequence[str], conversion: Conversion, settings: Mapping[str, str]
) -> dict[str, Any]:
    """The mass-convert JSON body for ``lead_ids``, all sharing ``conversion``'s options."""
    opts = _options(conversion)
    all_tags = _tags_all(conversion.carry_over_tags)
    tag_refs: list[ModuleRefWire] = []
    for module in all_tags:
        ref = _module_ref(module, settings)
        if ref is None:
            raise ConfigurationError(
                f'carrying "all" tags to {MODULE_API_NAMES[module]} needs the module\'s id: set '
                f"{MODULE_ID_SETTINGS[module]} (Zoho's Modules API lists it)"
            )
        tag_refs.append(ref)
    attachments = (
        _module_ref(conversion.move_attachments_to, settings)
        if conversion.move_attachments_to
        else None
    )
    opportunity = conversion.opportunity
    portal = opts.portal_user_type
    body = MassConvertBody(
        ids=list(lead_ids),
        deals=_deals(opportunity) if isinstance(opportunity, CreateOpportunity) else None,
        assign_to=IdRef(conversion.owner_id) if conversion.owner_id else None,
        related_modules=(
            [ModuleRefWire(r.api_name, r.id) for r in opts.related_modules]
            if opts.related_modules
            else None
        ),
        carry_over_tags=tag_refs or None,
        move_attachments_to=attachments,
        portal_user_type=PortalUserTypeWire(portal.id, portal.api_name) if portal else None,
        apply_assignment_threshold=opts.apply_assignment_threshold,
    )
    result: dict[str, Any] = CONVERTER.unstructure(body)
    return result


# --- planner ------------------------------------------------------------------------------------


def _mass_key(conversion: Conversion) -> str:
    """Conversions with equal keys can share one mass-convert call."""
    shared = Conversion(
        lead_id="0",
        opportunity=conversion.opportunity,
        owner_id=conversion.owner_id,
        move_attachments_to=conversion.move_attachments_to,
        carry_over_tags=CarryOverTags(
            **{m.value: "all" for m in _tags_all(conversion.carry_over_tags)}
        ),
        options=(_options(conversion),),
    )
    # The bodies themselves are the key: two conversions share a call exactly when they would
    # send the same options.
    return dumps_json(to_mass_body([], shared, {s: s for s in MODULE_ID_SETTINGS.values()}))


#: Deal field values a stand-in holds as they are: equal values of one of these types are
#: always written as the same JSON.
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def _mass_key_stand_in(conversion: Conversion) -> tuple[Any, ...] | None:
    """A cheap stand-in for ``_mass_key``: equal stand-ins always give equal keys.

    It holds exactly the values the shared mass-convert body is written from, as the text they
    are written as (so ``Decimal("1.0")`` and ``Decimal("1.00")`` differ, as their bodies do).
    ``None`` when the conversion holds something it does not cover (Zoho options, deal fields
    other than strings, integers, booleans and nulls): the key is then computed from the body.
    """
    if conversion.options_for(NAME) is not None:
        return None
    opportunity = conversion.opportunity
    deal: tuple[Any, ...] | None = None
    if isinstance(opportunity, CreateOpportunity):
        fields = opportunity.fields
        if fields and not all(type(v) in _PLAIN_TYPES for v in fields.values()):
            return None
        deal = (
            opportunity.name,
            opportunity.close_date.isoformat() if opportunity.close_date else None,
            opportunity.stage,
            None if opportunity.amount is None else str(opportunity.amount),
            opportunity.pipeline,
            opportunity.contact_role,
            # Keys in order, values with their type: True and 1 are equal but written apart.
            tuple((k, type(v), v) for k, v in fields.items()) if fields else (),
        )
    return (
        deal,
        conversion.owner_id,
        conversion.move_attachments_to,
        tuple(_tags_all(conversion.carry_over_tags)),
    )


@frozen
class _Group:
    key: str
    conversion: Conversion
    lead_ids: list[str]
    mass_only: bool


def _single_call(conversion: Conversion, version: str, reasons: Sequence[str]) -> PlannedCall:
    return PlannedCall(
        request=NativeRequest(
            "POST",
            convert_path(version, conversion.lead_id),
            json=to_convert_body(conversion, version),
        ),
        lead_ids=(conversion.lead_id,),
        kind="convert",
        reason="; ".join(reasons),
    )


def plan(items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
    """Mass-convert calls of up to 50 for leads that share options, single converts for the rest.

    Calls come in the order of each group's first lead, so the same input gives the same plan.
    """
    version = api_version(settings)
    warnings: list[PlanWarning] = []
    # Each entry is a single-convert call or a mass-convert group, in first-seen order.
    order: list[PlannedCall | _Group] = []
    groups: dict[str, _Group] = {}
    # Stand-in -> mass key: conversions that share options skip building the shared body.
    keys: dict[tuple[Any, ...], str] = {}
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
                        NAME,
                    ),
                    item.line,
                )
            )
        opts = _options(conversion)
        if opts.add_to_existing_record and version != "v8":
            warnings.append(
                PlanWarning(
                    conversion.lead_id,
                    violation(
                        "zoho.add_to_existing_record.v8_only",
                        "options.zoho.add_to_existing_record",
                        "add_to_existing_record exists from API v8 on: not sent on v7",
                        NAME,
                    ),
                    item.line,
                )
            )
        single = [why for _, why in _single_only(conversion)]
        mass_only = bool(_mass_only(conversion))
        if conversion.move_attachments_to is not None and not mass_only and not single:
            setting = MODULE_ID_SETTINGS[conversion.move_attachments_to]
            if not settings.get(setting):
                single.append(
                    f"move_attachments_to without {setting}: mass convert needs the module id"
                )
        # Lenient mode may hand us a conflicting conversion (mass-only and single-only parts):
        # validation warned about its mass-only parts, so it goes single convert, which does
        # not send them; everything else it asked for is sent.
        if single:
            order.append(_single_call(conversion, version, list(dict.fromkeys(single))))
            continue
        stand_in = _mass_key_stand_in(conversion)
        if stand_in is None:
            key = _mass_key(conversion)
        else:
            found = keys.get(stand_in)
            if found is None:
                found = keys[stand_in] = _mass_key(conversion)
            key = found
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key, conversion, [], mass_only)
            order.append(group)
        group.lead_ids.append(conversion.lead_id)
    calls: list[PlannedCall] = []
    for entry in order:
        if isinstance(entry, PlannedCall):
            calls.append(entry)
            continue
        ids = entry.lead_ids
        if len(ids) == 1 and not entry.mass_only:
            calls.append(
                _single_call(
                    entry.conversion,
                    version,
                    ["no other lead shares these options: single convert answers at once"],
                )
            )
            continue
        chunks = [ids[i : i + MASS_CONVERT_MAX] for i in range(0, len(ids), MASS_CONVERT_MAX)]
        for index, chunk in enumerate(chunks, 1):
            calls.append(
                PlannedCall(
                    request=NativeRequest(
                        "POST",
                        mass_convert_path(version),
                        json=to_mass_body(chunk, entry.conversion, settings),
                    ),
                    lead_ids=tuple(chunk),
                    kind="mass_convert",
                    reason=(
                        f"{len(ids)} lead(s) share these options and need nothing mass convert "
                        f"lacks: batch {index} of {len(chunks)} (at most {MASS_CONVERT_MAX} ids)"
                    ),
                )
            )
    return BackendPlan(tuple(calls), tuple(warnings))


# --- native -> neutral --------------------------------------------------------------------------


def _opportunity(deals: DealsWire | None) -> CreateOpportunity | None:
    if deals is None:
        return None
    if deals.deal_name is None:
        raise InputError("Deals has no Deal_Name: a deal cannot be read without its name")
    return CreateOpportunity(
        name=deals.deal_name,
        stage=deals.stage,
        close_date=dt.date.fromisoformat(deals.closing_date) if deals.closing_date else None,
        pipeline=deals.pipeline,
        amount=deals.amount,
        contact_role=deals.contact_role,
        fields=deals.other,
    )


def _module(api_name: str) -> Module:
    try:
        return MODULES_BY_API_NAME[api_name]
    except KeyError:
        raise InputError(
            f"unknown module {api_name!r} (expected Contacts, Accounts or Deals)"
        ) from None


def from_convert_body(lead_id: str, data: Any) -> Conversion:
    """The neutral conversion a single-convert body expresses for ``lead_id``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise InputError('a single-convert body is {"data": [ {...} ]}')
    if len(data["data"]) != 1:
        raise InputError("a single-convert body holds exactly one element in data")
    body = _structure(data["data"][0], ConvertBody)
    opportunity = _opportunity(body.deals)
    tags = body.carry_over_tags or TagsWire()
    options = (ZohoOptions(add_to_existing_record=True),) if body.add_to_existing_record else ()
    return Conversion(
        lead_id=lead_id,
        account=MergeAccount(body.accounts.id) if body.accounts else CreateAccount(),
        contact=MergeContact(body.contacts.id) if body.contacts else CreateContact(),
        opportunity=opportunity if opportunity else NoOpportunity(),
        owner_id=body.assign_to.id if body.assign_to else None,
        notify_lead_owner=bool(body.notify_lead_owner),
        notify_new_owner=bool(body.notify_new_entity_owner),
        overwrite_account_name=bool(body.overwrite),
        move_attachments_to=(
            _module(body.move_attachments_to.api_name) if body.move_attachments_to else None
        ),
        carry_over_tags=CarryOverTags(
            contacts=tuple(tags.contacts or ()),
            accounts=tuple(tags.accounts or ()),
            deals=tuple(tags.deals or ()),
        ),
        options=options,
    )


def from_mass_body(data: Any) -> list[Conversion]:
    """One neutral conversion per id of a mass-convert body."""
    body = _structure(data, MassConvertBody)
    if len(body.ids) > MASS_CONVERT_MAX:
        raise InputError(f"mass convert takes at most {MASS_CONVERT_MAX} ids, got {len(body.ids)}")
    opportunity = _opportunity(body.deals)
    tags: dict[str, str] = {}
    for ref in body.carry_over_tags or ():
        tags[_module(ref.api_name).value] = "all"
    portal = body.portal_user_type
    opts = ZohoOptions(
        related_modules=tuple(ModuleRef(r.api_name, r.id) for r in body.related_modules or ()),
        portal_user_type=PortalUserType(portal.id, portal.api_name) if portal else None,
        apply_assignment_threshold=body.apply_assignment_threshold,
    )
    return [
        Conversion(
            lead_id=lead_id,
            opportunity=opportunity if opportunity else NoOpportunity(),
            owner_id=body.assign_to.id if body.assign_to else None,
            move_attachments_to=(
                _module(body.move_attachments_to.api_name) if body.move_attachments_to else None
            ),
            carry_over_tags=CarryOverTags(**tags),
            options=(opts,) if opts != ZohoOptions() else (),
        )
        for lead_id in body.ids
    ]


def _structure(data: Any, cls: type[Any]) -> Any:
    try:
        return CONVERTER.structure(data, cls)
    except Exception as exc:
        import cattrs

        problems = "; ".join(cattrs.transform_error(exc, path="$"))
        raise InputError(f"not a Zoho {cls.__name__}: {problems}") from exc


def _from_request(request: Mapping[str, Any]) -> list[Conversion]:
    path = request.get("path")
    body = request.get("json")
    if not isinstance(path, str):
        raise InputError('a request needs a "path" such as /crm/v8/Leads/<id>/actions/convert')
    if match := _CONVERT_PATH.match(path):
        return [from_convert_body(match.group(2), body)]
    if _MASS_PATH.match(path):
        return from_mass_body(body)
    raise InputError(f"{path!r} is neither a Zoho convert nor a mass convert path")


def parse_native(payload: str) -> list[Conversion]:
    """The neutral conversions in a Zoho payload.

    Accepted: a mass-convert body; ``{"path": ..., "json": ...}`` (one planned request, as
    ``leadconvert plan`` prints it); a whole plan (``{"requests": [...]}``); a single-convert
    body with the lead id beside it as ``{"lead_id": ..., "json": {"data": [...]}}``. A bare
    single-convert body has no lead id, so it is refused with a hint.
    """
    try:
        data = loads_json(payload)
    except ValueError as exc:
        raise InputError(f"the Zoho payload is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InputError("a Zoho payload is a JSON object")
    if isinstance(data.get("requests"), list):
        out: list[Conversion] = []
        for request in data["requests"]:
            if not isinstance(request, Mapping):
                raise InputError("each plan request is an object")
            out.extend(_from_request(request))
        return out
    if "path" in data:
        return _from_request(data)
    if "lead_id" in data:
        lead_id = data["lead_id"]
        if not isinstance(lead_id, str):
            raise InputError("lead_id must be a string")
        return [from_convert_body(lead_id, data.get("json"))]
    if "ids" in data:
        return from_mass_body(data)
    if "data" in data:
        raise InputError(
            "a single-convert body does not carry its lead id: give "
            '{"path": "/crm/v8/Leads/<id>/actions/convert", "json": <body>} or '
            '{"lead_id": "<id>", "json": <body>}'
        )
    raise InputError("not a Zoho convert or mass convert payload")
