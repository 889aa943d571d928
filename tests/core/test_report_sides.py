"""The success and error files are written from parts rendered at different times (the row's
own cells as it is spooled, the input's at the end): the text is that of csv writing each
whole row, whatever the cells hold."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from unittest.mock import patch

from hypothesis import example, given
from hypothesis import strategies as st

from leadconvert import ConversionError, ConversionResult, ErrorCode, Outcome
from leadconvert._input import InputRecord
from leadconvert._report import (
    ERROR_COLUMNS,
    SUCCESS_COLUMNS,
    ReportWriter,
    _cell,
    _csv_cell,
    _input_cells,
    _tapped_cells,
    report_cell,
)

#: Texts csv treats specially: separators, quotes, line breaks, nothing at all.
_TEXT = st.one_of(
    st.sampled_from(
        [
            *("", ",", '"', '""', "a,b", 'say "hi"', "x\ny", "\r", "a\r\nb", " ", "\t", "'"),
            *("=1+2", "-3", "007", "5725767000000524157"),
        ]
    ),
    st.text(max_size=6),
)


def _csv_row(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


@given(st.lists(_TEXT, min_size=1, max_size=4), st.lists(_TEXT, min_size=1, max_size=4))
def test_parts_joined_with_a_comma_are_the_whole_row(before: list[str], after: list[str]) -> None:
    def part(cells: list[str]) -> str:
        return ",".join(_csv_cell(c) for c in cells)

    assert f"{part(before)},{part(after)}\r\n" == _csv_row(before + after)


@given(st.one_of(st.none(), _TEXT, st.integers(), st.text(alphabet="0123456789+-=e ", max_size=20)),
       st.booleans())  # fmt: skip
def test_a_cell_is_report_cell_quoted_as_csv_quotes_it(value: object, identifier: bool) -> None:
    assert _cell(value, identifier) == _csv_cell(report_cell(value, identifier=identifier))


@given(
    st.lists(
        st.dictionaries(st.sampled_from(["a", "b_id", "c"]), st.one_of(_TEXT, st.integers())),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=3),
)
@example([{"a": "123", "b_id": "5725767000000524157"}, {"b_id": "123", "c": "=1"}], 3)
def test_cells_remembered_across_lines_are_the_cells_rendered_anew(
    sources: list[dict[str, object]], remembered: int
) -> None:
    """The same value can render differently in a text and in an id column (123); a full memory
    renders anew; a value that is not text is never remembered."""
    columns = [("a", False), ("b_id", True), ("c", False)]
    known: tuple[dict[str, str], dict[str, str]] = ({}, {})
    with patch("leadconvert._report._KNOWN_CELLS", remembered):
        for source in sources:
            assert _tapped_cells(source, columns, known) == _input_cells(source, columns)
    assert all(len(cells) <= remembered for cells in known)


_OUTCOMES = st.sampled_from([Outcome.CONVERTED, Outcome.FAILED, Outcome.ALREADY_CONVERTED])


@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["lead_id", "company", "owner_id", "note"]), _TEXT),
            _OUTCOMES,
            _TEXT,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_side_rows_are_whole_csv_rows_whatever_columns_later_lines_bring(
    leads: list[tuple[dict[str, str], Outcome, str]],
) -> None:
    """Each input's cells are rendered as it is read, for the columns known then; columns that
    later lines bring are empty in it, and every row is still csv's text of the whole row."""
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "run.report.jsonl"
        writer = ReportWriter.open(report)
        records = [
            InputRecord(n, None, (), s.get("lead_id") or None, s)
            for n, (s, _o, _t) in enumerate(leads, 1)
        ]
        list(writer.tap(records))
        error = ConversionError(ErrorCode.LOCKED, "locked", backend_code="LOCKED")
        writer.write_all(
            [
                (
                    ConversionResult(
                        f"L{n}",
                        outcome,
                        account_id=text or None,
                        error=None if outcome is not Outcome.FAILED else error,
                    ),
                    n,
                )
                for n, (_s, outcome, text) in enumerate(leads, 1)
            ]
        )
        writer.close()
        success = (Path(directory) / "run.report.success.csv").read_bytes().decode()
        errors = (Path(directory) / "run.report.errors.csv").read_bytes().decode()
    columns: list[str] = []
    for source, _outcome, _text in leads:
        columns.extend(c for c in source if c not in columns)
    given = columns or ["lead_id"]
    want_success, want_errors = [_csv_row([*given, *SUCCESS_COLUMNS])], [
        _csv_row([*given, *ERROR_COLUMNS])
    ]
    for n, (source, outcome, text) in enumerate(leads, 1):
        cells = [
            report_cell(source.get(c), identifier=c.endswith("_id"))
            for c in given
        ] if source else [f"L{n}" if c == "lead_id" else "" for c in given]  # fmt: skip
        if outcome is Outcome.FAILED:
            want_errors.append(
                _csv_row([*cells, "failed", "locked", "LOCKED", "locked", "", str(n)])
            )
        else:
            ident = report_cell(text, identifier=True)
            want_success.append(_csv_row([*cells, outcome.value, ident, "", "", "", "", str(n)]))
    assert success == "".join(want_success)
    assert errors == "".join(want_errors)


def test_side_files_hold_each_whole_row_as_csv_writes_it(tmp_path: Path) -> None:
    report = tmp_path / "run.report.jsonl"
    writer = ReportWriter.open(report)
    sources = [
        {"lead_id": "L1", "company": "Acme, Inc.", "note": 'He said "no"'},
        {"lead_id": "L2", "company": "", "note": "=HYPERLINK()"},
        {},
        {"lead_id": "L4", "phone": "0044123", "note": "two\nlines"},
    ]
    records = [
        InputRecord(n, None, (), s.get("lead_id") or None, s) for n, s in enumerate(sources, 1)
    ]
    list(writer.tap(records))
    error = ConversionError(ErrorCode.LOCKED, "row, locked", backend_code="UNABLE_TO_LOCK_ROW")
    writer.write_all(
        [
            (ConversionResult("L1", Outcome.CONVERTED, account_id="5725767000000524157"), 1),
            (ConversionResult("L2", Outcome.FAILED, error=error), 2),
            (ConversionResult("L3", Outcome.CONVERTED, contact_id="-1"), 3),
            (ConversionResult("L4", Outcome.FAILED, error=error), 4),
        ]
    )
    writer.close()
    inputs = ["lead_id", "company", "note", "phone"]
    success, errors = (tmp_path / "run.report.success.csv", tmp_path / "run.report.errors.csv")
    assert success.read_bytes().decode() == "".join(
        [
            _csv_row([*inputs, *SUCCESS_COLUMNS]),
            _csv_row(
                [report_cell(v) for v in ("L1", "Acme, Inc.", 'He said "no"', None)]
                + ["converted", '="5725767000000524157"', "", "", "", "", "1"]
            ),
            # No input columns of its own: the lead id alone.
            _csv_row(["L3", "", "", "", "converted", "", "'-1", "", "", "", "3"]),
        ]
    )
    assert errors.read_bytes().decode() == "".join(
        [
            _csv_row([*inputs, *ERROR_COLUMNS]),
            _csv_row(
                [
                    "L2", "", "'=HYPERLINK()", "",
                    "failed",
                    "locked",
                    "UNABLE_TO_LOCK_ROW",
                    "row, locked",
                    "",
                    "2",
                ]
            ),
            _csv_row(
                [
                    "L4", "", "two\nlines", '="0044123"',
                    "failed",
                    "locked",
                    "UNABLE_TO_LOCK_ROW",
                    "row, locked",
                    "",
                    "4",
                ]
            ),
        ]
    )


def test_the_plain_summary_says_what_the_table_says() -> None:
    from leadconvert._progress import print_plain_summary
    from leadconvert._runner import RunSummary

    summary = RunSummary(
        counts={Outcome.CONVERTED: 7, Outcome.FAILED: 2, Outcome.NOT_ATTEMPTED: 1},
        invalid=1,
        error_codes={"locked": 1, "duplicate": 1, "invalid_data": 1},
    )
    out = io.StringIO()
    print_plain_summary(out, summary, "run.report.jsonl", "run.journal.sqlite")
    assert [line.split() for line in out.getvalue().splitlines()] == [
        ["leadconvert:", "summary"],
        ["converted", "7"],
        ["failed", "2"],
        ["not_attempted", "(1", "invalid)", "1"],
        ["total", "10"],
        ["not", "converted,", "by", "error", "code"],
        ["duplicate", "1"],
        ["invalid_data", "1"],
        ["locked", "1"],
        ["report:", "run.report.jsonl"],
        ["success:", "run.report.success.csv"],
        ["errors:", "run.report.errors.csv"],
        ["journal:", "run.journal.sqlite"],
    ]
