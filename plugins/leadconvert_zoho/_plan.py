"""Zoho planning (pure): neutral conversions to single and mass convert requests, batched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadconvert import (
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
    DEAL_KEYS,
    MASS_CONVERT_MAX,
    MODULE_API_NAMES,
    MODULE_ID_SETTINGS,
    ApiNameRef,
    ConvertBody,
    IdRef,
    MassConvertBody,
    ModuleRefWire,
    PortalUserTypeWire,
    TagsWire,
    api_version,
    convert_path,
    mass_convert_path,
    wire_keys,
)

__all__ = ["plan", "to_convert_body", "to_mass_body"]


class _Keys:
    """Zoho's key for each attribute of the wire classes, read once from ``_wire``.

    Bodies are written here as plain dicts, straight from the neutral conversion (building the
    wire objects and unstructuring them through cattrs cost 3.3 us a body); the keys still come
    from the wire classes and their one rename table, and tests hold these bodies to what the
    cattrs converter writes from the same wire objects.
    """

    def __init__(self) -> None:
        self.convert = wire_keys(ConvertBody)
        self.mass = wire_keys(MassConvertBody)
        self.tags = wire_keys(TagsWire)
        self.id = wire_keys(IdRef)["id"]
        self.api_ref = wire_keys(ApiNameRef)
        self.module_ref = wire_keys(ModuleRefWire)
        self.portal = wire_keys(PortalUserTypeWire)


_KEYS = _Keys()


def _deals(opportunity: OpportunityTarget) -> dict[str, Any] | None:
    """The Deals object of a deal to create; none for a deal without a name, which Zoho cannot
    create (validation refuses it; lenient mode warned and leaves it out)."""
    if not isinstance(opportunity, CreateOpportunity) or opportunity.name is None:
        return None
    out: dict[str, Any] = {DEAL_KEYS["deal_name"]: opportunity.name}
    if opportunity.close_date:
        out[DEAL_KEYS["closing_date"]] = opportunity.close_date.isoformat()
    if opportunity.stage is not None:
        out[DEAL_KEYS["stage"]] = opportunity.stage
    if opportunity.amount is not None:
        out[DEAL_KEYS["amount"]] = opportunity.amount
    if opportunity.pipeline is not None:
        out[DEAL_KEYS["pipeline"]] = opportunity.pipeline
    if opportunity.contact_role is not None:
        out[DEAL_KEYS["contact_role"]] = opportunity.contact_role
    # Further Deal fields by API name, after the named ones.
    out.update(opportunity.fields)
    return out


def _named_tags(selection: tuple[str, ...] | str) -> list[str] | None:
    return list(selection) if selection and selection != "all" else None


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
    keys = _KEYS
    k = keys.convert
    data: dict[str, Any] = {}
    if conversion.overwrite_account_name:
        data[k["overwrite"]] = True
    if conversion.notify_lead_owner:
        data[k["notify_lead_owner"]] = True
    if conversion.notify_new_owner:
        data[k["notify_new_entity_owner"]] = True
    module = conversion.move_attachments_to
    if module:
        ref = {keys.api_ref["api_name"]: MODULE_API_NAMES[module]}
        module_id = (settings or {}).get(MODULE_ID_SETTINGS[module]) if version != "v7" else None
        if module_id:
            ref[keys.api_ref["id"]] = module_id
        data[k["move_attachments_to"]] = ref
    account = conversion.account
    if isinstance(account, MergeAccount):
        data[k["accounts"]] = {keys.id: account.id}
    contact = conversion.contact
    if isinstance(contact, MergeContact):
        data[k["contacts"]] = {keys.id: contact.id}
    if conversion.owner_id:
        data[k["assign_to"]] = {keys.id: conversion.owner_id}
    deals = _deals(conversion.opportunity)
    if deals is not None:
        data[k["deals"]] = deals
    tags = conversion.carry_over_tags
    if tags.contacts or tags.accounts or tags.deals:
        named: dict[str, Any] = {}
        for attr, selection in (
            ("contacts", tags.contacts),
            ("accounts", tags.accounts),
            ("deals", tags.deals),
        ):
            names = _named_tags(selection)
            if names is not None:
                named[keys.tags[attr]] = names
        if named:
            data[k["carry_over_tags"]] = named
    if version == "v8" and conversion.options and options_of(conversion).add_to_existing_record:
        data[k["add_to_existing_record"]] = True
    return {"data": [data]}


def _module_ref(module: Module, settings: Mapping[str, str]) -> dict[str, str] | None:
    module_id = settings.get(MODULE_ID_SETTINGS[module])
    if not module_id:
        return None
    keys = _KEYS.module_ref
    return {keys["api_name"]: MODULE_API_NAMES[module], keys["id"]: module_id}


def _mass_shared(conversion: Conversion, settings: Mapping[str, str]) -> dict[str, Any]:
    """Mass convert's body for ``conversion``'s options, all but ``ids``."""
    keys = _KEYS
    k = keys.mass
    tag_refs: list[dict[str, str]] = []
    for module in tags_all(conversion.carry_over_tags):
        ref = _module_ref(module, settings)
        if ref is None:
            raise ConfigurationError(
                f'carrying "all" tags to {MODULE_API_NAMES[module]} needs the module\'s id: set '
                f"{MODULE_ID_SETTINGS[module]} (Zoho's Modules API lists it)"
            )
        tag_refs.append(ref)
    out: dict[str, Any] = {}
    deals = _deals(conversion.opportunity)
    if deals is not None:
        out[k["deals"]] = deals
    if conversion.owner_id:
        out[k["assign_to"]] = {keys.id: conversion.owner_id}
    opts = options_of(conversion)
    if opts.related_modules:
        name, id_ = keys.module_ref["api_name"], keys.module_ref["id"]
        out[k["related_modules"]] = [{name: r.api_name, id_: r.id} for r in opts.related_modules]
    if tag_refs:
        out[k["carry_over_tags"]] = tag_refs
    if conversion.move_attachments_to:
        attachments = _module_ref(conversion.move_attachments_to, settings)
        if attachments is not None:
            out[k["move_attachments_to"]] = attachments
    portal = opts.portal_user_type
    if portal:
        wire = {keys.portal["id"]: portal.id}
        if portal.api_name is not None:
            wire[keys.portal["api_name"]] = portal.api_name
        out[k["portal_user_type"]] = wire
    if opts.apply_assignment_threshold is not None:
        out[k["apply_assignment_threshold"]] = opts.apply_assignment_threshold
    return out


def to_mass_body(
    lead_ids: Sequence[str], conversion: Conversion, settings: Mapping[str, str]
) -> dict[str, Any]:
    """The mass-convert JSON body for ``lead_ids``, all sharing ``conversion``'s options."""
    return {_KEYS.mass["ids"]: list(lead_ids), **_mass_shared(conversion, settings)}


# --- planner ------------------------------------------------------------------------------------

#: Module ids stand-ins: a grouping key is the same whatever the settings hold.
_KEY_SETTINGS: Mapping[str, str] = {s: s for s in MODULE_ID_SETTINGS.values()}


def _mass_key(conversion: Conversion) -> str:
    """The exact grouping key: conversions with equal keys send the same mass-convert options."""
    return dumps_json(_mass_shared(conversion, _KEY_SETTINGS))


#: Deal field values a stand-in holds as they are: equal values of one of these types are
#: always written as the same JSON, and different ones as different JSON.
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})
#: The Deals keys of the named deal fields: a field of ``fields`` by one of these names would
#: overwrite or move it in the body.
_NAMED_DEAL_KEYS = frozenset(DEAL_KEYS.values())


#: What ``_deal_stand_in`` returns for a deal it does not cover (compared by identity).
_UNCOVERED: tuple[Any, ...] = ("not covered",)


def _deal_stand_in(opportunity: OpportunityTarget) -> tuple[Any, ...] | None:
    """The deal's part of a stand-in: ``None`` for no deal (none, or one without a name, which
    the body leaves out), ``_UNCOVERED`` for fields the stand-in does not cover."""
    if not isinstance(opportunity, CreateOpportunity) or opportunity.name is None:
        return None
    fields = opportunity.fields
    if fields and (
        not _NAMED_DEAL_KEYS.isdisjoint(fields)
        or not all(type(v) in _PLAIN_TYPES for v in fields.values())
    ):
        return _UNCOVERED
    return (
        opportunity.name,
        opportunity.close_date.isoformat() if opportunity.close_date else None,
        opportunity.stage,
        None if opportunity.amount is None else str(opportunity.amount),
        opportunity.pipeline,
        opportunity.contact_role,
        # Keys in order, values with their type: True and 1 are equal but written apart.
        tuple((k, type(v), v) for k, v in fields.items()) if fields else (),
    )


#: Deal stand-ins already worked out in one plan, by the deal object's identity (with the
#: object, which the plan's items keep alive): leads read from lines that differ only in the
#: lead id share their deal object.
_DealCache = dict[int, tuple[OpportunityTarget, "tuple[Any, ...] | None"]]


def _mass_key_stand_in(
    conversion: Conversion, deals: _DealCache | None = None
) -> tuple[Any, ...] | None:
    """The grouping key from the neutral options, without writing a body.

    Equal stand-ins always give equal ``_mass_key``s, and different stand-ins different ones:
    it holds exactly the values the shared mass-convert body is written from, as the text they
    are written as (so ``Decimal("1.0")`` and ``Decimal("1.00")`` differ, as their bodies do;
    a deal without a name is no deal, as in the body). ``None`` when the conversion holds
    something it does not cover (Zoho options; deal fields other than strings, integers,
    booleans and nulls, or named like a deal's own fields): the exact key is then needed.
    """
    if conversion.options and conversion.options_for(NAME) is not None:
        return None
    opportunity = conversion.opportunity
    if deals is None:
        deal = _deal_stand_in(opportunity)
    else:
        cached = deals.get(id(opportunity))
        if cached is not None and cached[0] is opportunity:
            deal = cached[1]
        else:
            deal = _deal_stand_in(opportunity)
            deals[id(opportunity)] = (opportunity, deal)
    if deal is _UNCOVERED:
        return None
    tags = conversion.carry_over_tags
    return (
        deal,
        conversion.owner_id,
        conversion.move_attachments_to,
        tuple(tags_all(tags)) if tags.contacts or tags.accounts or tags.deals else (),
    )


#: The plan's own warnings, one instance each (frozen): built once, not once per lead.
_STATUS_IGNORED = violation(
    "zoho.converted_status.ignored",
    "converted_status",
    "Zoho has no converted lead status: the value is ignored",
    NAME,
)
_V8_ONLY = violation(
    "zoho.add_to_existing_record.v8_only",
    "options.zoho.add_to_existing_record",
    "add_to_existing_record exists from API v8 on: not sent on v7",
    NAME,
)


class _Group:
    """Leads that share one set of mass-convert options, in order, with the first's conversion."""

    __slots__ = ("conversion", "lead_ids", "mass_only")

    def __init__(self, conversion: Conversion, mass_only: bool) -> None:
        self.conversion = conversion
        self.lead_ids: list[str] = []
        self.mass_only = mass_only


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
    # Groups by the stand-in key of the neutral options: no body is written to group leads.
    groups: dict[tuple[Any, ...], _Group] = {}
    # Groups by the exact key (the shared body, serialised), built only once a lead has no
    # stand-in (Zoho options, unusual deal fields): from then on every group has one, so a
    # lead with a stand-in and one without still share a group when their bodies are equal.
    exact: dict[str, _Group] | None = None
    deals: _DealCache = {}
    # The groups of leads that need nothing but a deal and an owner: by the deal object's
    # identity (with the object), then by owner. A stand-in's group never changes once found.
    plain_groups: dict[int, tuple[OpportunityTarget, dict[str | None, _Group]]] = {}
    for item in items:
        conversion = item.conversion
        plain = None
        if conversion.converted_status is not None:
            warnings.append(PlanWarning(conversion.lead_id, _STATUS_IGNORED, item.line))
        if version != "v8" and options_of(conversion).add_to_existing_record:
            warnings.append(PlanWarning(conversion.lead_id, _V8_ONLY, item.line))
        tags = conversion.carry_over_tags
        if (
            conversion.owner_id is None
            or conversion.options
            or tags.contacts
            or tags.accounts
            or tags.deals
            or conversion.notify_lead_owner
            or conversion.notify_new_owner
            or conversion.overwrite_account_name
            or conversion.move_attachments_to is not None
            or isinstance(conversion.account, MergeAccount)
            or isinstance(conversion.contact, MergeContact)
        ):
            single = [why for _, why in single_only(conversion)]
            needs_mass = bool(mass_only(conversion))
            if conversion.move_attachments_to is not None and not needs_mass and not single:
                setting = MODULE_ID_SETTINGS[conversion.move_attachments_to]
                if not settings.get(setting):
                    single.append(
                        f"move_attachments_to without {setting}: mass convert needs the module id"
                    )
            # Lenient mode may hand us a conflicting conversion (mass-only and single-only
            # parts): validation warned about its mass-only parts, so it goes single convert,
            # which does not send them; everything else it asked for is sent.
            if single:
                order.append(
                    _single_call(conversion, version, list(dict.fromkeys(single)), settings)
                )
                continue
        else:
            # Nothing single_only or mass_only looks at: an owner, no flags, merges, tags,
            # attachments or options (most leads of most files). Its group depends on its deal
            # and owner alone: found again by the deal object and the owner.
            needs_mass = False
            opportunity = conversion.opportunity
            plain = plain_groups.get(id(opportunity))
            if plain is not None and plain[0] is opportunity:
                group = plain[1].get(conversion.owner_id)
                if group is not None:
                    group.lead_ids.append(conversion.lead_id)
                    continue
            else:
                plain = plain_groups[id(opportunity)] = (opportunity, {})
        stand_in = _mass_key_stand_in(conversion, deals)
        group = None if stand_in is None else groups.get(stand_in)
        if group is None:
            if stand_in is not None and exact is None:
                group = groups[stand_in] = _Group(conversion, needs_mass)
                order.append(group)
            else:
                if exact is None:
                    exact = {}
                    for entry in order:
                        if isinstance(entry, _Group):
                            exact[_mass_key(entry.conversion)] = entry
                key = _mass_key(conversion)
                group = exact.get(key)
                if group is None:
                    group = exact[key] = _Group(conversion, needs_mass)
                    order.append(group)
                if stand_in is not None:
                    groups[stand_in] = group
        group.lead_ids.append(conversion.lead_id)
        if plain is not None:
            plain[1][conversion.owner_id] = group
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
