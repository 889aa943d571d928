"""The Dynamics 365 Sales backend: settings, capabilities and the wiring of its parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

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

from ._ids import IdError, canonical_guid, example_guid
from ._options import DynamicsOptions, options_schema
from ._plan import DEFAULT_BATCH_SIZE, plan_conversions, render_request
from ._rules import NAME, check_settings, validate_conversion
from ._wire import DEFAULT_API_VERSION

__all__ = ["DynamicsBackend"]

_C = Capability
_S = Support


class DynamicsBackend(Backend):
    """Dynamics 365 Sales: the bound ``QualifyLead`` action, ``$batch``-ed, over the Web API."""

    name = NAME
    description = "Dynamics 365 Sales QualifyLead (Dataverse Web API), $batch of change sets"
    limits = Limits(
        # A $batch holds at most 1000 requests; a lead takes two (bind + qualify) at most.
        max_batch=500,
        # Dataverse refuses a user's 53rd concurrent request (0x80072326).
        max_concurrency=8,
        notes=(
            f"one $batch per batch_size leads (default {DEFAULT_BATCH_SIZE}, at most 500): "
            "Microsoft advises small batches",
            "each lead's parent bind and QualifyLead share a change set; "
            "Prefer: odata.continue-on-error",
            "opportunity name and fields and the owner of the new records are follow-up "
            "PATCHes of the created records, batched, reported per lead",
        ),
    )
    capabilities = (
        CapabilityColumn(
            "Dynamics 365 QualifyLead",
            {
                "lead": _C(_S.NATIVE, "URL leads(<id>)", "a GUID"),
                "account.merge": _C(
                    _S.NATIVE,
                    "CreateAccount: false + parentaccountid@odata.bind",
                    "bound in the same change set as the qualify; OpportunityCustomerId = the "
                    "account when an opportunity is created",
                ),
                "account.create": _C(
                    _S.NATIVE, "CreateAccount: true", "made from the lead's company name"
                ),
                "contact.merge": _C(
                    _S.NATIVE,
                    "CreateContact: false + parentcontactid@odata.bind",
                    "with a merged account, the contact must belong to it",
                ),
                "contact.create": _C(_S.NATIVE, "CreateContact: true"),
                "account.person": _C(_S.REJECTED),
                "opportunity.none": _C(_S.NATIVE, "CreateOpportunity: false"),
                "opportunity.create": _C(
                    _S.FOLLOW_UP,
                    "CreateOpportunity: true, then PATCH opportunities(<id>) with the name",
                    "name, estimatedclosedate, estimatedvalue, stepname (stage) and other "
                    "fields by logical name; pipeline and contact role: reject",
                ),
                "opportunity.create_unnamed": _C(
                    _S.NATIVE,
                    "CreateOpportunity: true",
                    "Dynamics names it after the lead's topic; its fields still follow up",
                ),
                "opportunity.attach": _C(_S.REJECTED),
                "owner": _C(
                    _S.FOLLOW_UP,
                    "ownerid@odata.bind on each created record",
                    "a systemuser GUID",
                ),
                "notify_lead_owner": _C(_S.REJECTED),
                "notify_new_owner": _C(_S.REJECTED),
                "overwrite_account_name": _C(_S.REJECTED),
                "overwrite_lead_source": _C(_S.REJECTED),
                "converted_status": _C(
                    _S.NATIVE,
                    "Status (Int32 statuscode)",
                    "a number, or a name resolved through the lead statuscode metadata; "
                    "default: the org's default Qualified status",
                ),
                "move_attachments_to": _C(_S.REJECTED),
                "carry_over_tags": _C(_S.REJECTED),
                "options": _C(
                    _S.NATIVE,
                    "OpportunityCurrencyId, SourceCampaignId, SuppressDuplicateDetection",
                    "options.dynamics; SuppressDuplicateDetection only when asked "
                    "(undocumented for QualifyLead)",
                ),
            },
        ),
    )
    options_type = DynamicsOptions
    settings = MappingProxyType(
        {
            "api_version": f"Web API version (default {DEFAULT_API_VERSION})",
            "batch_size": f"leads per $batch, 1-500 (default {DEFAULT_BATCH_SIZE}, as "
            "Microsoft advises starting small)",
            "status": "Qualified status for conversions that give none: a statuscode number "
            "or a status name (default: the org's default Qualified status, read from the "
            "lead statecode metadata when sending)",
            "timeout": "seconds to wait for each HTTP answer (default 120)",
            "max_retries": "retries after service protection limits, outages and dropped "
            "connections (default 3)",
            "retry_base_delay": "first backoff delay in seconds when Dataverse gives no "
            "Retry-After, doubled each retry, with jitter (default 1.0)",
            "max_concurrency": "HTTP requests in flight at once from one client, 1-51 "
            "(default 8; Dataverse allows 52 per user)",
            "doubt_wait": "seconds after sending a qualify whose answer was lost to a read "
            "timeout during which a lead that still reads open is not sent again (default: "
            "the timeout)",
        }
    )
    credential_names = MappingProxyType(
        {
            "org_url": "the environment URL, e.g. https://contoso.crm.dynamics.com",
            "tenant_id": "Microsoft Entra ID tenant (directory) id, for client credentials",
            "client_id": "the application (client) id of the app registration",
            "client_secret": "its client secret",
            "access_token": "a ready OAuth access token for org_url (instead of the three above)",
            "authority_host": "Entra ID host (default https://login.microsoftonline.com; "
            "another for sovereign clouds or the emulator)",
            "ca_bundle": "a CA bundle file to trust (for the emulator's certificate)",
        }
    )

    def canonical_id(self, record_id: str, role: str = "lead") -> str:
        """A GUID in lower case without braces; anything else as given."""
        try:
            return canonical_guid(record_id)
        except IdError:
            return record_id

    def example_id(self, role: str, n: int) -> str:
        """A deterministic GUID for the ``n``-th record of ``role``."""
        return example_guid(role, n)

    def options_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``options.dynamics``."""
        return options_schema()

    def check_settings(self, settings: Mapping[str, str]) -> list[Violation]:
        """Problems with batch_size, api_version, status and the transport settings."""
        return check_settings(settings)

    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every Dynamics 365 rule the conversion breaks (pure; no call is made)."""
        return validate_conversion(conversion)

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """One ``$batch`` per batch_size leads (change set per lead), then its follow-ups."""
        return plan_conversions(items, settings)

    def render(self, request: NativeRequest) -> NativeRequest:
        """The multipart ``$batch`` body and headers written from the planned content."""
        return render_request(request)

    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        """Conversions from qualify ``$batch`` calls (their follow-ups give back the
        opportunity's name and fields and the owner), or a single QualifyLead request."""
        from ._parse import parse_native

        return parse_native(calls)

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client on the org at ``org_url`` (client credentials or an access token)."""
        from ._client import DynamicsClient

        return DynamicsClient.from_credentials(credentials, settings)

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A stateful emulated Dataverse org with Dynamics 365 Sales, over HTTPS."""
        from .emulator import DynamicsEmulator

        return DynamicsEmulator(seed=seed, host=host, port=port)
