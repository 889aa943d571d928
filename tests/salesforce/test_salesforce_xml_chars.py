"""find_invalid_xml_char finds exactly what XML 1.0's Char production leaves out."""

from __future__ import annotations

import re

from leadconvert_salesforce._wire import find_invalid_xml_char

# XML 1.0's Char production, negated: the pattern find_invalid_xml_char used before.
_REFERENCE = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def test_every_code_point_as_the_char_production_says() -> None:
    for code in range(0x110000):
        char = chr(code)
        expected = char if _REFERENCE.search(char) else None
        assert find_invalid_xml_char(char) == expected, hex(code)


def test_first_invalid_character_of_a_text() -> None:
    for text in ("plain", "a\tb\nc\rd", "x\x00y\x01", "é\ud800\uffff", "\ufffe", "😀\x1f", ""):
        found = _REFERENCE.search(text)
        assert find_invalid_xml_char(text) == (found.group() if found else None)
