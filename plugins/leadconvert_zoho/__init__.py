"""The Zoho CRM backend of leadconvert: single convert, mass convert, an emulator.

This module is the pluggy plugin named by the ``zoho`` entry point of the ``leadconvert`` group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.hookspecs import hookimpl

if TYPE_CHECKING:
    from leadconvert.backend import Backend

    from ._backend import ZohoBackend
    from ._options import ModuleRef, PortalUserType, ZohoOptions
    from .emulator import ZohoEmulator

__all__ = [
    "ModuleRef",
    "PortalUserType",
    "ZohoBackend",
    "ZohoEmulator",
    "ZohoOptions",
    "leadconvert_register_backends",
]


@hookimpl
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the Zoho backend."""
    from ._backend import ZohoBackend

    register(ZohoBackend())


# Loading the plugin imports nothing else: `leadconvert --help` loads every plugin (for its
# commands), and the backend, its options and the emulator (werkzeug) are imported on first use.
_LAZY = {
    "ModuleRef": "._options",
    "PortalUserType": "._options",
    "ZohoOptions": "._options",
    "ZohoBackend": "._backend",
    "ZohoEmulator": ".emulator",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(name)
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
