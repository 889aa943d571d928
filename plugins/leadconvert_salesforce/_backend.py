"""The Salesforce backend: translation (pure) and the doors to the transport and emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from leadconvert import (
    Conversion,
    ConversionResult,
    InputError,
    Violation,
    loads_json,
)
from leadconvert.backend import (
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Emulator,
    Limits,
    NativeAnswer,
    NativeRequest,
    PlanItem,
    PlannedCall,
    Support,
)

from ._answers import read_convert_answer
from ._ids import IdError, canonical_id
from ._options import SalesforceOptions, options_schema
from ._translate import (
    NAME,
    conversion_from_row,
    follow_up_body,
    row_for,
    validate_conversion,
    with_follow_up,
)
from ._wire import (
    CONVERT_KIND,
    DEFAULT_API_VERSION,
    FOLLOW_UP_KIND,
    OPPORTUNITY_ID_PLACEHOLDER,
    api_version,
    build_envelope,
    parse_rows,
    soap_headers,
)

__all__ = ["SalesforceBackend"]

_C = Capability
_S = Support


class SalesforceBackend(Backend):
    """Salesforce: SOAP ``convertLead`` (up to 100 LeadConverts a call) over simple-salesforce."""

    name = NAME
    description = "Salesforce SOAP convertLead (Partner API), up to 100 leads a call"
    limits = Limits(
        max_batch=100,
        max_concurrency=10,
        notes=(
            "convertLead carries at most 100 LeadConverts; more is an "
            "EXCEEDED_LEAD_CONVERT_LIMIT fault",
            "stage, close date, amount and other opportunity fields are set by a follow-up "
            "REST update of the created Opportunity",
        ),
    )
    capabilities = (
        CapabilityColumn(
            "Salesforce LeadConvert",
            {
                "lead": _C(_S.NATIVE, "leadId", "15- or 18-character id, sent as 18"),
                "account.merge": _C(_S.NATIVE, "accountId"),
                "account.create": _C(_S.DEFAULT, "omit accountId"),
                "contact.merge": _C(
                    _S.NATIVE, "contactId", "needs accountId; the contact must belong to it"
                ),
                "contact.create": _C(_S.DEFAULT, "omit contactId"),
                "account.person": _C(_S.NATIVE, "accountId", "the person account, no contactId"),
                "opportunity.none": _C(
                    _S.NATIVE, "doNotCreateOpportunity: true", "Salesforce creates one otherwise"
                ),
                "opportunity.create": _C(
                    _S.NATIVE,
                    "opportunityName (<= 80 chars)",
                    "stage, close date, amount and other fields: FOLLOW_UP (PATCH "
                    "sobjects/Opportunity/{id}), reported per lead; pipeline and contact "
                    "role: reject",
                ),
                "opportunity.attach": _C(
                    _S.NATIVE, "opportunityId", "exclusive with opportunityName"
                ),
                "owner": _C(_S.NATIVE, "ownerId", "a user; required for a queue-owned lead"),
                "notify_lead_owner": _C(_S.REJECTED),
                "notify_new_owner": _C(_S.NATIVE, "sendNotificationEmail"),
                "overwrite_account_name": _C(_S.REJECTED),
                "overwrite_lead_source": _C(_S.NATIVE, "overwriteLeadSource", "needs contactId"),
                "converted_status": _C(
                    _S.NATIVE,
                    "convertedStatus",
                    "required: discovered from LeadStatus (IsConverted = true) when not given",
                ),
                "move_attachments_to": _C(_S.REJECTED),
                "carry_over_tags": _C(_S.REJECTED),
                "options": _C(
                    _S.NATIVE,
                    "bypassAccountDedupeCheck, bypassContactDedupeCheck",
                    "options.salesforce",
                ),
            },
        ),
    )
    options_type = SalesforceOptions
    settings = MappingProxyType(
        {
            "api_version": f"Salesforce API version (default {DEFAULT_API_VERSION})",
            "converted_status": "converted status for conversions that give none (default: "
            "discovered from the org's LeadStatus values when the request is sent)",
            "timeout": "seconds to wait for each HTTP answer (default 120)",
            "max_retries": "retries after rate limits, outages and dropped connections (default 3)",
            "retry_base_delay": "first backoff delay in seconds, doubled each retry, with "
            "jitter (default 1.0)",
        }
    )
    credential_names = MappingProxyType(
        {
            "username": "user name (with password and security_token: SOAP login)",
            "password": "password",
            "security_token": "the user's security token",
            "domain": "login domain: login (default), test, or a My Domain such as "
            "acme.my (the emulator prints its own)",
            "instance_url": "instance URL, with session_id (e.g. an OAuth access token)",
            "session_id": "session id or OAuth access token (not a JWT), with instance_url",
            "ca_bundle": "a CA bundle file to trust (for the emulator's certificate)",
        }
    )

    def options_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``options.salesforce``."""
        return options_schema()

    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every Salesforce rule the conversion breaks (pure; no call is made).

        A missing converted status is not a violation: it is discovered when sending.
        """
        return validate_conversion(conversion)

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """convertLead calls of up to 100 leads, each followed by its opportunity updates."""
        version = api_version(settings)
        default_status = settings.get("converted_status") or None
        batch = self.limits.max_batch
        calls: list[PlannedCall] = []
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            rows = [row_for(item.conversion, default_status) for item in chunk]
            discovered = [
                item.conversion.lead_id
                for item, row in zip(chunk, rows, strict=True)
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

    def read_answer(self, call: PlannedCall, answer: NativeAnswer) -> list[ConversionResult]:
        """One result per lead of a convertLead call, in order (partial success allowed).

        Session, rate-limit and outage faults raise ``AuthenticationError``,
        ``RateLimitedError`` and ``ServerError``; faults about the request fail every lead.
        """
        if call.kind != CONVERT_KIND:
            raise ValueError(f"read_answer reads convertLead answers, not {call.kind}")
        return read_convert_answer(call.lead_ids, answer.status, answer.body, answer.headers)

    def parse_native(self, payload: str) -> list[Conversion]:
        """Conversions from a convertLead SOAP envelope, a JSON list of LeadConvert objects, or
        a plan (``{"requests": [...]}``, as ``leadconvert plan`` prints it), whose opportunity
        updates give back the stage, close date, amount and fields convertLead cannot carry."""
        text = payload.lstrip()
        if text.startswith("{"):
            return _parse_plan(text)
        if text.startswith("<"):
            rows: list[dict[str, Any]] = list(parse_rows(text.encode("utf-8"))[0])
        elif text.startswith("["):
            try:
                data = loads_json(text)
            except ValueError as exc:
                raise InputError(f"not a JSON list of LeadConvert objects: {exc}") from exc
            if not all(isinstance(item, dict) for item in data):
                raise InputError("a JSON payload must be a list of LeadConvert objects")
            # JSON null is "left out", as xsi:nil is in XML.
            rows = [{k: v for k, v in item.items() if v is not None} for item in data]
        else:
            raise InputError(
                "expected a convertLead SOAP envelope (<...) or a JSON list of LeadConvert "
                "objects ([...])"
            )
        return [conversion_from_row(row) for row in rows]

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client on a simple-salesforce connection built from ``credentials``."""
        from ._client import SalesforceClient

        return SalesforceClient.from_credentials(credentials, settings)

    def canonical_lead_id(self, lead_id: str) -> str:
        """The 18-character form, so the journal sees a lead's 15- and 18-character ids as one."""
        try:
            return canonical_lead_id(lead_id)
        except IdError:
            return lead_id

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A stateful emulated Salesforce org over HTTPS, seeded from a JSON fixture."""
        from ._emulator import SalesforceEmulator

        return SalesforceEmulator(seed=seed, host=host, port=port)


def _parse_plan(text: str) -> list[Conversion]:
    try:
        data = loads_json(text)
    except ValueError as exc:
        raise InputError(f"not a JSON plan: {exc}") from exc
    requests = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(requests, list):
        raise InputError('a JSON object payload is a plan: {"requests": [...]}')
    conversions: list[Conversion] = []
    by_lead: dict[str, int] = {}
    for request in requests:
        if not isinstance(request, dict):
            raise InputError("each plan request is an object")
        kind = request.get("kind")
        if kind == FOLLOW_UP_KIND or (kind is None and request.get("method") == "PATCH"):
            leads = request.get("leads")
            body = request.get("json")
            if not (isinstance(leads, list) and len(leads) == 1 and isinstance(body, dict)):
                raise InputError("an opportunity update names one lead and carries a JSON body")
            try:
                key = canonical_id(str(leads[0]), "Lead")
            except IdError as exc:
                raise InputError(f"an opportunity update names {leads[0]!r}: {exc}") from exc
            if key not in by_lead:
                raise InputError(
                    f"an opportunity update names lead {leads[0]}, not converted before it"
                )
            index = by_lead[key]
            conversions[index] = with_follow_up(conversions[index], body)
            continue
        body_text = request.get("body")
        if not isinstance(body_text, str):
            raise InputError("a convertLead request carries its SOAP envelope as body")
        for row in parse_rows(body_text.encode("utf-8"))[0]:
            conversion = conversion_from_row(row)
            by_lead[canonical_id(conversion.lead_id, "Lead")] = len(conversions)
            conversions.append(conversion)
    return conversions


def canonical_lead_id(lead_id: str) -> str:
    """The 18-character form of a lead id (used to match answers to the plan)."""
    return canonical_id(lead_id, "Lead")
