"""leadconvert's Salesforce backend: SOAP ``convertLead`` through a simple-salesforce connection.

This module is the pluggy plugin named by the ``salesforce`` entry point of the ``leadconvert``
group; it registers ``SalesforceBackend``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.hookspecs import hookimpl

if TYPE_CHECKING:
    from leadconvert.backend import Backend

    from ._backend import SalesforceBackend
    from ._client import SalesforceClient
    from ._ids import canonical_id, to_18
    from ._options import SalesforceOptions
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
    from ._backend import SalesforceBackend

    register(SalesforceBackend())


# Loading the plugin imports nothing else: `leadconvert --help` loads every plugin (for its
# commands). The backend, its wire module, the transport and the emulator (requests, werkzeug,
# trustme) are imported on first use, so that planning and the CLI stay fast.
_LAZY = {
    "SalesforceBackend": "._backend",
    "SalesforceClient": "._client",
    "SalesforceEmulator": ".emulator",
    "SalesforceOptions": "._options",
    "canonical_id": "._ids",
    "to_18": "._ids",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(name)
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
