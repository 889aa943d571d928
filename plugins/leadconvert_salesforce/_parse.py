"""Salesforce native requests read back into neutral conversions: convertLead envelopes, JSON
lists of LeadConvert objects (as jsforce and Apex callers write them), and the follow-up updates
that give back what convertLead cannot carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from leadconvert import (
    AttachOpportunity,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    NoOpportunity,
)
from leadconvert.backend import NativeRequest, PlannedCall

from ._ids import IdError, canonical_id
from ._options import SalesforceOptions
from ._wire import CONVERTED_STATUS_PLACEHOLDER, FOLLOW_UP_KIND, parse_rows

__all__ = ["conversion_from_row", "parse_calls", "parse_native", "with_follow_up"]


def with_follow_up(conversion: Conversion, body: Mapping[str, Any]) -> Conversion:
    """``conversion`` with the Opportunity fields of its follow-up update (``follow_up_body``)."""
    opportunity = conversion.opportunity
    if not isinstance(opportunity, CreateOpportunity):
        raise InputError(
            f"lead {conversion.lead_id}: an opportunity update follows a conversion that "
            "creates no opportunity"
        )
    data = dict(body)
    stage = data.pop("StageName", None)
    close = data.pop("CloseDate", None)
    amount = data.pop("Amount", None)
    try:
        return attrs.evolve(
            conversion,
            opportunity=attrs.evolve(
                opportunity,
                stage=stage,
                close_date=dt.date.fromisoformat(close) if close is not None else None,
                amount=amount,
                fields={**opportunity.fields, **data},
            ),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"lead {conversion.lead_id}: opportunity update: {exc}") from exc


def _flag(row: Mapping[str, Any], name: str) -> bool | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InputError(f"{name} must be true or false, got {value!r}")


def _text_of(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {value!r}")
    return value


def conversion_from_row(row: Mapping[str, Any]) -> Conversion:
    """The neutral conversion a LeadConvert row (from XML or JSON) expresses."""
    known = {
        "accountId",
        "bypassAccountDedupeCheck",
        "bypassContactDedupeCheck",
        "contactId",
        "convertedStatus",
        "doNotCreateOpportunity",
        "leadId",
        "opportunityId",
        "opportunityName",
        "overwriteLeadSource",
        "ownerId",
        "sendNotificationEmail",
    }
    unknown = set(row) - known
    if unknown:
        raise InputError(f"LeadConvert fields the neutral model cannot express: {sorted(unknown)}")
    lead_id = _text_of(row, "leadId")
    if not lead_id:
        raise InputError("a LeadConvert needs a leadId")
    where = f"LeadConvert of lead {lead_id}"
    account_id = _text_of(row, "accountId")
    contact_id = _text_of(row, "contactId")
    opportunity_id = _text_of(row, "opportunityId")
    opportunity_name = _text_of(row, "opportunityName")
    no_opportunity = _flag(row, "doNotCreateOpportunity")
    if opportunity_id and opportunity_name:
        raise InputError(f"{where}: opportunityId and opportunityName are mutually exclusive")
    if no_opportunity:
        if opportunity_id or opportunity_name:
            raise InputError(
                f"{where}: doNotCreateOpportunity=true forbids opportunityId and opportunityName"
            )
        opportunity: Any = NoOpportunity()
    elif opportunity_id:
        opportunity = AttachOpportunity(opportunity_id)
    elif opportunity_name:
        opportunity = CreateOpportunity(name=opportunity_name)
    else:
        raise InputError(
            f"{where}: Salesforce would create an opportunity named after the lead's company; "
            "the neutral form needs opportunityName (or doNotCreateOpportunity=true)"
        )
    status = _text_of(row, "convertedStatus")
    if status == CONVERTED_STATUS_PLACEHOLDER:
        status = None
    bypass_account = _flag(row, "bypassAccountDedupeCheck")
    bypass_contact = _flag(row, "bypassContactDedupeCheck")
    options: tuple[SalesforceOptions, ...] = ()
    if bypass_account is not None or bypass_contact is not None:
        options = (SalesforceOptions(bypass_account, bypass_contact),)
    try:
        return Conversion(
            lead_id=lead_id,
            account=MergeAccount(account_id) if account_id else CreateAccount(),
            contact=MergeContact(contact_id) if contact_id else CreateContact(),
            opportunity=opportunity,
            owner_id=_text_of(row, "ownerId"),
            notify_new_owner=bool(_flag(row, "sendNotificationEmail")),
            overwrite_lead_source=bool(_flag(row, "overwriteLeadSource")),
            converted_status=status or None,
            options=options,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from exc


def _parse_bare(request: NativeRequest) -> list[Conversion]:
    if request.body is not None:
        rows: list[dict[str, Any]] = list(parse_rows(request.body.encode("utf-8"))[0])
    elif isinstance(request.json, list):
        data = request.json
        if not all(isinstance(item, dict) for item in data):
            raise InputError("a JSON payload must be a list of LeadConvert objects")
        # JSON null is "left out", as xsi:nil is in XML.
        rows = [{k: v for k, v in item.items() if v is not None} for item in data]
    else:
        raise InputError(
            "expected a convertLead SOAP envelope (<...) or a JSON list of LeadConvert "
            "objects ([...])"
        )
    return [conversion_from_row(row) for row in rows]


def parse_calls(calls: Sequence[PlannedCall]) -> list[Conversion]:
    conversions: list[Conversion] = []
    by_lead: dict[str, int] = {}
    for call in calls:
        request = call.request
        if call.kind == FOLLOW_UP_KIND or (not call.kind and request.method == "PATCH"):
            body = request.json
            if not (len(call.lead_ids) == 1 and isinstance(body, dict)):
                raise InputError("an opportunity update names one lead and carries a JSON body")
            lead = call.lead_ids[0]
            try:
                key = canonical_id(lead, "Lead")
            except IdError as exc:
                raise InputError(f"an opportunity update names {lead!r}: {exc}") from exc
            if key not in by_lead:
                raise InputError(
                    f"an opportunity update names lead {lead}, not converted before it"
                )
            index = by_lead[key]
            conversions[index] = with_follow_up(conversions[index], body)
            continue
        if request.content is not None:
            rows: list[Any] = list(request.content)
        elif isinstance(request.body, str):
            rows = list(parse_rows(request.body.encode("utf-8"))[0])
        else:
            raise InputError("a convertLead request carries its SOAP envelope as body")
        for row in rows:
            conversion = conversion_from_row(row)
            by_lead[canonical_id(conversion.lead_id, "Lead")] = len(conversions)
            conversions.append(conversion)
    return conversions


def parse_native(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """Conversions from convertLead calls (their opportunity updates give back the stage,
    close date, amount and fields convertLead cannot carry), or from one bare body: a
    convertLead SOAP envelope or a JSON list of LeadConvert objects."""
    if len(calls) == 1 and not calls[0].request.path:
        return _parse_bare(calls[0].request)
    return parse_calls(calls)
