"""Planning (pure): leads in calls of at most two, everything a lead needs in its own entry."""

from __future__ import annotations

from collections.abc import Sequence

from leadconvert import CreateOpportunity, MergeAccount, MergeContact, ValidationError
from leadconvert.backend import BackendPlan, NativeRequest, PlanItem, PlannedCall

from ._rules import validate
from ._wire import CONVERT_PATH, MAX_BATCH, ConvertBody, DealWire, LeadWire, unstructure

__all__ = ["plan"]


def _lead(item: PlanItem) -> LeadWire:
    conversion = item.conversion
    # The core hands only valid conversions; anything else is a bug in the caller.
    problems = [v for v in validate(conversion) if not v.unsupported]
    if problems:
        raise ValidationError(problems, line=item.line)
    account, contact, deal = conversion.account, conversion.contact, conversion.opportunity
    return LeadWire(
        lead_id=conversion.lead_id,
        account_id=account.id if isinstance(account, MergeAccount) else None,
        contact_id=contact.id if isinstance(contact, MergeContact) else None,
        deal=(
            DealWire(deal.name, deal.amount)
            if isinstance(deal, CreateOpportunity) and deal.name is not None
            else None
        ),
        owner_id=conversion.owner_id,
    )


def plan(items: Sequence[PlanItem]) -> BackendPlan:
    """One ``POST /v1/convert`` per two leads."""
    leads = [_lead(item) for item in items]
    calls = []
    for start in range(0, len(leads), MAX_BATCH):
        batch = tuple(leads[start : start + MAX_BATCH])
        body = unstructure(ConvertBody(batch))
        calls.append(
            PlannedCall(
                NativeRequest("POST", CONVERT_PATH, json=body),
                tuple(lead.lead_id for lead in batch),
                "convert",
                f"Echo CRM converts up to {MAX_BATCH} leads per call",
            )
        )
    return BackendPlan(tuple(calls))
