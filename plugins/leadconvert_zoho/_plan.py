"""Zoho planning (pure): neutral conversions to single and mass convert requests, batched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from leadconvert import (
    CarryOverTags,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    Module,
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

from ._options import NAME, options_of
from ._rules import mass_only, single_only, tags_all
from ._wire import (
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

__all__ = ["plan", "to_convert_body", "to_mass_body"]


def _deals(opportunity: OpportunityTarget) -> DealsWire | None:
    """The Deals object of a deal to create; none for a deal without a name, which Zoho cannot
    create (validation refuses it; lenient mode warned and leaves it out)."""
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


def _tag_names(selection: tuple[str, ...] | str) -> list[str] | None:
    return list(selection) if selection and selection != "all" else None


def _attachments_ref(module: Module, version: str, settings: Mapping[str, str]) -> ApiNameRef:
    module_id = settings.get(MODULE_ID_SETTINGS[module]) if version != "v7" else None
    return ApiNameRef(MODULE_API_NAMES[module], module_id or None)


def to_convert_body(
    conversion: Conversion, version: str = "v8", settings: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The single-convert JSON body ``{"data": [ {...} ]}`` for ``conversion``.

    False flags and defaults are left out: Zoho documents ``false`` as the default of every
    flag, and leaving out Accounts / Contacts / Deals means create / create / none.
    Whatever single convert cannot express (validated separately) is not sent.
    ``move_attachments_to`` carries the module's id on v8 when ``settings`` know it (the v8
    OpenAPI document marks ``id`` required, and Zoho's SDK sends it), ``{api_name}`` otherwise.
    """
    opts = options_of(conversion)
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
            _attachments_ref(conversion.move_attachments_to, version, settings or {})
            if conversion.move_attachments_to
            else None
        ),
        accounts=IdRef(account.id) if isinstance(account, MergeAccount) else None,
        contacts=IdRef(contact.id) if isinstance(contact, MergeContact) else None,
        assign_to=IdRef(conversion.owner_id) if conversion.owner_id else None,
        deals=_deals(opportunity),
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
    opts = options_of(conversion)
    all_tags = tags_all(conversion.carry_over_tags)
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
        deals=_deals(opportunity),
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
            **{m.value: "all" for m in tags_all(conversion.carry_over_tags)}
        ),
        options=(options_of(conversion),),
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
        tuple(tags_all(conversion.carry_over_tags)),
    )


@frozen
class _Group:
    key: str
    conversion: Conversion
    lead_ids: list[str]
    mass_only: bool


def _single_call(
    conversion: Conversion,
    version: str,
    reasons: Sequence[str],
    settings: Mapping[str, str],
) -> PlannedCall:
    module = conversion.move_attachments_to
    if module is not None and version != "v7":
        setting = MODULE_ID_SETTINGS[module]
        if not settings.get(setting):
            # Said in the plan: v8 documents the id as required, and we cannot know it.
            reasons = [
                *reasons,
                f"move_attachments_to is sent as {{api_name}} only: set {setting} (Zoho's "
                "Modules API lists it) to send the module id v8 documents as required",
            ]
    return PlannedCall(
        request=NativeRequest(
            "POST",
            convert_path(version, conversion.lead_id),
            json=to_convert_body(conversion, version, settings),
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
        opts = options_of(conversion)
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
        single = [why for _, why in single_only(conversion)]
        needs_mass = bool(mass_only(conversion))
        if conversion.move_attachments_to is not None and not needs_mass and not single:
            setting = MODULE_ID_SETTINGS[conversion.move_attachments_to]
            if not settings.get(setting):
                single.append(
                    f"move_attachments_to without {setting}: mass convert needs the module id"
                )
        # Lenient mode may hand us a conflicting conversion (mass-only and single-only parts):
        # validation warned about its mass-only parts, so it goes single convert, which does
        # not send them; everything else it asked for is sent.
        if single:
            order.append(_single_call(conversion, version, list(dict.fromkeys(single)), settings))
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
            group = groups[key] = _Group(key, conversion, [], needs_mass)
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
                    settings,
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
