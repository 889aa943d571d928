"""leadconvert's Salesforce backend: SOAP ``convertLead`` through a simple-salesforce connection.

This module is the pluggy plugin named by the ``salesforce`` entry point of the ``leadconvert``
group; it registers ``SalesforceBackend``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.backend import Backend
from leadconvert.hookspecs import hookimpl

from ._backend import SalesforceBackend
from ._ids import canonical_id, to_18
from ._options import SalesforceOptions

if TYPE_CHECKING:
    from ._client import SalesforceClient
    from .emulator import SalesforceEmulator

__all__ = [
    "SalesforceBackend",
    "SalesforceClient",
    "SalesforceEmulator",
    "SalesforceOptions",
    "canonical_id",
    "leadconvert_register_backends",
    "to_18",
]


@hookimpl
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the Salesforce backend."""
    register(SalesforceBackend())


def __getattr__(name: str) -> Any:
    # The transport and emulator pull in requests, werkzeug and trustme: import them on first
    # use so that planning and the CLI stay fast.
    if name == "SalesforceClient":
        from ._client import SalesforceClient

        return SalesforceClient
    if name == "SalesforceEmulator":
        from .emulator import SalesforceEmulator

        return SalesforceEmulator
    raise AttributeError(name)
