r"""canonical_id's inline path for the usual ids gives what the plain implementation gives.

``reference`` is canonical_id as it was before the inline path (commit 5a99253), kept here
verbatim: every value, well formed or not, must come back the same or fail with the same
``IdError`` (message and flags), or the same other exception. The reference's pattern ends in
``\Z`` as the module's does since ids with a trailing newline are refused (``$`` accepted one).
"""

from __future__ import annotations

import re
import string
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from leadconvert_salesforce._ids import KEY_PREFIXES, IdError, canonical_id, to_18

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?\Z")
_UPPER_FLAGS = {ch: "1" if "A" <= chr(ch) <= "Z" else "0" for ch in range(128)}


def _ref_suffix(id15: str) -> str:
    flags = id15.translate(_UPPER_FLAGS)
    return (
        _SUFFIX_ALPHABET[int(flags[4::-1], 2)]
        + _SUFFIX_ALPHABET[int(flags[9:4:-1], 2)]
        + _SUFFIX_ALPHABET[int(flags[14:9:-1], 2)]
    )


def _ref_to_18(id15: str) -> str:
    if len(id15) != 15 or not _ID.match(id15):
        raise IdError(f"{id15!r} is not a 15-character Salesforce id")
    return id15 + _ref_suffix(id15)


def _ref_restore_case(id18: str) -> str:
    if id18[15:] == _ref_suffix(id18[:15]):
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


def _ref_from_18(value: str) -> str:
    body, suffix = value[:15], value[15:]
    expected = _ref_suffix(body)
    if suffix.upper() == expected:
        return body + expected
    if body in (body.lower(), body.upper()):
        return _ref_restore_case(value)
    raise IdError(
        f"{value!r} is not a valid 18-character id: its case-safe suffix {suffix!r} does not "
        f"match its first 15 characters, whose suffix is {expected!r} ({body}{expected}); "
        f"the 15-character id {body!r} is accepted too",
        wrong_suffix=True,
    )


def reference(value: Any, *objects: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise IdError(
            f"{value!r} is not a Salesforce id (15 or 18 letters and digits)",
        )
    full = _ref_to_18(value) if len(value) == 15 else _ref_from_18(value)
    if objects:
        prefixes = {KEY_PREFIXES[name]: name for name in objects}
        if full[:3] not in prefixes:
            expected = " or ".join(f"{name} ({prefix}...)" for prefix, name in prefixes.items())
            raise IdError(
                f"{value!r} is not the id of a {expected}: its key prefix is {full[:3]!r}",
                wrong_object=True,
            )
    return full


def _outcome(function: Any, value: Any, objects: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        return ("ok", function(value, *objects))
    except IdError as exc:
        return ("IdError", str(exc), exc.wrong_object, exc.wrong_suffix)
    except Exception as exc:
        return (type(exc).__name__, str(exc))


_OBJECTS = st.lists(st.sampled_from([*KEY_PREFIXES, "Nothing"]), max_size=3).map(tuple)
_PREFIX = st.sampled_from([*KEY_PREFIXES.values(), "00q", "abc", "0O1"])
_CHARS = string.ascii_letters + string.digits


@st.composite
def _ids(draw: st.DrawFn) -> Any:
    """Well-formed ids of every case and length, spoiled in every way a test can think of."""
    body = draw(_PREFIX) + draw(st.text(_CHARS, min_size=12, max_size=12))
    value = draw(
        st.sampled_from(
            [
                body,
                to_18(body),
                to_18(body).lower(),
                to_18(body).upper(),
                body + draw(st.text(_CHARS, min_size=3, max_size=3)),
                body.lower() + to_18(body)[15:],
                body + to_18(body)[15:].lower(),
            ]
        )
    )
    spoil = draw(st.integers(0, 6))
    if spoil == 1:
        value += draw(st.sampled_from(["\n", " ", "x", "\u0661", "-"]))
    elif spoil == 2:
        at = draw(st.integers(0, len(value) - 1))
        value = (
            value[:at]
            + draw(st.sampled_from(["-", "_", "é", "\u0661", "\uff21", "\n"]))
            + value[at + 1 :]
        )
    elif spoil == 3:
        value = value[: draw(st.integers(0, len(value)))]
    return value


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        _ids(),
        st.text(_CHARS + "-\n é", max_size=20),
        st.sampled_from([None, 15, b"00Q000000000000", ["x"]]),
    ),
    _OBJECTS,
)
@example("00QB00000000000MAA\n", ("Lead",))
@example("00qb00000000000maa", ("Lead",))
@example("00qb000000000005\n", ())
@example("005B00000000000", ("User", "Group"))
@example("00QB00000000000MAA", ("Nothing",))
def test_canonical_id_matches_the_reference(value: Any, objects: tuple[str, ...]) -> None:
    assert _outcome(canonical_id, value, objects) == _outcome(reference, value, objects)


def _check_id_reference(value: Any, objects: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        return ("kept", canonical_id(value, *objects))
    except IdError as exc:
        return ("refused", str(exc), exc.wrong_object, exc.wrong_suffix)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(_ids(), st.text(_CHARS + "-\n é", max_size=20)),
    st.lists(st.sampled_from(list(KEY_PREFIXES)), min_size=1, max_size=3).map(tuple),
)
@example("00QB00000000000MAA\n", ("Lead",))
@example("00QB00000000000MAA", ("Account",))
@example("00qb00000000000maa", ("Lead",))
def test_rules_check_id_matches_canonical_id(value: Any, objects: tuple[str, ...]) -> None:
    """validate's inline id check keeps or refuses exactly what canonical_id does."""
    from leadconvert_salesforce import _rules

    found: list[Any] = []
    _rules.forget_ids()
    _rules._check_id(found, value, "path", *objects)
    expected = _check_id_reference(value, objects)
    if expected[0] == "kept":
        assert found == []
        assert {value: expected[1]} == _rules.KEPT_IDS
    else:
        assert not _rules.KEPT_IDS
        assert len(found) == 1
        assert found[0].message == expected[1]
        assert found[0].rule == (
            "salesforce.id.wrong_object"
            if expected[2]
            else "salesforce.id.case_suffix"
            if expected[3]
            else "salesforce.id.malformed"
        )
    _rules.forget_ids()
