"""The Zoho CRM backend of leadconvert: single convert, mass convert, an emulator.

This module is the pluggy plugin named by the ``zoho`` entry point of the ``leadconvert`` group.
"""

from __future__ import annotations

from collections.abc import Callable

from leadconvert.backend import Backend
from leadconvert.hookspecs import hookimpl

from ._backend import ZohoBackend
from ._options import ModuleRef, PortalUserType, ZohoOptions

__all__ = [
    "ModuleRef",
    "PortalUserType",
    "ZohoBackend",
    "ZohoOptions",
    "leadconvert_register_backends",
]


@hookimpl
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the Zoho backend."""
    register(ZohoBackend())
