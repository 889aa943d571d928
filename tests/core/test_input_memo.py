"""Reading JSON Lines: lines that differ only in their lead id read as if each were parsed.

``plan`` and ``validate`` read records without their sources; then a line whose text after the
lead id repeats an earlier line's is built from that line's conversion, with its own lead id.
Every record must be what the detailed path (no fast path, no memo) reads from the same file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadconvert import NeutralConverter, Registry, read_records


@pytest.fixture(scope="module")
def fast(registry: Registry) -> NeutralConverter:
    return NeutralConverter({b.name: b.options_type for b in registry if b.options_type})


@pytest.fixture(scope="module")
def detailed(registry: Registry) -> NeutralConverter:
    converter = NeutralConverter({b.name: b.options_type for b in registry if b.options_type})
    converter.cattrs  # noqa: B018 - taking the cattrs converter turns the fast path off
    return converter


_ids = st.sampled_from(
    ["1", "9", "00QB00000000000MAA", "a b", "", "x\\u0041", 'q\\"q', "\\\\", "\t", "é", "a\x7f"]
)
_rests = st.sampled_from(
    [
        "}",
        ', "owner_id": "7"}',
        ', "owner_id": " "}',
        ', "opportunity": {"action": "create", "name": "N", "amount": "1.50"}}',
        ', "opportunity": {"action": "create", "name": "N", "amount": 1.5}}',
        ', "lead_id": "9"}',
        ', "lead\\u005fid": "9"}',
        ', "notify_lead_owner": true}',
        ', "notify_lead_owner": 1}',
        ', "account": {"action": "merge", "id": "4"}, "contact": {"action": "merge", "id": "5"}}',
        ', "unknown": 1}',
        ', "options": {"salesforce": {"bypass_account_dedupe_check": true}}}',
        ', "converted_status": "Qu\\u00e9"}',
        ",}",
        '} {"x": 1}',
        "} ",
    ]
)
_lines = st.builds(
    lambda prefix, lead_id, quote, rest, end: f"{prefix}{lead_id}{quote}{rest}{end}",
    st.sampled_from(['{"lead_id": "', '{"lead_id":"', '{ "lead_id": "', '{"lead_id": "x']),
    _ids,
    st.sampled_from(['"', '"']),
    _rests,
    st.sampled_from(["\n", "\r\n", "\n", "\n\n"]),
)


def _read(path: Path, converter: NeutralConverter) -> list[tuple[object, str]]:
    return [(record, repr(record)) for record in read_records(path, converter, sources=False)]


@given(lines=st.lists(_lines, min_size=1, max_size=30))
def test_same_records_as_the_detailed_path(
    lines: list[str], fast: NeutralConverter, detailed: NeutralConverter
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        assert _read(path, fast) == _read(path, detailed)


def test_repeated_lines_share_all_but_the_lead_id(tmp_path: Path, fast: NeutralConverter) -> None:
    rest = ', "opportunity": {"action": "create", "name": "N"}, "owner_id": "7"}\n'
    path = tmp_path / "in.jsonl"
    path.write_text("".join(f'{{"lead_id": "{n}"{rest}' for n in range(1, 4)), encoding="utf-8")
    records = list(read_records(path, fast, sources=False))
    assert [r.lead_id for r in records] == ["1", "2", "3"]
    assert [r.conversion.lead_id for r in records if r.conversion] == ["1", "2", "3"]
    assert len({r.conversion.opportunity for r in records if r.conversion}) == 1


@pytest.mark.parametrize(
    "lines",
    [
        # A repeated key wins over the first: the rest decides the lead id.
        ['{"lead_id": "9", "lead_id": "9"}\n', '{"lead_id": "1", "lead_id": "9"}\n'],
        ['{"lead_id": "9", "lead\\u005fid": "9"}\n', '{"lead_id": "1", "lead\\u005fid": "9"}\n'],
        # Escapes in the lead id: the text is not the id.
        ['{"lead_id": "1", "owner_id": "7"}\n', '{"lead_id": "\\u0041", "owner_id": "7"}\n'],
        ['{"lead_id": "1", "owner_id": "7"}\n', '{"lead_id": "a\\"b", "owner_id": "7"}\n'],
        # Ids the model refuses, after a line that was remembered.
        ['{"lead_id": "1"}\n', '{"lead_id": "a b"}\n', '{"lead_id": ""}\n', '{"lead_id": "\t"}\n'],
    ],
)
def test_lines_the_memo_must_not_take(
    lines: list[str], tmp_path: Path, fast: NeutralConverter, detailed: NeutralConverter
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    assert _read(path, fast) == _read(path, detailed)
