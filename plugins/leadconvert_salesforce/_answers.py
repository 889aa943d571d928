"""Reading Salesforce's answers to convertLead into neutral results (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from attrs import frozen

from leadconvert import (
    AuthenticationError,
    ConversionError,
    ConversionResult,
    ErrorCode,
    Outcome,
    ProtocolError,
    RateLimitedError,
    ServerError,
)
from leadconvert.backend import retry_after

from ._ids import IdError, canonical_id
from ._wire import PARTNER_NS, SOAP_NS, XSI_NS

__all__ = [
    "FAULT_CODES",
    "STATUS_CODES",
    "Fault",
    "matched_in_json",
    "matched_in_rest",
    "parse_fault",
    "parse_xml",
    "raise_for_fault",
    "read_convert_answer",
    "with_matches",
]

FAULT_NS = "urn:fault.partner.soap.sforce.com"

#: Per-record ``statusCode`` -> neutral code (and whether a later retry could succeed).
STATUS_CODES: Mapping[str, tuple[ErrorCode, bool]] = {
    "INVALID_STATUS": (ErrorCode.INVALID_STATUS, False),
    "CANNOT_UPDATE_CONVERTED_LEAD": (ErrorCode.ALREADY_CONVERTED, False),
    "INVALID_CROSS_REFERENCE_KEY": (ErrorCode.INVALID_REFERENCE, False),
    "ENTITY_IS_DELETED": (ErrorCode.INVALID_REFERENCE, False),
    "REQUIRED_FIELD_MISSING": (ErrorCode.REQUIRED_FIELD_MISSING, False),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (ErrorCode.INVALID_DATA, False),
    "STRING_TOO_LONG": (ErrorCode.INVALID_DATA, False),
    "DUPLICATES_DETECTED": (ErrorCode.DUPLICATE, False),
    "INSUFFICIENT_ACCESS_OR_READONLY": (ErrorCode.PERMISSION_DENIED, False),
    "UNABLE_TO_LOCK_ROW": (ErrorCode.LOCKED, True),
}

#: Faults about the request's content: every lead of the call fails with this code.
FAULT_CODES: Mapping[str, ErrorCode] = {
    "EXCEEDED_LEAD_CONVERT_LIMIT": ErrorCode.LIMIT_EXCEEDED,
    "INSUFFICIENT_ACCESS": ErrorCode.PERMISSION_DENIED,
    "MALFORMED_ID": ErrorCode.INVALID_REFERENCE,
    "INVALID_ID_FIELD": ErrorCode.INVALID_REFERENCE,
    "INVALID_OPERATION": ErrorCode.INVALID_DATA,
    "INVALID_FIELD": ErrorCode.INVALID_DATA,
}


@frozen
class Fault:
    """A SOAP fault: Salesforce's exception code and message."""

    code: str
    message: str


def parse_xml(body: bytes) -> Element:
    """Parse an answer with defusedxml; anything unreadable is a ``ProtocolError``."""
    try:
        root: Element = SafeET.fromstring(body)
    except Exception as exc:  # ParseError and defusedxml's refusals share no base class
        raise ProtocolError(f"Salesforce answered a body that is not XML: {exc}") from exc
    return root


def parse_fault(root: Element) -> Fault | None:
    """The fault an envelope carries, if it is one."""
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if fault is None:
        return None
    code = ""
    for element in fault.iter():
        if element.tag == f"{{{FAULT_NS}}}exceptionCode" and element.text:
            code = element.text.strip()
            break
    if not code:
        # faultcode is a QName such as "sf:INVALID_SESSION_ID"; the prefix is not ours to trust.
        code = (fault.findtext("faultcode") or "").rpartition(":")[2].strip()
    message = (fault.findtext("faultstring") or "").strip()
    return Fault(code or "UNKNOWN_EXCEPTION", message)


def raise_for_fault(fault: Fault, headers: Mapping[str, str]) -> None:
    """Raise the typed error of a fault about the session or the org, not the request."""
    text = f"Salesforce fault {fault.code}: {fault.message}"
    if fault.code == "INVALID_SESSION_ID":
        raise AuthenticationError(text, backend_code=fault.code)
    if fault.code == "REQUEST_LIMIT_EXCEEDED":
        raise RateLimitedError(text, backend_code=fault.code, retry_after=retry_after(headers))
    if fault.code in {"SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}:
        raise ServerError(text, backend_code=fault.code)


def _nil(element: Element | None) -> bool:
    return element is None or element.get(f"{{{XSI_NS}}}nil") in ("true", "1")


def _id(result: Element, name: str) -> str | None:
    element = result.find(f"{{{PARTNER_NS}}}{name}")
    if _nil(element):
        return None
    assert element is not None
    text = (element.text or "").strip()
    return text or None


#: Salesforce spells it ``duplicateResult`` in the WSDL and ``duplicateResut`` in REST answers.
_DUPLICATE_RESULT = ("duplicateResult", "duplicateResut")


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _matched_in_xml(error: Element) -> list[str]:
    """The ids of the records a DuplicateError's duplicateResult matched, in its order.

    ``duplicateResult/matchResults/matchRecords/record/Id``; the record is an ``sObject`` in
    the ``urn:sobject.partner.soap.sforce.com`` namespace, so names are matched locally.
    """
    out: list[str] = []
    for child in error:
        if _local_name(child.tag) not in _DUPLICATE_RESULT:
            continue
        for element in child.iter():
            if _local_name(element.tag) != "matchRecords":
                continue
            for record in element:
                if _local_name(record.tag) != "record":
                    continue
                for field in record:
                    text = (field.text or "").strip()
                    if _local_name(field.tag) == "Id" and text and text not in out:
                        out.append(text)
    return out


def matched_in_json(error: Mapping[str, object]) -> list[str]:
    """The matched record ids of a REST error object's ``duplicateResut`` (or
    ``duplicateResult``): ``matchResults[].matchRecords[].record.Id``."""
    out: list[str] = []
    for key in _DUPLICATE_RESULT:
        result = error.get(key)
        if not isinstance(result, Mapping):
            continue
        for match in result.get("matchResults") or ():
            if not isinstance(match, Mapping):
                continue
            for record in match.get("matchRecords") or ():
                fields = record.get("record") if isinstance(record, Mapping) else None
                found = fields.get("Id") if isinstance(fields, Mapping) else None
                if isinstance(found, str) and found and found not in out:
                    out.append(found)
    return out


def matched_in_rest(content: object) -> list[str]:
    """The matched record ids of a REST error body (a list of error objects), if any."""
    out: list[str] = []
    for error in content if isinstance(content, list) else ():
        if isinstance(error, Mapping):
            out.extend(i for i in matched_in_json(error) if i not in out)
    return out


def with_matches(message: str, matched: Sequence[str]) -> str:
    """``message`` naming the matched records, so a report reader can merge into them."""
    if not matched:
        return message
    return f"{message} (matched records: {', '.join(matched)})"


def _error(result: Element) -> ConversionError:
    errors = result.findall(f"{{{PARTNER_NS}}}errors")
    if not errors:
        return ConversionError(ErrorCode.UNKNOWN, "Salesforce reported a failure without errors")
    first = errors[0]
    status = (first.findtext(f"{{{PARTNER_NS}}}statusCode") or "").strip()
    messages = [(e.findtext(f"{{{PARTNER_NS}}}message") or "").strip() for e in errors]
    fields = tuple(
        (f.text or "").strip() for e in errors for f in e.findall(f"{{{PARTNER_NS}}}fields")
    )
    code, retryable = STATUS_CODES.get(status, (ErrorCode.UNKNOWN, False))
    matched: list[str] = []
    for error in errors:
        matched.extend(i for i in _matched_in_xml(error) if i not in matched)
    return ConversionError(
        code=code,
        message=with_matches("; ".join(m for m in messages if m) or status, matched),
        backend_code=status or None,
        fields=tuple(f for f in fields if f),
        retryable=retryable,
        matched_ids=tuple(matched),
    )


def _same_lead(given: str, answered: str | None) -> bool:
    if answered is None or answered == given:
        return True
    try:
        return canonical_id(given) == canonical_id(answered)
    except IdError:
        return False


def read_convert_answer(
    lead_ids: Sequence[str],
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    call_index: int | None = None,
) -> list[ConversionResult]:
    """One result per lead of a convertLead call, in order.

    Faults about the session or the org (expired session, rate limit, outage) are raised as
    typed errors, since retrying or logging in again may cure them; faults about the request's
    content fail every lead of the call with a neutral code.
    """
    if status >= 500 and not body.lstrip().startswith(b"<"):
        raise ServerError(f"Salesforce answered HTTP {status} without a SOAP fault")
    root = parse_xml(body)
    fault = parse_fault(root)
    if fault is not None:
        raise_for_fault(fault, headers)
        code = FAULT_CODES.get(fault.code, ErrorCode.UNKNOWN)
        error = ConversionError(code, fault.message or fault.code, backend_code=fault.code)
        return [
            ConversionResult(lead, Outcome.FAILED, error=error, call=call_index)
            for lead in lead_ids
        ]
    if status != 200:
        if status >= 500:
            raise ServerError(f"Salesforce answered HTTP {status} without a SOAP fault")
        raise ProtocolError(f"Salesforce answered HTTP {status} to convertLead without a fault")
    response = root.find(f"{{{SOAP_NS}}}Body/{{{PARTNER_NS}}}convertLeadResponse")
    if response is None:
        raise ProtocolError("Salesforce's answer holds no convertLeadResponse")
    results = response.findall(f"{{{PARTNER_NS}}}result")
    if len(results) != len(lead_ids):
        raise ProtocolError(
            f"Salesforce answered {len(results)} result(s) for {len(lead_ids)} lead(s)"
        )
    out = []
    for lead, result in zip(lead_ids, results, strict=True):
        if not _same_lead(lead, _id(result, "leadId")):
            raise ProtocolError(
                f"Salesforce's results are out of order: expected lead {lead}, "
                f"got {_id(result, 'leadId')}"
            )
        success = (result.findtext(f"{{{PARTNER_NS}}}success") or "").strip()
        account_id = _id(result, "accountId")
        contact_id = _id(result, "contactId")
        opportunity_id = _id(result, "opportunityId")
        if success in ("true", "1"):
            out.append(
                ConversionResult(
                    lead,
                    Outcome.CONVERTED,
                    account_id=account_id,
                    contact_id=contact_id,
                    opportunity_id=opportunity_id,
                    call=call_index,
                )
            )
            continue
        if success not in ("false", "0"):
            raise ProtocolError(f"Salesforce's result for lead {lead} has success={success!r}")
        error = _error(result)
        outcome = (
            Outcome.ALREADY_CONVERTED
            if error.code is ErrorCode.ALREADY_CONVERTED
            else Outcome.FAILED
        )
        out.append(
            ConversionResult(
                lead,
                outcome,
                account_id=account_id,
                contact_id=contact_id,
                opportunity_id=opportunity_id,
                error=error,
                call=call_index,
            )
        )
    return out
