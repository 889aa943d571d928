"""leadconvert's Dynamics 365 Sales backend: the ``QualifyLead`` action over the Dataverse Web API.

This module is the pluggy plugin named by the ``dynamics`` entry point of the ``leadconvert``
group; it registers ``DynamicsBackend``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.backend import Backend
from leadconvert.hookspecs import hookimpl

from ._backend import DynamicsBackend
from ._options import DynamicsOptions

if TYPE_CHECKING:
    from ._client import DynamicsClient
    from .emulator import DynamicsEmulator

__all__ = [
    "DynamicsBackend",
    "DynamicsClient",
    "DynamicsEmulator",
    "DynamicsOptions",
    "leadconvert_register_backends",
]


@hookimpl
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the Dynamics 365 backend."""
    register(DynamicsBackend())


def __getattr__(name: str) -> Any:
    # The transport and the emulator pull in requests, msal and werkzeug: import them on first
    # use so that planning and the CLI stay fast.
    if name == "DynamicsClient":
        from ._client import DynamicsClient

        return DynamicsClient
    if name == "DynamicsEmulator":
        from .emulator import DynamicsEmulator

        return DynamicsEmulator
    raise AttributeError(name)
