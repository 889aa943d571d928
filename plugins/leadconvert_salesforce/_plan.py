"""Salesforce planning (pure): LeadConvert rows in calls of up to 100, and the follow-up update
of each created Opportunity with what convertLead cannot carry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadconvert import (
    AttachOpportunity,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    NoOpportunity,
)
from leadconvert.backend import BackendPlan, NativeRequest, PlanItem, PlannedCall

from ._ids import canonical_id
from ._options import NAME, SalesforceOptions
from ._wire import (
    CONVERT_KIND,
    CONVERTED_STATUS_PLACEHOLDER,
    FOLLOW_UP_KIND,
    MAX_BATCH,
    OPPORTUNITY_ID_PLACEHOLDER,
    api_version,
    build_envelope,
    soap_headers,
)

__all__ = ["follow_up_body", "plan", "row_for"]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def row_for(conversion: Conversion, default_status: str | None = None) -> dict[str, str]:
    """The LeadConvert row of a valid conversion.

    What Salesforce cannot express (lenient mode lets such conversions through) is not sent.
    """
    row: dict[str, str] = {"leadId": canonical_id(conversion.lead_id, "Lead")}
    account = conversion.account
    if isinstance(account, MergeAccount | MergePersonAccount):
        row["accountId"] = canonical_id(account.id, "Account")
    options = conversion.options_for(NAME)
    if isinstance(options, SalesforceOptions):
        if options.bypass_account_dedupe_check is not None:
            row["bypassAccountDedupeCheck"] = _bool(options.bypass_account_dedupe_check)
        if options.bypass_contact_dedupe_check is not None:
            row["bypassContactDedupeCheck"] = _bool(options.bypass_contact_dedupe_check)
    if isinstance(conversion.contact, MergeContact):
        row["contactId"] = canonical_id(conversion.contact.id, "Contact")
    row["convertedStatus"] = (
        conversion.converted_status or default_status or CONVERTED_STATUS_PLACEHOLDER
    )
    opportunity = conversion.opportunity
    row["doNotCreateOpportunity"] = _bool(isinstance(opportunity, NoOpportunity))
    if isinstance(opportunity, AttachOpportunity):
        row["opportunityId"] = canonical_id(opportunity.id, "Opportunity")
    elif isinstance(opportunity, CreateOpportunity):
        row["opportunityName"] = opportunity.name
    row["overwriteLeadSource"] = _bool(conversion.overwrite_lead_source)
    if conversion.owner_id is not None:
        row["ownerId"] = canonical_id(conversion.owner_id, "User")
    row["sendNotificationEmail"] = _bool(conversion.notify_new_owner)
    return row


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


def plan(items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
    """convertLead calls of up to 100 leads, each followed by its opportunity updates."""
    version = api_version(settings)
    default_status = settings.get("converted_status") or None
    batch = MAX_BATCH
    calls: list[PlannedCall] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        rows = [row_for(item.conversion, default_status) for item in chunk]
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
                NativeRequest(
                    "POST",
                    f"/services/Soap/u/{version}",
                    body=build_envelope(rows),
                    headers=soap_headers(),
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
                PlannedCall(
                    NativeRequest(
                        "PATCH",
                        f"/services/data/v{version}/sobjects/Opportunity/"
                        f"{OPPORTUNITY_ID_PLACEHOLDER}",
                        json=body,
                    ),
                    (item.conversion.lead_id,),
                    FOLLOW_UP_KIND,
                    "follow-up: convertLead cannot set "
                    + ", ".join(body)
                    + f"; they are set on the Opportunity created for lead "
                    f"{item.conversion.lead_id}",
                    after=convert_index,
                )
            )
    return BackendPlan(tuple(calls))
