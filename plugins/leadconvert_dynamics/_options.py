"""The options only Dynamics 365 understands (``options.dynamics`` in the neutral form)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from attrs import field, frozen

from leadconvert import BackendOptions

__all__ = ["DynamicsOptions", "options_schema"]

_optional_str = attrs.validators.optional(attrs.validators.instance_of(str))
_optional_bool = attrs.validators.optional(attrs.validators.instance_of(bool))


@frozen
class DynamicsOptions(BackendOptions):
    """QualifyLead parameters with no neutral meaning; ``None`` leaves them out of the request.

    GUID syntax is checked by the backend's rules (every violation at once), not here.
    """

    backend: ClassVar[str] = "dynamics"

    #: ``OpportunityCurrencyId``: the currency of the created opportunity (default: the org's
    #: base currency, chosen by Dynamics).
    currency_id: str | None = field(default=None, validator=_optional_str)
    #: ``SourceCampaignId``: the campaign the created opportunity comes from.
    source_campaign_id: str | None = field(default=None, validator=_optional_str)
    #: ``SuppressDuplicateDetection``: sent only when true. Microsoft does not document it for
    #: QualifyLead (unverified); an org that does not know it answers "unresolved parameter".
    suppress_duplicate_detection: bool | None = field(default=None, validator=_optional_bool)


def options_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) fragment of ``options.dynamics``."""
    guid = {
        "type": "string",
        "pattern": r"^\{?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?$",
    }
    return {
        "type": "object",
        "description": "Options only the Dynamics 365 backend understands.",
        "additionalProperties": False,
        "properties": {
            "currency_id": {
                **guid,
                "description": "QualifyLead OpportunityCurrencyId: the transactioncurrency of "
                "the created opportunity (default: the org's base currency).",
            },
            "source_campaign_id": {
                **guid,
                "description": "QualifyLead SourceCampaignId: the campaign of the created "
                "opportunity.",
            },
            "suppress_duplicate_detection": {
                "type": "boolean",
                "description": "Send SuppressDuplicateDetection: true with QualifyLead "
                "(undocumented for QualifyLead; sent only when true).",
            },
        },
    }
