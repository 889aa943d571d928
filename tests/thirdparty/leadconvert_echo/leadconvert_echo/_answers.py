"""Echo CRM's answers read into neutral results (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from leadconvert import (
    AuthenticationError,
    ConversionError,
    ConversionResult,
    ErrorCode,
    MatchCandidate,
    MatchReport,
    Module,
    Outcome,
    ProtocolError,
    RateLimitedError,
    ServerError,
)
from leadconvert.backend import NativeAnswer, retry_after

__all__ = ["raise_for_status", "read_convert", "read_leads", "read_matches"]

_CODES = {
    "ALREADY_CONVERTED": (Outcome.ALREADY_CONVERTED, ErrorCode.ALREADY_CONVERTED),
    "NOT_FOUND": (Outcome.FAILED, ErrorCode.INVALID_REFERENCE),
    "INVALID": (Outcome.FAILED, ErrorCode.INVALID_DATA),
}


def _json(answer: NativeAnswer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError as exc:
        raise ProtocolError(f"Echo CRM answered {answer.status} with no JSON") from exc


def raise_for_status(answer: NativeAnswer) -> None:
    """The errors that concern the whole request, mapped into leadconvert's tree."""
    if answer.status == 401:
        raise AuthenticationError("Echo CRM refused the token", backend_code="UNAUTHORIZED")
    if answer.status == 429:
        raise RateLimitedError(
            "Echo CRM asked to slow down",
            backend_code="RATE_LIMITED",
            retry_after=retry_after(answer.headers),
        )
    if answer.status >= 500:
        raise ServerError(f"Echo CRM failed on its side ({answer.status})")
    if answer.status != 200:
        raise ProtocolError(f"Echo CRM answered {answer.status}")


def read_convert(
    lead_ids: Sequence[str], answer: NativeAnswer, call: int | None
) -> list[ConversionResult]:
    """One result per lead of a convert call, in order."""
    raise_for_status(answer)
    data = _json(answer)
    rows = data.get("results") if isinstance(data, dict) else None
    if not isinstance(rows, list) or len(rows) != len(lead_ids):
        raise ProtocolError("Echo CRM's convert answer does not list every lead")
    out = []
    for lead_id, row in zip(lead_ids, rows, strict=True):
        if not isinstance(row, dict) or row.get("id") != lead_id:
            raise ProtocolError(f"Echo CRM's answer for {lead_id} names another lead")
        if row.get("ok") is True:
            out.append(
                ConversionResult(
                    lead_id,
                    Outcome.CONVERTED,
                    account_id=row.get("account_id"),
                    contact_id=row.get("contact_id"),
                    opportunity_id=row.get("deal_id"),
                    call=call,
                )
            )
            continue
        code = str(row.get("error", "UNKNOWN"))
        outcome, neutral = _CODES.get(code, (Outcome.FAILED, ErrorCode.UNKNOWN))
        error = ConversionError(neutral, str(row.get("message", code)), code)
        out.append(ConversionResult(lead_id, outcome, error=error, call=call))
    return out


def read_leads(lead_ids: Sequence[str], answer: NativeAnswer) -> list[ConversionResult]:
    """What ``GET /v1/leads`` says of each lead: converted (with ids), not, or not found."""
    raise_for_status(answer)
    data = _json(answer)
    rows = data.get("leads") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ProtocolError("Echo CRM's lead answer has no leads")
    found = {row.get("id"): row for row in rows if isinstance(row, dict)}
    out = []
    for lead_id in lead_ids:
        row = found.get(lead_id)
        if row is None:
            error = ConversionError(ErrorCode.INVALID_REFERENCE, f"no lead {lead_id}", "NOT_FOUND")
            out.append(ConversionResult(lead_id, Outcome.FAILED, error=error))
        elif row.get("converted") is True:
            out.append(
                ConversionResult(
                    lead_id,
                    Outcome.CONVERTED,
                    account_id=row.get("account_id"),
                    contact_id=row.get("contact_id"),
                    opportunity_id=row.get("deal_id"),
                )
            )
        else:
            out.append(ConversionResult(lead_id, Outcome.NOT_ATTEMPTED))
    return out


def read_matches(lead_id: str, answer: NativeAnswer) -> MatchReport:
    """The contacts and accounts Echo CRM says match a lead."""
    raise_for_status(answer)
    data = _json(answer)
    if not isinstance(data, dict):
        raise ProtocolError("Echo CRM's match answer is not an object")

    def candidates(key: str, module: Module) -> tuple[MatchCandidate, ...]:
        return tuple(
            MatchCandidate(
                module, str(row["id"]), row.get("name"), account_id=row.get("account_id")
            )
            for row in data.get(key, [])
        )

    return MatchReport(
        lead_id,
        contacts=candidates("contacts", Module.CONTACTS),
        accounts=candidates("accounts", Module.ACCOUNTS),
    )
