"""Dataverse record ids: GUIDs, spelled one way so the journal never sees one lead as two."""

from __future__ import annotations

import re

__all__ = ["ROLE_CODES", "IdError", "canonical_guid", "example_guid", "is_guid"]

# Dataverse accepts a GUID with or without braces and in either case; it answers in lower case
# without braces, which is the one spelling kept here.
_GUID = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)

#: The first group of ``example_guid``'s ids, so ids of different roles never collide.
ROLE_CODES = {"lead": 1, "account": 2, "contact": 3, "opportunity": 4, "user": 5}


class IdError(ValueError):
    """Not a GUID."""


def is_guid(value: str) -> bool:
    """Whether ``value`` is a GUID (braces optional, any case)."""
    match = _GUID.match(value)
    return match is not None and (value.startswith("{") == value.endswith("}"))


def canonical_guid(value: str) -> str:
    """``value`` in lower case without braces; raises ``IdError`` when it is not a GUID."""
    if not is_guid(value):
        raise IdError(f"{value!r} is not a GUID (8-4-4-4-12 hexadecimal digits)")
    match = _GUID.match(value)
    assert match is not None
    return match.group(1).lower()


def example_guid(role: str, n: int) -> str:
    """A deterministic GUID for the ``n``-th record of ``role`` (version-4 shaped)."""
    if role not in ROLE_CODES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLE_CODES)})")
    if n < 0 or n >= 16**12:
        raise ValueError(f"n must be in [0, 16**12), got {n}")
    return f"{ROLE_CODES[role]:08x}-0000-4000-8000-{n:012x}"
