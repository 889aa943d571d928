"""Zoho native requests (single convert, mass convert) read back into neutral conversions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import cattrs

from leadconvert import (
    CarryOverTags,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    Module,
    NoOpportunity,
)
from leadconvert.backend import NativeRequest, PlannedCall

from . import _wire
from ._options import ModuleRef, PortalUserType, ZohoOptions
from ._wire import (
    CONVERT_PATH,
    MASS_CONVERT_MAX,
    MASS_PATH,
    MODULES_BY_API_NAME,
    ConvertBody,
    DealsWire,
    MassConvertBody,
    TagsWire,
    structure_id,
)

__all__ = ["from_convert_body", "from_mass_body", "parse_native"]


def _opportunity(deals: DealsWire | None) -> CreateOpportunity | None:
    if deals is None:
        return None
    # A Deals without Deal_Name reads as "let the CRM name it"; Zoho's rules then refuse it
    # (Deal_Name is mandatory) unless a default supplies the name.
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
        # Looked up at each call: the converter is built on first use.
        return _wire.CONVERTER.structure(data, cls)
    except Exception as exc:
        problems = "; ".join(cattrs.transform_error(exc, path="$"))
        raise InputError(f"not a Zoho {cls.__name__}: {problems}") from exc


def _from_request(request: NativeRequest) -> list[Conversion]:
    if match := CONVERT_PATH.match(request.path):
        return [from_convert_body(match.group(2), request.json)]
    if MASS_PATH.match(request.path):
        return from_mass_body(request.json)
    raise InputError(f"{request.path!r} is neither a Zoho convert nor a mass convert path")


def _from_bare(data: Any) -> list[Conversion]:
    if not isinstance(data, Mapping):
        raise InputError("a Zoho payload is a JSON object")
    if "lead_id" in data:
        try:
            lead_id = structure_id(data["lead_id"])
        except TypeError as exc:
            raise InputError(f"lead_id: {exc}") from None
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


def parse_native(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """The neutral conversions of Zoho calls, in order.

    Each call is a planned single convert (``/crm/v8/Leads/<id>/actions/convert``) or mass
    convert, or one bare body (path ``""``): a mass-convert body, or a single-convert body with
    its lead id beside it as ``{"lead_id": ..., "json": {"data": [...]}}``. A bare single-convert
    body carries no lead id, so it is refused with a hint. Ids may be strings or JSON integers
    (Zoho's SDKs send them as longs); float amounts are read as the decimals they print as.
    """
    out: list[Conversion] = []
    for index, call in enumerate(calls, 1):
        request = call.request
        try:
            if request.path:
                out.extend(_from_request(request))
            else:
                out.extend(_from_bare(request.json))
        except InputError as exc:
            if len(calls) == 1:
                raise
            raise InputError(f"request {index}: {exc}") from exc
    return out
