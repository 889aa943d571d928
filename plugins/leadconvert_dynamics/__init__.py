"""leadconvert's Dynamics 365 Sales backend: the ``QualifyLead`` action over the Dataverse Web API.

This module is the pluggy plugin named by the ``dynamics`` entry point of the ``leadconvert``
group; it registers ``DynamicsBackend``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadconvert.hookspecs import hookimpl

if TYPE_CHECKING:
    from leadconvert.backend import Backend

    from ._backend import DynamicsBackend
    from ._client import DynamicsClient
    from ._options import DynamicsOptions
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
    from ._backend import DynamicsBackend

    register(DynamicsBackend())


# Loading the plugin imports nothing else: `leadconvert --help` loads every plugin (for its
# commands). The backend, the transport and the emulator (requests, msal, werkzeug) are
# imported on first use, so that planning and the CLI stay fast.
_LAZY = {
    "DynamicsBackend": "._backend",
    "DynamicsClient": "._client",
    "DynamicsEmulator": ".emulator",
    "DynamicsOptions": "._options",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(name)
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
