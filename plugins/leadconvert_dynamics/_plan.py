"""Planning: neutral conversions -> ``$batch`` calls of QualifyLead change sets (pure).

Each group of ``batch_size`` leads is one ``$batch`` request with ``Prefer:
odata.continue-on-error``; each lead's bind (merge into an existing account or contact) and
its QualifyLead share a change set of their own, so the bind and the qualify succeed or fail
together and one lead's failure never touches another's. What QualifyLead cannot carry
(opportunity name and fields, the owner of the new records) is a follow-up ``$batch`` after
the qualify, one plain request per record, reported per lead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from leadconvert import (
    Conversion,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
)
from leadconvert.backend import (
    BackendPlan,
    NativeRequest,
    PlanItem,
    PlannedCall,
    PlanWarning,
    unsupported,
)

from ._options import DynamicsOptions
from ._rules import MAX_BATCH_PARTS, NAME, status_value
from ._wire import (
    DEFAULT_API_VERSION,
    FOLLOW_UP_KIND,
    QUALIFY_KIND,
    EntityRef,
    FollowUpBatch,
    FollowUpStep,
    LeadBind,
    LeadQualify,
    QualifyBatch,
    QualifyLeadBody,
    api_path,
    batch_headers,
    render_follow_ups,
    render_qualify,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "api_version",
    "batch_size",
    "follow_up_steps",
    "lead_qualify",
    "plan_conversions",
    "render_request",
]

#: Leads per ``$batch``: Microsoft advises starting small ("start with a small batch size of
#: 10"); batches do not bypass the service protection limits.
DEFAULT_BATCH_SIZE = 10

#: Neutral opportunity attributes -> opportunity logical names, set by the follow-up update.
OPPORTUNITY_FIELDS: Mapping[str, str] = {
    "name": "name",
    "close_date": "estimatedclosedate",
    "amount": "estimatedvalue",
    "stage": "stepname",
}


def api_version(settings: Mapping[str, str]) -> str:
    """The Web API version of the settings (default v9.2)."""
    return settings.get("api_version") or DEFAULT_API_VERSION


def batch_size(settings: Mapping[str, str]) -> int:
    """Leads per ``$batch`` (``check_settings`` has refused anything out of range)."""
    raw = settings.get("batch_size")
    size = int(raw) if raw else DEFAULT_BATCH_SIZE
    return max(1, min(size, MAX_BATCH_PARTS // 2))


def lead_qualify(conversion: Conversion, default_status: str | None) -> LeadQualify:
    """One lead's bind (if it merges) and QualifyLead parameters."""
    account, contact = conversion.account, conversion.contact
    merge_account = isinstance(account, MergeAccount)
    merge_contact = isinstance(contact, MergeContact)
    create_opportunity = isinstance(conversion.opportunity, CreateOpportunity)
    status_text = conversion.converted_status or default_status
    currency = campaign = None
    suppress = None
    if conversion.options:
        options = conversion.options_for(NAME)
        if isinstance(options, DynamicsOptions):
            if options.currency_id is not None:
                currency = EntityRef("transactioncurrency", options.currency_id)
            if options.source_campaign_id is not None:
                campaign = EntityRef("campaign", options.source_campaign_id)
            # Only when asked: Microsoft does not document the parameter for QualifyLead.
            suppress = True if options.suppress_duplicate_detection else None
    body = QualifyLeadBody(
        # A person account (refused; warned in lenient mode) falls back to the default.
        not merge_account,
        isinstance(contact, CreateContact),
        create_opportunity,
        status_value(status_text) if status_text else None,
        # Merged into an account: the opportunity's customer is that account, as the workflow
        # tools and the docs' own example set it; otherwise Dynamics picks the created account
        # or contact.
        (
            EntityRef("account", account.id)
            if create_opportunity and isinstance(account, MergeAccount)
            else None
        ),
        currency,
        campaign,
        suppress,
    )
    if not (merge_account or merge_contact):
        return LeadQualify(conversion.lead_id, body)
    bind = LeadBind(
        account.id if isinstance(account, MergeAccount) else None,
        contact.id if isinstance(contact, MergeContact) else None,
    )
    has_bind = bind.parent_account_id is not None or bind.parent_contact_id is not None
    return LeadQualify(conversion.lead_id, body, bind if has_bind else None)


def follow_up_steps(conversion: Conversion) -> list[FollowUpStep]:
    """Updates of the records the qualify will create: opportunity fields, then owners."""
    steps: list[FollowUpStep] = []
    owner_id = conversion.owner_id
    opportunity = conversion.opportunity
    if owner_id is None:
        if not isinstance(opportunity, CreateOpportunity):
            return steps
        owner = {}
    else:
        owner = {"ownerid@odata.bind": f"/systemusers({owner_id})"}
        if not isinstance(conversion.account, MergeAccount):
            steps.append(FollowUpStep(conversion.lead_id, "account", owner))
        if isinstance(conversion.contact, CreateContact):
            steps.append(FollowUpStep(conversion.lead_id, "contact", owner))
    if isinstance(opportunity, CreateOpportunity):
        # No name: Dynamics names the opportunity after the lead's topic, as it does anyway.
        body: dict[str, Any] = {} if opportunity.name is None else {"name": opportunity.name}
        if opportunity.close_date is not None:
            body["estimatedclosedate"] = opportunity.close_date.isoformat()
        if opportunity.amount is not None:
            body["estimatedvalue"] = opportunity.amount
        if opportunity.stage is not None:
            body["stepname"] = opportunity.stage
        if opportunity.fields:
            body.update(opportunity.fields)
        body.update(owner)
        if body:
            steps.append(FollowUpStep(conversion.lead_id, "opportunity", body))
    return steps


def render_request(request: NativeRequest) -> NativeRequest:
    """``request`` with its multipart body written from its content (plans and the client)."""
    content = request.content
    if isinstance(content, QualifyBatch):
        boundary, body = render_qualify(content)
    elif isinstance(content, FollowUpBatch):
        boundary, body = render_follow_ups(content)
    else:
        return request
    return NativeRequest(
        request.method,
        request.path,
        request.query,
        body=body,
        headers=batch_headers(boundary),
        content=content,
    )


def plan_conversions(items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
    """One qualify ``$batch`` per ``batch_size`` leads, each followed by its follow-up batch."""
    version = api_version(settings)
    size = batch_size(settings)
    default_status = settings.get("status") or None
    calls: list[PlannedCall] = []
    # Each lead's follow-ups, worked out once (for the warning below and for its batch).
    follow_ups = [follow_up_steps(item.conversion) for item in items]
    warnings = [
        PlanWarning(
            item.conversion.lead_id,
            unsupported(
                "dynamics.owner_nothing_created",
                "owner_id",
                "the owner is assigned to the records QualifyLead creates, and this conversion "
                "creates none (account and contact merged, no opportunity): owner_id is not sent",
                NAME,
            ),
            item.line,
        )
        for item, steps in zip(items, follow_ups, strict=True)
        if item.conversion.owner_id is not None and not steps
    ]
    groups = math.ceil(len(items) / size)
    for group in range(groups):
        chunk = items[group * size : (group + 1) * size]
        leads = tuple(lead_qualify(item.conversion, default_status) for item in chunk)
        binds = sum(1 for lead in leads if lead.bind is not None)
        resolved = sum(1 for lead in leads if not isinstance(lead.qualify.status, int))
        reason = (
            f"{len(chunk)} lead(s) in one $batch (batch_size {size}), each lead's "
            + ("parent bind and " if binds else "")
            + "QualifyLead in a change set of its own, continue-on-error"
        )
        if resolved:
            reason += (
                f"; Status of {resolved} lead(s) is read from the org's lead statuscode "
                "metadata when sending (null: the default Qualified status; a name: its value)"
            )
        number = len(calls) + 1
        content = QualifyBatch(version, number, leads)
        qualify_index = len(calls)
        calls.append(
            PlannedCall(
                # Rendered (multipart text) only when shown or sent: Backend.render.
                NativeRequest("POST", api_path(version, "$batch"), content=content),
                tuple(item.conversion.lead_id for item in chunk),
                QUALIFY_KIND,
                reason,
            )
        )
        steps = [step for lead in follow_ups[group * size : (group + 1) * size] for step in lead]
        if not steps:
            continue
        followed = tuple(dict.fromkeys(step.lead_id for step in steps))
        follow = FollowUpBatch(version, len(calls) + 1, tuple(steps))
        what = sorted({step.role for step in steps})
        calls.append(
            PlannedCall(
                NativeRequest("POST", api_path(version, "$batch"), content=follow),
                followed,
                FOLLOW_UP_KIND,
                f"follow-up: QualifyLead cannot set the {', '.join(what)} fields or owner; "
                f"{len(steps)} update(s) of the records it created for {len(followed)} lead(s), "
                "one request each, continue-on-error, reported per lead",
                after=qualify_index,
            )
        )
    return BackendPlan(tuple(calls), tuple(warnings))
