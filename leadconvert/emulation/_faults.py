"""One fault model for every emulator: what goes wrong, on which requests, how many times."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, field, validators

from .._exceptions import InputError

if TYPE_CHECKING:
    import cattrs

__all__ = ["Fault", "FaultQueue"]

When = Literal["before", "after"]


def _headers(value: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@define(eq=False)
class Fault:
    """Something that goes wrong with the next ``count`` requests that match.

    What happens, in this order:

    * ``delay``: wait this many seconds first (alone, it only slows the request down);
    * ``when``: ``"before"`` the CRM acts (nothing changes in the org) or ``"after"`` it acted
      (the change is made, then the answer is lost or replaced: the case that makes a client
      wonder whether its request went through);
    * ``drop``: close the connection without any answer;
    * ``status`` (with ``body`` and ``headers``): answer this instead. Without ``body`` the
      emulator writes its CRM's own error document for that status (a Zoho ``INTERNAL_ERROR``,
      a Salesforce ``SERVER_UNAVAILABLE`` SOAP fault...). A mapping or list ``body`` is sent as
      JSON; a string or bytes as is, with ``headers``' ``Content-Type`` (default
      ``text/plain``).

    Which requests: all of ``method`` (``"POST"``), ``path`` (a regular expression searched in
    the request path, so ``"/actions/convert"`` matches any convert) and ``operation`` (the
    emulator's own name for the request, e.g. Zoho ``convert`` or Salesforce ``convertLead``)
    that are given. A fault that names neither ``path`` nor ``operation`` leaves the sign-in
    requests (OAuth token, SOAP login) alone: a client that cannot sign in tests something else.

    ``count`` is how many requests the fault strikes (``None``: every matching request until
    the faults are cleared); ``hits`` counts the requests it struck so far.
    """

    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] = field(factory=dict, converter=_headers)
    drop: bool = False
    when: When = field(default="before", validator=validators.in_(("before", "after")))
    delay: float = field(default=0.0, validator=validators.ge(0.0))
    method: str | None = None
    path: str | None = None
    operation: str | None = None
    count: int | None = 1
    hits: int = 0

    def __attrs_post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ValueError(
                f"count must be at least 1 (or None for every request), not {self.count}"
            )
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status (100-599), not {self.status}")
        if self.drop and self.status is not None:
            raise ValueError("a fault either drops the connection or answers a status, not both")
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a regular expression: {exc}") from exc

    def matches(self, method: str, path: str, operation: str, *, sign_in: bool) -> bool:
        """Whether the fault strikes a request (before counting it)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.operation is not None and self.operation != operation:
            return False
        if self.path is not None and re.search(self.path, path) is None:
            return False
        return not (sign_in and self.path is None and self.operation is None)

    def to_json(self) -> dict[str, Any]:
        """The fault as the admin API shows it (a bytes body as text)."""
        shown: dict[str, Any] = _converter().unstructure(self)
        if isinstance(self.body, bytes):
            shown["body"] = self.body.decode("utf-8", errors="replace")
        return shown

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A fault from the admin API's JSON; an unknown key or a bad value is an ``InputError``."""
        if not isinstance(data, Mapping):
            raise InputError("a fault is a JSON object")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise InputError(
                f"unknown fault key(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
            )
        import cattrs

        try:
            return _converter().structure(dict(data), cls)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            messages = (
                cattrs.transform_error(exc)
                if isinstance(exc, cattrs.BaseValidationError)
                else [str(exc)]
            )
            raise InputError(f"bad fault: {'; '.join(messages)}") from None


_FIELDS = frozenset(a.name for a in Fault.__attrs_attrs__) - {"hits"}


@functools.cache
def _converter() -> cattrs.Converter:
    """Built on first use: an emulator built only for its settings never reads a fault."""
    import cattrs

    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(Any, lambda value, _: value)
    return converter


class FaultQueue:
    """Pending faults, matched in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Queue ``fault`` behind the others."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults that will still strike, oldest first."""
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, operation: str, *, sign_in: bool) -> Fault | None:
        """The first fault that strikes this request, counted (and retired when spent)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path, operation, sign_in=sign_in):
                    continue
                fault.hits += 1
                if fault.count is not None and fault.hits >= fault.count:
                    self._faults.remove(fault)
                return fault
        return None
