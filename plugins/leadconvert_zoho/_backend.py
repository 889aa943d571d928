"""The Zoho CRM backend: settings, capabilities, and the wiring of its parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from leadconvert import Conversion, Violation
from leadconvert.backend import (
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Emulator,
    Limits,
    PlanItem,
    PlannedCall,
    Support,
    violation,
)

from . import _plan, _rules
from ._options import NAME, ZohoOptions, options_schema
from ._wire import MASS_CONVERT_MAX

__all__ = ["ZohoBackend"]

_N, _D, _I, _R = Support.NATIVE, Support.DEFAULT, Support.IGNORED, Support.REJECTED

_SINGLE = CapabilityColumn(
    "Zoho single convert",
    {
        "lead": Capability(_N, "URL /Leads/{id}/actions/convert"),
        "account.merge": Capability(_N, "Accounts: {id}"),
        "account.create": Capability(
            _D, "omit Accounts", "Zoho creates an account only if the lead has a Company"
        ),
        "contact.merge": Capability(
            _N, "Contacts: {id}", "a contact linked to an account brings that account"
        ),
        "contact.create": Capability(_D, "omit Contacts"),
        "account.person": Capability(_R, "", "Zoho has no person accounts"),
        "opportunity.none": Capability(_D, "omit Deals"),
        "opportunity.create": Capability(
            _N,
            "Deals: {Deal_Name, Closing_Date, Stage, Pipeline, Amount?, Contact_Role?, ...}",
            "Deal_Name, Closing_Date, Stage and Pipeline are mandatory",
        ),
        "opportunity.create_unnamed": Capability(
            _R, "", "Deal_Name is mandatory: supply it with --default opportunity.name=..."
        ),
        "opportunity.attach": Capability(_R),
        "owner": Capability(_N, "assign_to: {id}", "a user id only"),
        "notify_lead_owner": Capability(_N, "notify_lead_owner"),
        "notify_new_owner": Capability(_N, "notify_new_entity_owner"),
        "overwrite_account_name": Capability(_N, "overwrite"),
        "overwrite_lead_source": Capability(_R),
        "converted_status": Capability(_I, "", "Zoho has no converted status; warned in the plan"),
        "move_attachments_to": Capability(
            _N,
            "move_attachments_to: {api_name, id} (v8; id from the <module>_module_id setting)",
            "v7, or v8 without the module id: {api_name} only, said in the plan",
        ),
        "carry_over_tags": Capability(
            _N, "carry_over_tags: {Module: [tag names]}", '"all" needs mass convert'
        ),
        "options": Capability(_N, "add_to_existing_record (v8)"),
    },
)
_MASS = CapabilityColumn(
    "Zoho mass convert",
    {
        "lead": Capability(_N, "ids[] (<= 50)"),
        "account.merge": Capability(_R, "", "no per-lead targets: planned as single convert"),
        "account.create": Capability(_D),
        "contact.merge": Capability(_R, "", "no per-lead targets: planned as single convert"),
        "contact.create": Capability(_D),
        "account.person": Capability(_R),
        "opportunity.none": Capability(_D, "omit Deals"),
        "opportunity.create": Capability(_N, "Deals (same for every lead of the call)"),
        "opportunity.create_unnamed": Capability(_R, "", "Deal_Name is mandatory"),
        "opportunity.attach": Capability(_R),
        "owner": Capability(_N, "assign_to: {id}", "mandatory: leads without owner go single"),
        "notify_lead_owner": Capability(_R, "", "planned as single convert"),
        "notify_new_owner": Capability(_R, "", "planned as single convert"),
        "overwrite_account_name": Capability(_R, "", "planned as single convert"),
        "overwrite_lead_source": Capability(_R),
        "converted_status": Capability(_I, "", "Zoho has no converted status; warned in the plan"),
        "move_attachments_to": Capability(
            _N, "move_attachments_to: {api_name, id}", "needs the <module>_module_id setting"
        ),
        "carry_over_tags": Capability(
            _N,
            "carry_over_tags: [{api_name, id}]",
            'all of the lead\'s tags per module ("all"); named tags go single convert',
        ),
        "options": Capability(_N, "related_modules, portal_user_type, apply_assignment_threshold"),
    },
)


class ZohoBackend(Backend):
    """Zoho CRM: single convert per lead, or mass convert for up to 50 leads sharing options."""

    name: ClassVar[str] = NAME
    description: ClassVar[str] = "Zoho CRM (REST API v7/v8): convert and mass convert"
    limits: ClassVar[Limits] = Limits(
        max_batch=MASS_CONVERT_MAX,
        max_concurrency=10,
        notes=(
            "a convert call costs 5 API credits from a rolling 24 h budget",
            "about 10 concurrent heavy calls (lead conversion) per app; past it TOO_MANY_REQUESTS",
            "at most 10 access tokens per refresh token per 10 minutes",
        ),
    )
    capabilities: ClassVar[tuple[CapabilityColumn, ...]] = (_SINGLE, _MASS)
    options_type: ClassVar[type[ZohoOptions]] = ZohoOptions
    settings: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "api_version": "Zoho CRM API version: v8 (default) or v7",
            "data_centre": "US (default), EU, IN, CN, AU, JP, CA or SA",
            "environment": "production (default), sandbox or developer",
            "contacts_module_id": "id of the Contacts module (mass convert module references)",
            "accounts_module_id": "id of the Accounts module (mass convert module references)",
            "deals_module_id": "id of the Deals module (mass convert module references)",
            "timeout": "seconds to wait for an answer (default 30; connect timeout 10)",
            "max_retries": "retries after 429, 5xx or a dropped connection (default 4)",
            "backoff": "first retry delay in seconds, doubled each time, with jitter (default 1)",
            "poll_interval": "first mass-convert status poll delay in seconds (default 2)",
            "poll_timeout": "seconds to wait for a mass-convert job (default 600)",
            "doubt_wait": "seconds after a convert or mass convert was sent during which Zoho "
            "may still act on it (a job not yet run, a request still running after a read "
            "timeout or a kill): its leads are not sent again before they show converted or "
            "this has passed (default 60)",
        }
    )
    credential_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "client_id": "OAuth client id of the self client",
            "client_secret": "OAuth client secret",
            "refresh_token": "OAuth refresh token (self-client grant)",
            "access_token": "a ready access token (instead of, or besides, the refresh flow)",
            "api_domain": "explicit API base URL, e.g. https://www.zohoapis.eu (default: "
            "from data_centre/environment, or the token answer's api_domain)",
            "accounts_url": "explicit accounts server URL, e.g. https://accounts.zoho.eu",
        }
    )

    def options_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of ``options.zoho``."""
        return options_schema()

    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every Zoho rule the conversion breaks (pure)."""
        return _rules.validate(conversion)

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """Mass-convert batches of up to 50 where options allow, single converts otherwise."""
        return _plan.plan(items, settings)

    def check_settings(self, settings: Mapping[str, str]) -> list[Violation]:
        """Problems with the API version, data centre, module ids and numbers, up front."""
        from leadconvert import ConfigurationError

        from ._wire import endpoints

        found = _rules.check_settings(settings)
        try:
            endpoints(settings.get("data_centre", "US"), settings.get("environment", "production"))
        except ConfigurationError as exc:
            path = "data_centre" if "data_centre" in str(exc) else "environment"
            found.append(violation("zoho.settings.endpoint", path, str(exc), NAME))
        return found

    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        """The neutral conversions of Zoho convert and mass-convert requests."""
        from . import _parse

        return _parse.parse_native(calls)

    def example_id(self, role: str, n: int) -> str:
        """A Zoho record id: ``3652397``, the role's digit, then ``n`` in at least 11 digits."""
        return example_id(role, n)

    def canonical_id(self, record_id: str, role: str = "lead") -> str:
        """Zoho ids have one spelling (their digits), so the id as given.

        An id Zoho's SDKs sent as a JSON integer is already its digits when parsed.
        """
        return record_id

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client for Zoho CRM (or the emulator, through explicit base URLs)."""
        from ._client import ZohoClient

        return ZohoClient(credentials, settings)

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A stateful Zoho CRM emulator on ``host:port``, seeded from a JSON fixture."""
        from .emulator import ZohoEmulator

        return ZohoEmulator(seed=seed, host=host, port=port, quiet=True)


_ROLE_DIGIT = {"lead": 1, "account": 2, "contact": 3, "opportunity": 4, "user": 5}


def example_id(role: str, n: int) -> str:
    """A Zoho-shaped id (19 digits for ``n`` below 10**11), distinct for each role and ``n``."""
    if role not in _ROLE_DIGIT:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(_ROLE_DIGIT)})")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    return f"3652397{_ROLE_DIGIT[role]}{n:011d}"
