"""The Zoho CRM backend of leadconvert: single convert, mass convert, an emulator.

This module is the pluggy plugin named by the ``zoho`` entry point of the ``leadconvert`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.backend import Backend
from leadconvert.hookspecs import hookimpl

from ._backend import ZohoBackend
from ._options import ModuleRef, PortalUserType, ZohoOptions

if TYPE_CHECKING:
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
    register(ZohoBackend())


def __getattr__(name: str) -> Any:
    # The emulator pulls in werkzeug: import it on first use so planning stays fast.
    if name == "ZohoEmulator":
        from .emulator import ZohoEmulator

        return ZohoEmulator
    raise AttributeError(name)
