"""Salesforce planning (pure): LeadConvert rows in calls of up to 100, and the follow-up update
of each created Opportunity with what convertLead cannot carry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from leadconvert import (
    AttachOpportunity,
    Conversion,
    CreateOpportunity,
    MergeContact,
    NoOpportunity,
)
from leadconvert.backend import (
    BackendPlan,
    NativeRequest,
    PlanItem,
    PlannedCall,
    trusted_constructor,
)

from ._ids import KEY_PREFIXES, canonical_id
from ._options import NAME, SalesforceOptions
from ._rules import KEPT_IDS, MERGED_ACCOUNTS, forget_ids
from ._wire import (
    CONVERT_KIND,
    FOLLOW_UP_KIND,
    MAX_BATCH,
    OPPORTUNITY_ID_PLACEHOLDER,
    LeadConvert,
    api_version,
    new_lead_convert,
    soap_headers,
)

__all__ = ["follow_up_body", "lead_convert", "plan"]


def _canonical(value: str, obj: str) -> str:
    """``canonical_id(value, obj)``: as ``validate`` worked it out, when it kept it."""
    full = KEPT_IDS.get(value)
    if full is not None and full[:3] == KEY_PREFIXES[obj]:
        return full
    return canonical_id(value, obj)


def lead_convert(conversion: Conversion, default_status: str | None = None) -> LeadConvert:
    """The LeadConvert of a valid conversion (ids in their 18-character form).

    What Salesforce cannot express (lenient mode lets such conversions through) is not sent.
    A converted status left ``None`` is discovered by the client when it sends.
    """
    account = conversion.account
    contact = conversion.contact
    opportunity = conversion.opportunity
    bypass_account = bypass_contact = None
    if conversion.options:
        options = conversion.options_for(NAME)
        if isinstance(options, SalesforceOptions):
            bypass_account = options.bypass_account_dedupe_check
            bypass_contact = options.bypass_contact_dedupe_check
    owner_id = conversion.owner_id
    return new_lead_convert(
        _canonical(conversion.lead_id, "Lead"),
        conversion.converted_status or default_status,
        isinstance(opportunity, NoOpportunity),
        conversion.overwrite_lead_source,
        conversion.notify_new_owner,
        (_canonical(account.id, "Account") if isinstance(account, MERGED_ACCOUNTS) else None),
        bypass_account,
        bypass_contact,
        _canonical(contact.id, "Contact") if isinstance(contact, MergeContact) else None,
        (
            _canonical(opportunity.id, "Opportunity")
            if isinstance(opportunity, AttachOpportunity)
            else None
        ),
        opportunity.name if isinstance(opportunity, CreateOpportunity) else None,
        _canonical(owner_id, "User") if owner_id is not None else None,
    )


def follow_up_body(conversion: Conversion) -> dict[str, Any] | None:
    """The Opportunity fields convertLead cannot carry, as a REST update body, if any."""
    opportunity = conversion.opportunity
    if not isinstance(opportunity, CreateOpportunity):
        return None
    body: dict[str, Any] = {}
    if opportunity.stage is not None:
        body["StageName"] = opportunity.stage
    if opportunity.close_date is not None:
        body["CloseDate"] = opportunity.close_date.isoformat()
    if opportunity.amount is not None:
        body["Amount"] = opportunity.amount
    body.update(opportunity.fields)
    return body or None


# A follow-up is planned for each created opportunity with fields to set (one lead in ten of a
# mixed input): its request and call are built without attrs' __init__, whose converters would
# freeze the query and headers it has none of, from values of the right types and form.
_NO_STRINGS: Mapping[str, str] = MappingProxyType({})
_new_request = trusted_constructor(NativeRequest)
_new_call = trusted_constructor(PlannedCall)


def plan(items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
    """convertLead calls of up to 100 leads, each followed by its opportunity updates."""
    version = api_version(settings)
    default_status = settings.get("converted_status") or None
    batch = MAX_BATCH
    follow_up_path = f"/services/data/v{version}/sobjects/Opportunity/{OPPORTUNITY_ID_PLACEHOLDER}"
    calls: list[PlannedCall] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        converts = tuple(lead_convert(item.conversion, default_status) for item in chunk)
        discovered = [
            item.conversion.lead_id
            for item in chunk
            if item.conversion.converted_status is None and default_status is None
        ]
        reason = f"{len(chunk)} lead(s) in one convertLead call (at most {batch} a call)"
        if discovered:
            reason += (
                f"; convertedStatus of {len(discovered)} lead(s) is discovered from the "
                "org's converted LeadStatus when sending"
            )
        convert_index = len(calls)
        calls.append(
            PlannedCall(
                # The envelope is rendered from ``content`` only when it is shown or sent.
                NativeRequest(
                    "POST",
                    f"/services/Soap/u/{version}",
                    headers=soap_headers(),
                    content=converts,
                ),
                tuple(item.conversion.lead_id for item in chunk),
                CONVERT_KIND,
                reason,
            )
        )
        for item in chunk:
            body = follow_up_body(item.conversion)
            if body is None:
                continue
            calls.append(
                _new_call(
                    # method, path, query, json, body, headers, content
                    _new_request(
                        "PATCH", follow_up_path, _NO_STRINGS, body, None, _NO_STRINGS, None
                    ),
                    (item.conversion.lead_id,),
                    FOLLOW_UP_KIND,
                    "follow-up: convertLead cannot set "
                    + ", ".join(body)
                    + f"; they are set on the Opportunity created for lead "
                    f"{item.conversion.lead_id}",
                    convert_index,
                )
            )
    # The ids validate kept for these conversions have served.
    forget_ids()
    return BackendPlan(tuple(calls))
