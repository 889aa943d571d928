"""Salesforce record ids: the 15-character form, the 18-character case-safe form, key prefixes."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "KEY_PREFIXES",
    "ROLE_OBJECTS",
    "IdError",
    "canonical_id",
    "example_id",
    "is_valid_id",
    "to_18",
]

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?\Z")

#: The key prefix (first three characters) of each object the backend sends ids of.
KEY_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "Lead": "00Q",
        "Account": "001",
        "Contact": "003",
        "Opportunity": "006",
        "User": "005",
        "Group": "00G",
    }
)


#: The objects whose ids may stand in each role of a conversion (``leadconvert.backend.ID_ROLES``).
ROLE_OBJECTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "lead": ("Lead",),
        "account": ("Account",),
        "contact": ("Contact",),
        "opportunity": ("Opportunity",),
        "user": ("User",),
    }
)


class IdError(ValueError):
    """An id that is malformed or names an object of the wrong type."""

    def __init__(
        self, message: str, *, wrong_object: bool = False, wrong_suffix: bool = False
    ) -> None:
        super().__init__(message)
        self.wrong_object = wrong_object
        self.wrong_suffix = wrong_suffix


# Upper-case letters -> "1", lower-case letters and digits -> "0": the characters of an id. Any
# other character is left as it is (so that ``usual_full_id`` finds no suffix for it).
_UPPER_FLAGS = {
    ord(ch): "1" if ch.isupper() else "0" for ch in string.ascii_letters + string.digits
}


def _suffix(id15: str) -> str:
    # Each 5-character chunk contributes one character: bit i is set when character i of the
    # chunk is an upper-case letter. This makes the id survive case-insensitive systems.
    flags = id15.translate(_UPPER_FLAGS)
    # Reversed, character i of a chunk is bit i of a binary number.
    return (
        _SUFFIX_ALPHABET[int(flags[4::-1], 2)]
        + _SUFFIX_ALPHABET[int(flags[9:4:-1], 2)]
        + _SUFFIX_ALPHABET[int(flags[14:9:-1], 2)]
    )


def to_18(id15: str) -> str:
    """The 18-character case-safe form of a well-formed 15-character id."""
    if len(id15) != 15 or not _ID.match(id15):
        raise IdError(f"{id15!r} is not a 15-character Salesforce id")
    return id15 + _suffix(id15)


def _restore_case(id18: str) -> str:
    # An 18-character id is case-insensitive: its suffix says which characters are upper case.
    if id18[15:] == _suffix(id18[:15]):
        # Already in its one spelling (the usual case): every letter's case matches the suffix.
        return id18
    chars = list(id18[:15])
    for chunk, code in enumerate(id18[15:].upper()):
        bits = _SUFFIX_ALPHABET.index(code)
        for i in range(5):
            pos = chunk * 5 + i
            ch = chars[pos]
            if bits & (1 << i):
                if not ch.isalpha():
                    raise IdError(f"{id18!r} is malformed: its case-safe suffix does not match")
                chars[pos] = ch.upper()
            else:
                chars[pos] = ch.lower()
    return "".join(chars) + id18[15:].upper()


def _from_18(value: str) -> str:
    body, suffix = value[:15], value[15:]
    expected = _suffix(body)
    if suffix.upper() == expected:
        return body + expected
    if body in (body.lower(), body.upper()):
        # The id's letter case was lost (a case-insensitive system lower- or upper-cased it):
        # the suffix says which letters are upper case.
        return _restore_case(value)
    # Mixed case that disagrees with the suffix: one of them was altered, and guessing which
    # would name another record.
    raise IdError(
        f"{value!r} is not a valid 18-character id: its case-safe suffix {suffix!r} does not "
        f"match its first 15 characters, whose suffix is {expected!r} ({body}{expected}); "
        f"the 15-character id {body!r} is accepted too",
        wrong_suffix=True,
    )


# A chunk's flags (``_UPPER_FLAGS``, in the chunk's order) -> its suffix character (``_suffix``).
_CHUNK_SUFFIX = {
    format(bits, "05b")[::-1]: _SUFFIX_ALPHABET[bits] for bits in range(len(_SUFFIX_ALPHABET))
}
# The same for two chunks at once (the first 10 characters' flags -> two suffix characters): one
# slice and one look-up fewer for each id.
_PAIR_SUFFIX = {
    first + second: _CHUNK_SUFFIX[first] + _CHUNK_SUFFIX[second]
    for first in _CHUNK_SUFFIX
    for second in _CHUNK_SUFFIX
}
#: The key prefixes of each tuple of objects ``canonical_id`` was asked about, worked out once.
_PREFIXES: dict[tuple[str, ...], dict[str, str]] = {}


def _prefixes(objects: tuple[str, ...]) -> dict[str, str]:
    """The key prefix of each of ``objects`` -> the object, worked out once per tuple."""
    prefixes = _PREFIXES.get(objects)
    if prefixes is None:
        prefixes = {KEY_PREFIXES[name]: name for name in objects}
        _PREFIXES[objects] = prefixes
    return prefixes


def usual_full_id(value: object) -> str | None:
    """The 18-character form of a usual id, or None for anything else (``canonical_id`` says
    what is wrong with it).

    Usual: 15 ASCII letters and digits, or 18 already in their one spelling (the case-safe
    suffix as the first 15 characters give it). Worked out with two table look-ups, no pattern.
    """
    if type(value) is str:
        size = len(value)
        if size in (15, 18):
            flags = value.translate(_UPPER_FLAGS)
            try:
                suffix = _PAIR_SUFFIX[flags[:10]] + _CHUNK_SUFFIX[flags[10:15]]
            except KeyError:
                # One of the first 15 characters is not an ASCII letter or digit: translate left
                # it as it was. (The last 3 of 18 must equal the suffix, letters and digits.)
                return None
            if size == 15:
                return value + suffix
            if value[15:] == suffix:
                return value
    return None


def canonical_id(value: str, *objects: str) -> str:
    """``value`` as an 18-character id, checked to belong to one of ``objects`` (by key prefix).

    Raises ``IdError`` for a malformed id or one of another object.
    """
    full = usual_full_id(value)
    if full is None:
        if not isinstance(value, str) or not _ID.match(value):
            raise IdError(
                f"{value!r} is not a Salesforce id (15 or 18 letters and digits)",
            )
        full = to_18(value) if len(value) == 15 else _from_18(value)
    if objects:
        prefixes = _prefixes(objects)
        if full[:3] not in prefixes:
            expected = " or ".join(f"{name} ({prefix}...)" for prefix, name in prefixes.items())
            raise IdError(
                f"{value!r} is not the id of a {expected}: its key prefix is {full[:3]!r}",
                wrong_object=True,
            )
    return full


def is_valid_id(value: str, *objects: str) -> bool:
    """Whether ``value`` is a well-formed id of one of ``objects``."""
    try:
        canonical_id(value, *objects)
    except IdError:
        return False
    return True


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def example_id(role: str, n: int) -> str:
    """A valid 18-character id of ``role``'s object for its ``n``-th record (deterministic).

    The 12 characters after the key prefix hold ``n`` in base 62, so distinct ``n`` give
    distinct ids and mixed case exercises the case-safe suffix.
    """
    objects = ROLE_OBJECTS.get(role)
    if objects is None:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLE_OBJECTS)})")
    if not 0 <= n < 62**10:
        raise ValueError(f"n must be in [0, 62**10), got {n}")
    digits = ""
    rest = n
    for _ in range(10):
        rest, digit = divmod(rest, 62)
        digits = _BASE62[digit] + digits
    return to_18(KEY_PREFIXES[objects[0]] + "5g" + digits)
