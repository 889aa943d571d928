"""Native requests back into neutral conversions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cattrs

from leadconvert import (
    Conversion,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
)
from leadconvert.backend import PlannedCall

from ._wire import CONVERT_PATH, LeadWire, structure

__all__ = ["parse"]


def _conversion(lead: LeadWire) -> Conversion:
    targets: dict[str, Any] = {}
    if lead.account_id is not None:
        targets["account"] = MergeAccount(lead.account_id)
    if lead.contact_id is not None:
        targets["contact"] = MergeContact(lead.contact_id)
    if lead.deal is not None:
        targets["opportunity"] = CreateOpportunity(lead.deal.name, amount=lead.deal.amount)
    return Conversion(lead_id=lead.lead_id, owner_id=lead.owner_id, **targets)


def parse(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """The conversions of convert requests (planned, or one bare body with path ``""``)."""
    out: list[Conversion] = []
    for number, call in enumerate(calls, 1):
        request = call.request
        if request.path not in ("", CONVERT_PATH):
            raise InputError(f"request {number}: {request.path!r} is not {CONVERT_PATH}")
        try:
            body = structure(request.json)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            detail = (
                "; ".join(cattrs.transform_error(exc))
                if isinstance(exc, cattrs.BaseValidationError)
                else str(exc)
            )
            raise InputError(f"request {number}: not an Echo convert body: {detail}") from exc
        out.extend(_conversion(lead) for lead in body.leads)
    return out
