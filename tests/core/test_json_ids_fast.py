"""The fast path's record id check says what the model's record id rule says.

``_is_id`` takes printable text without a space at once (two C scans) and tries the model's
pattern (``_RECORD_ID``) for anything else: every character it takes at once must pass the
pattern, and for any text both must agree.
"""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from leadconvert._json import _is_id
from leadconvert._model import _RECORD_ID


def test_every_character_taken_at_once_passes_the_pattern() -> None:
    taken = [
        code
        for code in range(sys.maxunicode + 1)
        if chr(code).isprintable() and chr(code) != " " and not _RECORD_ID.match(chr(code))
    ]
    assert taken == []


@given(st.one_of(st.text(max_size=12), st.sampled_from([None, 1, b"x", ["a"]])))
@example("")
@example(" ")
@example("a b")
@example("00QB00000000000MAA")
@example("00001ead-0000-4000-8000-000000000000")
@example("a\u200bb")  # a format character: not printable, yet an id the pattern takes
@example("a\u2028b")
@example("a\n")
def test_same_answer_as_the_pattern(value: Any) -> None:
    expected = isinstance(value, str) and _RECORD_ID.match(value) is not None
    assert _is_id(value) == expected
