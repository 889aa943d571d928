"""The one exception tree of leadconvert.

Every error the library raises on purpose is a ``LeadConvertError``. Errors of the transports
underneath (requests, simple-salesforce, sockets) are mapped at the backend's boundary with
``raise ... from exc``, so callers never need to catch another library's exceptions::

    LeadConvertError
     +-- InputError               the input cannot be read at all (not JSON Lines, not CSV, ...)
     +-- ValidationError          a conversion breaks rules; .violations lists every one
     +-- PluginError              a backend plugin cannot be loaded or registered
     |    +-- DuplicateBackendError   two plugins register the same backend name
     |    +-- UnknownBackendError     no installed backend has that name
     +-- ConfigurationError       credentials or settings are missing or malformed
     +-- BackendError             the CRM, or the way to it, failed
          +-- TransportError          no usable answer arrived (connection, TLS, timeout)
          |    +-- RequestTimeout         the CRM did not answer in time
          +-- AuthenticationError     the CRM refused the credentials or the session
          +-- RateLimitedError        the CRM asked us to slow down (.retry_after, seconds)
          +-- ServerError             the CRM failed on its side (HTTP 5xx, internal error)
          +-- ProtocolError           an answer arrived that does not read as documented
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._results import Violation

__all__ = [
    "AuthenticationError",
    "BackendError",
    "ConfigurationError",
    "DuplicateBackendError",
    "InputError",
    "LeadConvertError",
    "PluginError",
    "ProtocolError",
    "RateLimitedError",
    "RequestTimeout",
    "ServerError",
    "TransportError",
    "UnknownBackendError",
    "ValidationError",
]


class LeadConvertError(Exception):
    """Base of every error leadconvert raises on purpose."""


class InputError(LeadConvertError):
    """The input cannot be read at all: a missing file, an unknown format or CSV header."""


class ValidationError(LeadConvertError):
    """A conversion breaks one or more rules; ``violations`` lists every one of them."""

    def __init__(self, violations: Iterable[Violation], *, line: int | None = None) -> None:
        self.violations: tuple[Violation, ...] = tuple(violations)
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(where + "; ".join(str(v) for v in self.violations))


class PluginError(LeadConvertError):
    """A backend plugin cannot be loaded or registered."""


class DuplicateBackendError(PluginError):
    """Two plugins register a backend under the same name."""


class UnknownBackendError(PluginError):
    """No installed backend has the requested name."""


class ConfigurationError(LeadConvertError):
    """Credentials or settings are missing or malformed."""


class BackendError(LeadConvertError):
    """The CRM, or the way to it, failed.

    ``backend_code`` is the CRM's own error code when it gave one.
    """

    def __init__(self, message: str, *, backend_code: str | None = None) -> None:
        super().__init__(message)
        self.backend_code = backend_code


class TransportError(BackendError):
    """No usable answer arrived: the connection failed, dropped, or TLS broke."""


class RequestTimeout(TransportError):
    """The CRM did not answer within the configured timeout."""


class AuthenticationError(BackendError):
    """The CRM refused the credentials, the token or the session."""


class RateLimitedError(BackendError):
    """The CRM asked us to slow down; ``retry_after`` is its advice in seconds, if any."""

    def __init__(
        self, message: str, *, backend_code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, backend_code=backend_code)
        self.retry_after = retry_after


class ServerError(BackendError):
    """The CRM failed on its side (HTTP 5xx or an internal error code)."""


class ProtocolError(BackendError):
    """An answer arrived that does not read as the CRM documents it."""
