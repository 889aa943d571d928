"""The one exception tree of leadconvert.

Every error the library raises on purpose is a ``LeadConvertError``. Errors of the transports
underneath (requests, simple-salesforce, sockets) are mapped at the backend's boundary with
``raise ... from exc``, so callers never need to catch another library's exceptions::

    LeadConvertError
     +-- InputError               the input cannot be read at all (not JSON Lines, not CSV, ...)
     |    +-- EmptyInputError         the input holds no conversion at all
     +-- LocalStateError          a local file (report, journal, log) cannot be written or read
     +-- ValidationError          a conversion breaks rules; .violations lists every one
     +-- PluginError              a backend plugin cannot be loaded or registered
     |    +-- DuplicateBackendError   two plugins register the same backend name
     |    +-- UnknownBackendError     no installed backend has that name
     +-- ConfigurationError       credentials or settings are missing or malformed
     +-- BackendError             the CRM, or the way to it, failed
          +-- TransportError          no usable answer arrived (connection, TLS, timeout)
          |    +-- UnreachableError       no connection could be made (DNS, refused): nothing sent
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
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "AuthenticationError",
    "BackendError",
    "ConfigurationError",
    "DuplicateBackendError",
    "EmptyInputError",
    "InputError",
    "LeadConvertError",
    "LocalStateError",
    "PluginError",
    "ProtocolError",
    "RateLimitedError",
    "RequestTimeout",
    "ServerError",
    "TransportError",
    "UnknownBackendError",
    "UnreachableError",
    "ValidationError",
    "connection_cause",
    "exit_code_for",
]

# The exit-code policy, the same for every backend, command and number of leads (docs/cli.md):
#: Everything asked for was done.
EXIT_OK = 0
#: Some leads are invalid or failed, each one reported; or the CRM refused what was asked.
EXIT_FAILED = 1
#: Usage, input, configuration or local state (a file that cannot be written, a full disk).
EXIT_USAGE = 2
#: The CRM cannot be used: unreachable, credentials refused, failing or rate-limiting for good.
EXIT_UNREACHABLE = 3
#: A bug in leadconvert; no input and no environment should ever produce it.
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class LeadConvertError(Exception):
    """Base of every error leadconvert raises on purpose."""


class InputError(LeadConvertError):
    """The input cannot be read at all: a missing file, an unknown format or CSV header."""


class EmptyInputError(InputError):
    """The input holds no conversion: a warning, and exit 2 (nothing was done)."""


class LocalStateError(LeadConvertError):
    """A local file (the report, the journal, a log) cannot be read or written."""


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

    @staticmethod
    def cause(exc: BaseException) -> str:
        """The real reason of a transport's failure, for messages: DNS, refused, TLS..."""
        return connection_cause(exc)


class UnreachableError(TransportError):
    """No connection to the CRM could be made (DNS, connection refused, TLS set-up): nothing
    was sent, so the leads of the call are ``not_attempted``."""

    @classmethod
    def from_exception(cls, where: str, exc: BaseException) -> UnreachableError:
        """``cannot connect to WHERE: <the real cause>`` (DNS, refused...), from a transport's
        exception; ``where`` names the host, never a URL with credentials."""
        return cls(f"cannot connect to {where}: {connection_cause(exc)}")

    @staticmethod
    def caused(exc: BaseException) -> bool:
        """Whether a transport's exception means no connection was made, so nothing was sent:
        a name that does not resolve, a refused connection, a connect timeout, a TLS handshake
        that failed on the certificate."""
        import socket
        import ssl

        for current in _chain(exc):
            names = {k.__name__ for k in type(current).__mro__}
            if names & _NO_CONNECTION or isinstance(
                current, socket.gaierror | ConnectionRefusedError | ssl.SSLCertVerificationError
            ):
                return True
        return False


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


def exit_code_for(exc: BaseException) -> int:
    """The exit code of a run that ended with ``exc``: by what happened, never by backend."""
    # The standard modules of the error paths (ssl alone is several ms) are imported there,
    # not when every command starts.
    import sqlite3

    if isinstance(exc, InputError | ConfigurationError | PluginError | LocalStateError):
        return EXIT_USAGE
    if isinstance(
        exc, TransportError | AuthenticationError | ServerError | RateLimitedError | ProtocolError
    ):
        return EXIT_UNREACHABLE
    if isinstance(exc, LeadConvertError):
        # ValidationError, or the CRM answered and refused what was asked (an unknown job id).
        return EXIT_FAILED
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, OSError | sqlite3.Error | RecursionError | MemoryError | UnicodeError):
        # The machine, not the CRM: a full disk, a missing CA bundle, unreadable files, a
        # local database (journal, report spool) that cannot be written.
        return EXIT_USAGE
    return EXIT_INTERNAL


#: Exception classes (by name: requests and urllib3 are not imported here) that mean the
#: connection was never made.
_NO_CONNECTION = frozenset(
    {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError", "ConnectTimeout"}
)


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc``, its causes and contexts, and urllib3's ``reason``s, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))


def connection_cause(exc: BaseException) -> str:
    """The real reason a connection failed, read down the exception chain: the name that did
    not resolve, the refused connection, the TLS failure; never a whole URL or header."""
    import errno
    import socket
    import ssl

    for current in _chain(exc):
        if isinstance(current, socket.gaierror):
            return "the host name does not resolve (DNS)"
        if isinstance(current, ConnectionRefusedError):
            return "the connection was refused (nothing listens on that host and port)"
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"the server's TLS certificate is not trusted ({current.verify_message})"
        if isinstance(current, ConnectionResetError):
            return "the connection was reset"
        if isinstance(current, OSError) and current.errno in (
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
        ):
            return "the network or host is unreachable"
        text = str(current)
        if any(m in text for m in _DNS_MESSAGES):
            return "the host name does not resolve (DNS)"
        if "Connection refused" in text:
            return "the connection was refused (nothing listens on that host and port)"
    for current in _chain(exc):
        names = {k.__name__ for k in type(current).__mro__}
        if names & {"ConnectTimeoutError", "ConnectTimeout"}:
            return "the connection timed out"
        if isinstance(current, ssl.SSLError):
            return "TLS failed"
        if isinstance(current, TimeoutError) or "ReadTimeout" in names:
            return "no answer in time"
    return type(exc).__name__


_DNS_MESSAGES = (
    "Name or service not known",
    "getaddrinfo failed",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "No address associated with hostname",
)
