"""The Salesforce backend: settings, capabilities, and the wiring of its parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from leadconvert import Conversion, Violation
from leadconvert.backend import (
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Emulator,
    Limits,
    NativeRequest,
    PlanItem,
    PlannedCall,
    Support,
)

from . import _plan, _rules
from ._ids import ROLE_OBJECTS, IdError, canonical_id, example_id
from ._options import NAME, SalesforceOptions, options_schema
from ._wire import DEFAULT_API_VERSION, MAX_BATCH, render_envelope

__all__ = ["SalesforceBackend"]

_C = Capability
_S = Support


class SalesforceBackend(Backend):
    """Salesforce: SOAP ``convertLead`` (up to 100 LeadConverts a call) over simple-salesforce."""

    name = NAME
    description = "Salesforce SOAP convertLead (Partner API), up to 100 leads a call"
    limits = Limits(
        max_batch=MAX_BATCH,
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
                "opportunity.create_unnamed": _C(
                    _S.NATIVE,
                    "omit opportunityName, doNotCreateOpportunity: false",
                    "Salesforce names it after the lead's company; the fields still follow up",
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
            "doubt_wait": "seconds after a convertLead was sent during which the org may still "
            "carry it out: a lead cut off by a timeout or a kill is not sent again before it "
            "shows converted or this has passed (default 120)",
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
        return _rules.validate(conversion)

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """convertLead calls of up to 100 leads, each followed by its opportunity updates."""
        return _plan.plan(items, settings)

    def render(self, request: NativeRequest) -> NativeRequest:
        """A convertLead request with its SOAP envelope written from the planned LeadConverts
        (the session id and a discovered converted status stay placeholders)."""
        if request.content is None or request.body is not None:
            return request
        return attrs.evolve(request, body=render_envelope(request.content), content=None)

    def check_settings(self, settings: Mapping[str, str]) -> list[Violation]:
        """Problems with the API version, the default converted status and the numbers."""
        return _rules.check_settings(settings)

    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        """Conversions from convertLead calls (their opportunity updates give back the stage,
        close date, amount and fields convertLead cannot carry), or from one bare body: a
        convertLead SOAP envelope or a JSON list of LeadConvert objects."""
        from . import _parse

        return _parse.parse_native(calls)

    def example_id(self, role: str, n: int) -> str:
        """An 18-character id with the role's key prefix (00Q lead, 001 account, ...)."""
        return example_id(role, n)

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client on a simple-salesforce connection built from ``credentials``."""
        from ._client import SalesforceClient

        return SalesforceClient.from_credentials(credentials, settings)

    def canonical_id(self, record_id: str, role: str = "lead") -> str:
        """The 18-character form, so the journal sees a lead's 15- and 18-character ids as one.

        An id that is malformed or of another object than ``role``'s comes back as given.
        """
        try:
            return canonical_id(record_id, *ROLE_OBJECTS.get(role, ()))
        except IdError:
            return record_id

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A stateful emulated Salesforce org over HTTPS, seeded from a JSON fixture."""
        from .emulator import SalesforceEmulator

        return SalesforceEmulator(seed=seed, host=host, port=port)
