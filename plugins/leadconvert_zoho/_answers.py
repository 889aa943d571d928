"""Pure reading of Zoho's answers into neutral results, match reports and lead states.

Zoho answers 200, 202, 204 and 400 for conversions, with errors either per record inside
``data`` or at the top level: the body's ``status`` and ``code`` decide, not the HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from leadconvert import (
    ConversionError,
    ConversionResult,
    ErrorCode,
    MatchCandidate,
    MatchedField,
    MatchReport,
    Module,
    Outcome,
    loads_json,
)
from leadconvert.backend import NativeAnswer, PlannedCall

__all__ = [
    "CODES",
    "ParsedAnswer",
    "answer_body",
    "error_from",
    "parse_body",
    "read_answer",
    "read_lead_states",
    "read_match",
]

#: Every Zoho code the documents name, mapped to its neutral code.
CODES: Mapping[str, ErrorCode] = {
    "DUPLICATE_DATA": ErrorCode.DUPLICATE,
    "ID_ALREADY_CONVERTED": ErrorCode.ALREADY_CONVERTED,
    "INVALID_DATA": ErrorCode.INVALID_DATA,  # refined to INVALID_REFERENCE by its details
    "MANDATORY_NOT_FOUND": ErrorCode.REQUIRED_FIELD_MISSING,
    "EXPECTED_FIELD_MISSING": ErrorCode.REQUIRED_FIELD_MISSING,
    "REQUIRED_PARAM_MISSING": ErrorCode.REQUIRED_FIELD_MISSING,
    "MAPPING_MISMATCH": ErrorCode.INVALID_DATA,
    "AMBIGUITY_DURING_PROCESSING": ErrorCode.INVALID_REFERENCE,
    "RECORD_LOCKED": ErrorCode.LOCKED,
    "NOT_APPROVED": ErrorCode.NOT_APPROVED,
    "NO_PERMISSION": ErrorCode.PERMISSION_DENIED,
    "AUTHORIZATION_FAILED": ErrorCode.PERMISSION_DENIED,
    "LIMIT_EXCEEDED": ErrorCode.LIMIT_EXCEEDED,
    "TOO_MANY_REQUESTS": ErrorCode.RATE_LIMITED,
    "INVALID_TOKEN": ErrorCode.AUTH_FAILED,
    "AUTHENTICATION_FAILURE": ErrorCode.AUTH_FAILED,
    "OAUTH_SCOPE_MISMATCH": ErrorCode.AUTH_FAILED,
    "INTERNAL_ERROR": ErrorCode.SERVER_ERROR,
    # Our own request is wrong (a bug or a version mismatch), not the lead's data.
    "INVALID_URL_PATTERN": ErrorCode.INVALID_DATA,
    "INVALID_REQUEST_METHOD": ErrorCode.INVALID_DATA,
    "UNSUPPORTED_VERSION": ErrorCode.INVALID_DATA,
}
_RETRYABLE = {ErrorCode.RATE_LIMITED, ErrorCode.SERVER_ERROR, ErrorCode.NETWORK_ERROR}
#: Keys naming another record: INVALID_DATA on one of them is a bad reference, not bad data.
_REFERENCE_KEYS = {
    "Accounts",
    "Contacts",
    "assign_to",
    "Contact_Role",
    "id",
    "ids",
    "related_modules",
    "portal_user_type",
    "move_attachments_to",
    "carry_over_tags",
}


def parse_body(body: bytes) -> Any:
    """The JSON body, or None when there is none or it is not JSON."""
    if not body.strip():
        return None
    try:
        return loads_json(body)
    except ValueError:
        return None


@frozen
class ParsedAnswer(NativeAnswer):
    """An answer the client received, with its body read as JSON once (``parse_body``): the
    client looks at it for a refused token, then for an error, then reads it; each read
    parsed the body again (a 50-lead Get Records answer three times)."""

    parsed: Any = None


def answer_body(answer: NativeAnswer) -> Any:
    """``parse_body`` of the answer's body, read when the client received it if it was."""
    if type(answer) is ParsedAnswer:
        return answer.parsed
    return parse_body(answer.body)


def _fields(details: Any) -> tuple[str, ...]:
    if not isinstance(details, Mapping):
        return ()
    out: list[str] = []
    for key in ("api_name", "json_path", "param_name", "param"):
        value = details.get(key)
        if isinstance(value, str):
            out.append(value)
    for expected in details.get("expected_fields") or ():
        if isinstance(expected, Mapping):
            out.extend(str(expected[k]) for k in ("api_name", "json_path") if k in expected)
    return tuple(out)


def error_from(item: Mapping[str, Any], http_status: int | None = None) -> ConversionError:
    """A neutral error from one Zoho error object ``{code, message, details, status}``."""
    code = str(item.get("code") or "")
    details = item.get("details")
    neutral = CODES.get(code, ErrorCode.UNKNOWN)
    if code == "INVALID_DATA" and isinstance(details, Mapping):
        names = {str(details.get("api_name", ""))}
        path = str(details.get("json_path", ""))
        names.update(part.strip("$[]0123456789") for part in path.split("."))
        if "resource_path_index" in details or names & _REFERENCE_KEYS:
            neutral = ErrorCode.INVALID_REFERENCE
    if neutral is ErrorCode.UNKNOWN and http_status is not None:
        if http_status == 429:
            neutral = ErrorCode.RATE_LIMITED
        elif http_status >= 500:
            neutral = ErrorCode.SERVER_ERROR
    return ConversionError(
        code=neutral,
        message=str(item.get("message") or code or "Zoho gave no message"),
        backend_code=code or None,
        fields=_fields(details),
        retryable=neutral in _RETRYABLE,
    )


def _failed(
    lead_id: str, error: ConversionError, call: int | None, job_id: str | None = None
) -> ConversionResult:
    outcome = (
        Outcome.ALREADY_CONVERTED if error.code is ErrorCode.ALREADY_CONVERTED else Outcome.FAILED
    )
    return ConversionResult(lead_id, outcome, error=error, call=call, job_id=job_id)


def _ref_id(value: Any) -> str | None:
    # Three a lead in every answer: a string id takes the exact check, not an ABC's.
    if type(value) is str:
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return str(found) if found is not None else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def unknown(lead_ids: Sequence[str], message: str, call: int | None) -> list[ConversionResult]:
    """UNKNOWN results: the request may or may not have been applied."""
    error = ConversionError(ErrorCode.UNKNOWN, message, retryable=False)
    return [ConversionResult(lead, Outcome.UNKNOWN, error=error, call=call) for lead in lead_ids]


def read_answer(
    call: PlannedCall, answer: NativeAnswer, call_index: int | None = None
) -> list[ConversionResult]:
    """One neutral result per lead of ``call`` from Zoho's answer (pure)."""
    leads = call.lead_ids
    body = answer_body(answer)
    if not isinstance(body, Mapping):
        if answer.status == 429 or answer.status >= 500:
            item = {"code": "TOO_MANY_REQUESTS" if answer.status == 429 else "INTERNAL_ERROR"}
            error = error_from({**item, "message": f"HTTP {answer.status}"}, answer.status)
            return [_failed(lead, error, call_index) for lead in leads]
        return unknown(
            leads, f"Zoho's answer (HTTP {answer.status}) is not a JSON object", call_index
        )
    # Top-level error shape: {"code", "details", "message", "status": "error"}.
    if body.get("status") == "error" and "data" not in body:
        error = error_from(body, answer.status)
        return [_failed(lead, error, call_index) for lead in leads]
    if call.kind == "mass_convert":
        if body.get("code") == "SCHEDULED" and body.get("status") == "success":
            details = body.get("details")
            job_id = _ref_id({"id": details.get("job_id")} if isinstance(details, Mapping) else {})
            if job_id is None:
                return unknown(leads, "mass convert was scheduled without a job_id", call_index)
            return [
                ConversionResult(lead, Outcome.SCHEDULED, call=call_index, job_id=job_id)
                for lead in leads
            ]
        return unknown(leads, f"unexpected mass convert answer: {body.get('code')!r}", call_index)
    data = body.get("data")
    if not isinstance(data, list) or len(data) != len(leads):
        return unknown(leads, "Zoho's answer has no data element per lead", call_index)
    results: list[ConversionResult] = []
    for lead, item in zip(leads, data, strict=True):
        if not isinstance(item, Mapping):
            results.extend(unknown([lead], "a data element is not an object", call_index))
        elif item.get("status") == "success" and item.get("code") == "SUCCESS":
            details = item.get("details")
            if not isinstance(details, Mapping):
                details = {}
            results.append(
                ConversionResult(
                    lead,
                    Outcome.CONVERTED,
                    account_id=_ref_id(details.get("Accounts")),
                    contact_id=_ref_id(details.get("Contacts")),
                    opportunity_id=_ref_id(details.get("Deals")),
                    call=call_index,
                )
            )
        elif item.get("status") == "error":
            results.append(_failed(lead, error_from(item, answer.status), call_index))
        else:
            results.extend(unknown([lead], f"unexpected status {item.get('status')!r}", call_index))
    return results


def read_lead_states(
    lead_ids: Sequence[str], body: Any, job_id: str | None = None, call: int | None = None
) -> list[ConversionResult]:
    """What Get Records says of each lead: converted (and into what) or not; each result
    carries ``job_id`` and ``call`` (the job and the call that asked).

    [I] Get Records on Leads with ``converted=both`` returns converted leads too; each record
    carries ``$converted`` (bool) and ``$converted_detail`` whose ``account``, ``contact`` and
    ``deal`` hold the ids (a string or ``{"id": ...}``). A lead missing from the answer cannot
    be established.
    """
    records: dict[str, Mapping[str, Any]] = {}
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        for record in body["data"]:
            if (type(record) is dict or isinstance(record, Mapping)) and record.get(
                "id"
            ) is not None:
                records[str(record["id"])] = record
    out: list[ConversionResult] = []
    for lead in lead_ids:
        record = records.get(lead)
        if record is None or not isinstance(record.get("$converted"), bool):
            error = ConversionError(
                ErrorCode.UNKNOWN, "Zoho did not say whether the lead is converted"
            )
            out.append(
                ConversionResult(lead, Outcome.UNKNOWN, error=error, call=call, job_id=job_id)
            )
        elif record["$converted"]:
            detail = record.get("$converted_detail") or {}
            if type(detail) is not dict and not isinstance(detail, Mapping):
                detail = {}
            out.append(
                ConversionResult(
                    lead,
                    Outcome.CONVERTED,
                    account_id=_ref_id(detail.get("account")),
                    contact_id=_ref_id(detail.get("contact")),
                    opportunity_id=_ref_id(detail.get("deal")),
                    call=call,
                    job_id=job_id,
                )
            )
        else:
            out.append(ConversionResult(lead, Outcome.NOT_ATTEMPTED, call=call, job_id=job_id))
    return out


_MODULE_KEYS = {"Contacts": Module.CONTACTS, "Accounts": Module.ACCOUNTS, "Deals": Module.DEALS}


def _candidates(
    module: Module, records: Any, matched: Sequence[Mapping[str, Any]]
) -> tuple[MatchCandidate, ...]:
    out: list[MatchCandidate] = []
    for record in records or ():
        if not isinstance(record, Mapping) or record.get("id") is None:
            continue
        fields = []
        rank = len(matched)
        for position, entry in enumerate(matched):
            field = entry.get("field") or {}
            api_name = field.get("api_name") if isinstance(field, Mapping) else None
            value = entry.get("matched_lead_value")
            # Zoho lists matched values per module; a record matched on a field when it holds
            # the lead's value there.
            held = record.get(api_name) if api_name else None
            if isinstance(held, Mapping):
                held = held.get("name")
            if api_name and value is not None and held == value:
                fields.append(MatchedField(api_name, str(value)))
                # Zoho lists the matched fields in its order of preference.
                rank = min(rank, position)
        account = record.get("Account_Name")
        if module is Module.CONTACTS:
            name = record.get("Full_Name")
        elif module is Module.ACCOUNTS:
            name = account if isinstance(account, str) else None
        else:
            name = record.get("Deal_Name")
        out.append(
            MatchCandidate(
                module=module,
                id=str(record["id"]),
                name=str(name) if name is not None else None,
                matched_fields=tuple(fields),
                account_id=_ref_id(account) if isinstance(account, Mapping) else None,
                editable=record.get("$editable") is not False,
                locked=record.get("Locked__s") is True,
                approved=record.get("$approval_state", "approved") == "approved",
                rank=rank,
            )
        )
    return tuple(out)


def read_match(lead_id: str, status: int, body: Any) -> MatchReport:
    """A neutral match report from Lead Conversion Options (HTTP 204 = nothing matches)."""
    if status == 204 or body is None:
        return MatchReport(lead_id)
    options = body.get("__conversion_options") if isinstance(body, Mapping) else None
    if not isinstance(options, Mapping):
        return MatchReport(lead_id)
    preference = options.get("module_preference") or {}
    preferred = _MODULE_KEYS.get(preference.get("api_name", "")) if preference else None
    matched = options.get("preference_field_matched_value") or {}
    return MatchReport(
        lead_id=lead_id,
        preferred_module=preferred,
        contacts=_candidates(
            Module.CONTACTS, options.get("Contacts"), matched.get("Contacts") or ()
        ),
        accounts=_candidates(
            Module.ACCOUNTS, options.get("Accounts"), matched.get("Accounts") or ()
        ),
        deals=_candidates(Module.DEALS, options.get("Deals"), matched.get("Deals") or ()),
    )
