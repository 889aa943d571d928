"""The options only Salesforce understands (``options.salesforce`` in the neutral form)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from attrs import field, frozen

from leadconvert import BackendOptions

__all__ = ["NAME", "SalesforceOptions", "options_schema"]

#: The backend's name: ``--backend salesforce`` and ``options.salesforce``.
NAME = "salesforce"

_optional_bool = attrs.validators.optional(attrs.validators.instance_of(bool))


@frozen
class SalesforceOptions(BackendOptions):
    """LeadConvert flags with no neutral meaning; ``None`` leaves them out of the request."""

    backend: ClassVar[str] = NAME

    #: ``bypassAccountDedupeCheck``: skip the org's duplicate rules for the new account.
    bypass_account_dedupe_check: bool | None = field(default=None, validator=_optional_bool)
    #: ``bypassContactDedupeCheck``: skip the org's duplicate rules for the new contact.
    bypass_contact_dedupe_check: bool | None = field(default=None, validator=_optional_bool)


def options_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) fragment of ``options.salesforce``."""
    return {
        "type": "object",
        "description": "Options only the Salesforce backend understands.",
        "additionalProperties": False,
        "properties": {
            "bypass_account_dedupe_check": {
                "type": "boolean",
                "description": "LeadConvert bypassAccountDedupeCheck: skip duplicate rules "
                "for the created account.",
            },
            "bypass_contact_dedupe_check": {
                "type": "boolean",
                "description": "LeadConvert bypassContactDedupeCheck: skip duplicate rules "
                "for the created contact.",
            },
        },
    }
