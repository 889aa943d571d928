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
    OpportunityTarget,
)
from leadconvert.backend import NativeRequest, PlannedCall

from ._ids import IdError, canonical_id
from ._options import SalesforceOptions
from ._wire import FOLLOW_UP_KIND, RENAMES, LeadConvert, from_row, parse_rows

__all__ = ["conversion_from", "parse_native", "with_follow_up"]

_KNOWN = frozenset(RENAMES.values())


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


def _opportunity(convert: LeadConvert, where: str) -> OpportunityTarget:
    if convert.opportunity_id and convert.opportunity_name:
        raise InputError(f"{where}: opportunityId and opportunityName are mutually exclusive")
    if convert.do_not_create_opportunity:
        if convert.opportunity_id or convert.opportunity_name:
            raise InputError(
                f"{where}: doNotCreateOpportunity=true forbids opportunityId and opportunityName"
            )
        return NoOpportunity()
    if convert.opportunity_id:
        return AttachOpportunity(convert.opportunity_id)
    # Neither: Salesforce creates an opportunity and names it after the lead's company.
    return CreateOpportunity(name=convert.opportunity_name or None)


def conversion_from(convert: LeadConvert) -> Conversion:
    """The neutral conversion one LeadConvert expresses."""
    where = f"LeadConvert of lead {convert.lead_id}"
    if not convert.lead_id:
        raise InputError("a LeadConvert needs a leadId")
    options: tuple[SalesforceOptions, ...] = ()
    bypass_account = convert.bypass_account_dedupe_check
    bypass_contact = convert.bypass_contact_dedupe_check
    if bypass_account is not None or bypass_contact is not None:
        options = (SalesforceOptions(bypass_account, bypass_contact),)
    try:
        return Conversion(
            lead_id=convert.lead_id,
            account=MergeAccount(convert.account_id) if convert.account_id else CreateAccount(),
            contact=MergeContact(convert.contact_id) if convert.contact_id else CreateContact(),
            opportunity=_opportunity(convert, where),
            owner_id=convert.owner_id,
            notify_new_owner=convert.send_notification_email,
            overwrite_lead_source=convert.overwrite_lead_source,
            converted_status=convert.converted_status or None,
            options=options,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{where}: {exc}") from exc


def _from_row(row: Mapping[str, Any]) -> LeadConvert:
    unknown = set(row) - _KNOWN
    if unknown:
        raise InputError(f"LeadConvert fields the neutral model cannot express: {sorted(unknown)}")
    if not row.get("leadId"):
        raise InputError("a LeadConvert needs a leadId")
    return from_row(row)


def _converts(request: NativeRequest) -> list[LeadConvert]:
    """The LeadConverts a convertLead request carries: planned, as XML text, or as JSON."""
    if request.content is not None:
        return list(request.content)
    if request.body is not None:
        return [_from_row(row) for row in parse_rows(request.body.encode("utf-8"))[0]]
    data = request.json
    if isinstance(data, Mapping):
        # One LeadConvert object on its own, as Apex's Database.LeadConvert serialises.
        data = [data]
    if isinstance(data, list):
        if not all(isinstance(item, Mapping) for item in data):
            raise InputError("a JSON payload must be a list of LeadConvert objects")
        return [_from_row(item) for item in data]
    raise InputError(
        "expected a convertLead SOAP envelope (<...) or a JSON list of LeadConvert objects ([...])"
    )


def _is_follow_up(call: PlannedCall) -> bool:
    return call.kind == FOLLOW_UP_KIND or (not call.kind and call.request.method == "PATCH")


def parse_native(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """Conversions from convertLead calls, in order; each opportunity update gives back the
    stage, close date, amount and fields convertLead cannot carry to the conversion it follows.

    A bare body (path ``""``) is a convertLead SOAP envelope, or a JSON list of LeadConvert
    objects (one object alone is read as a list of one).
    """
    conversions: list[Conversion] = []
    by_lead: dict[str, int] = {}
    for number, call in enumerate(calls, 1):
        try:
            if _is_follow_up(call):
                body = call.request.json
                if not (len(call.lead_ids) == 1 and isinstance(body, Mapping)):
                    raise InputError(
                        "an opportunity update names one lead and carries a JSON body"
                    )
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
            for convert in _converts(call.request):
                conversion = conversion_from(convert)
                try:
                    by_lead[canonical_id(conversion.lead_id, "Lead")] = len(conversions)
                except IdError:
                    # Validation names the bad id; the conversion itself is still read.
                    by_lead[conversion.lead_id] = len(conversions)
                conversions.append(conversion)
        except InputError as exc:
            if len(calls) == 1:
                raise
            raise InputError(f"request {number}: {exc}") from exc
    return conversions
