"""Dataverse answers -> neutral results and errors (pure).

Errors are keyed on the OData ``error.code``, never on the HTTP status: Microsoft documents the
same duplicate error as 500 and as 412. The status decides only when the code is empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadconvert import (
    ConversionError,
    ConversionResult,
    ErrorCode,
    FollowUp,
    Outcome,
    ProtocolError,
)

from ._ids import IdError, canonical_guid
from ._wire import HttpMessage, LeadQualify

__all__ = [
    "ALREADY_CLOSED",
    "DUPLICATE",
    "NOT_INSTALLED_MESSAGE",
    "RATE_LIMIT_CODES",
    "created_ids",
    "error_body",
    "error_from",
    "follow_up_outcome",
    "is_not_installed",
    "qualify_results",
]

DUPLICATE = "0x80040333"
ALREADY_CLOSED = "0x80040519"
#: Service protection: number of requests, execution time, concurrent requests.
RATE_LIMIT_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326"})
#: "Resource not found for the segment": an entity set or action the org does not have.
RESOURCE_NOT_FOUND = "0x80060888"
NOT_INSTALLED_MESSAGE = (
    "Dynamics 365 Sales is not installed in this org: it has no lead table or QualifyLead action"
)

# (neutral code, worth retrying) by Dataverse error code.
_CODES: Mapping[str, tuple[ErrorCode, bool]] = {
    DUPLICATE: (ErrorCode.DUPLICATE, False),
    # SQL integrity violation and alternate-key duplicates: still a duplicate to the user.
    "0x80040237": (ErrorCode.DUPLICATE, False),
    "0x80060892": (ErrorCode.DUPLICATE, False),
    ALREADY_CLOSED: (ErrorCode.ALREADY_CONVERTED, False),
    "0x80040518": (ErrorCode.INVALID_DATA, False),
    "0x80072322": (ErrorCode.RATE_LIMITED, True),
    "0x80072321": (ErrorCode.RATE_LIMITED, True),
    "0x80072326": (ErrorCode.RATE_LIMITED, True),
    "0x80040220": (ErrorCode.PERMISSION_DENIED, False),
    "0x8004140c": (ErrorCode.PERMISSION_DENIED, False),
    "0x80040217": (ErrorCode.INVALID_REFERENCE, False),
    RESOURCE_NOT_FOUND: (ErrorCode.INVALID_REFERENCE, False),
    "0x80044331": (ErrorCode.INVALID_DATA, False),
    "0x80100002": (ErrorCode.INVALID_DATA, False),
    "0x80040203": (ErrorCode.INVALID_DATA, False),
    "0x80048408": (ErrorCode.INVALID_DATA, False),
    "0x8004431a": (ErrorCode.INVALID_DATA, False),
    "0x80040265": (ErrorCode.INVALID_DATA, False),
    "0x80040216": (ErrorCode.SERVER_ERROR, True),
}

_BY_STATUS: Mapping[int, tuple[ErrorCode, bool]] = {
    400: (ErrorCode.INVALID_DATA, False),
    401: (ErrorCode.AUTH_FAILED, False),
    403: (ErrorCode.PERMISSION_DENIED, False),
    404: (ErrorCode.INVALID_REFERENCE, False),
    412: (ErrorCode.INVALID_DATA, False),
    429: (ErrorCode.RATE_LIMITED, True),
}


def error_body(status: int, body: Any) -> tuple[str | None, str]:
    """(code, message) of an OData error body; code None when Dataverse left it empty."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, f"HTTP {status}"
    code = error.get("code")
    message = error.get("message")
    return (
        str(code).lower() if code else None,
        str(message) if message else f"HTTP {status}",
    )


def is_not_installed(code: str | None, message: str) -> bool:
    """Whether an error says the org has no lead table or QualifyLead (no Sales app)."""
    text = message.lower()
    if code == RESOURCE_NOT_FOUND and ("'leads'" in text or "qualifylead" in text):
        return True
    # Without the action, an unbound name reads as unresolved (the namespace rule's error).
    return "qualifylead" in text and ("unresolved" in text or "not found" in text)


def error_from(status: int, body: Any) -> ConversionError:
    """The neutral error of one OData error answer."""
    code, message = error_body(status, body)
    if is_not_installed(code, message):
        return ConversionError(
            ErrorCode.NOT_SUPPORTED,
            f"{NOT_INSTALLED_MESSAGE} ({message})",
            backend_code=code,
        )
    if code == "0x80040203" and "status" in message.lower():
        return ConversionError(ErrorCode.INVALID_STATUS, message, backend_code=code)
    if code == "0x80040203" and "unresolved" in message.lower():
        # An unknown parameter, such as SuppressDuplicateDetection on an org that lacks it.
        return ConversionError(
            ErrorCode.INVALID_DATA,
            f"{message} (a QualifyLead parameter this org does not support)",
            backend_code=code,
        )
    found = _CODES.get(code) if code else None
    if found is None:
        found = _BY_STATUS.get(status)
    if found is None:
        found = (ErrorCode.SERVER_ERROR, True) if status >= 500 else (ErrorCode.UNKNOWN, False)
    neutral, retryable = found
    return ConversionError(neutral, message, backend_code=code, retryable=retryable)


def created_ids(body: Any) -> dict[str, str]:
    """``{"account": id, ...}`` from QualifyLead's ``value[]`` (only what it created)."""
    value = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(value, list):
        raise ProtocolError("QualifyLead's answer holds no value[] of created records")
    out: dict[str, str] = {}
    for record in value:
        if not isinstance(record, Mapping):
            raise ProtocolError("QualifyLead's value[] holds a non-object")
        odata_type = str(record.get("@odata.type", ""))
        for entity in ("account", "contact", "opportunity"):
            key = f"{entity}id"
            if odata_type.endswith(f".{entity}") or (not odata_type and key in record):
                if not isinstance(record.get(key), str):
                    raise ProtocolError(f"a created {entity} in value[] has no {key}")
                out[entity] = _guid(record[key])
    return out


def _guid(value: str) -> str:
    try:
        return canonical_guid(value)
    except IdError:
        return value


def qualify_results(
    leads: Sequence[LeadQualify],
    items: Sequence[HttpMessage | list[HttpMessage]],
    call_index: int | None,
) -> list[ConversionResult]:
    """One result per lead of a qualify ``$batch`` answer, in order.

    Created ids come from ``value[]``; merged ids from the lead's bind (the input). An answer
    that does not pair one item with each change set is a protocol error.
    """
    if len(items) != len(leads):
        raise ProtocolError(
            f"the $batch answer holds {len(items)} item(s) for {len(leads)} change set(s)"
        )
    out: list[ConversionResult] = []
    for lead, item in zip(leads, items, strict=True):
        answers = item if isinstance(item, list) else [item]
        failed = next((a for a in answers if a.status >= 400), None)
        if failed is not None:
            error = error_from(failed.status, _json(failed))
            outcome = (
                Outcome.ALREADY_CONVERTED
                if error.code is ErrorCode.ALREADY_CONVERTED
                else Outcome.FAILED
            )
            out.append(ConversionResult(lead.lead_id, outcome, error=error, call=call_index))
            continue
        qualified = answers[-1]
        created = created_ids(_json(qualified))
        bind = lead.bind
        out.append(
            ConversionResult(
                lead.lead_id,
                Outcome.CONVERTED,
                account_id=created.get("account") or (bind.parent_account_id if bind else None),
                contact_id=created.get("contact") or (bind.parent_contact_id if bind else None),
                opportunity_id=created.get("opportunity"),
                call=call_index,
            )
        )
    return out


def _json(message: HttpMessage) -> Any:
    try:
        return message.json()
    except ValueError as exc:
        raise ProtocolError(f"a $batch part's body is not JSON: {exc}") from exc


def follow_up_outcome(action: str, message: HttpMessage) -> FollowUp:
    """One follow-up step's outcome from its part of the answer."""
    if message.status < 400:
        return FollowUp(action, True)
    return FollowUp(action, False, error_from(message.status, _json(message)))
