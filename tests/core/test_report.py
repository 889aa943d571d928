"""The report: input order, the input's own columns, success and error files, spreadsheet-safe
cells, XLSX, complete-or-untouched replacement, and the summary by outcome and error code."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from defusedxml import ElementTree
from hypothesis import given, settings
from hypothesis import strategies as st

from leadconvert import ConversionError, ConversionResult, ErrorCode, NeutralConverter, Outcome
from leadconvert._exceptions import LocalStateError
from leadconvert._input import InputRecord, read_records
from leadconvert._logging import remember_secret
from leadconvert._report import _MEMORY_ROWS, ReportWriter, report_cell, side_paths

ZOHO_ID = "5725767000000524157"  # 19 digits: a spreadsheet would round it to 5.72577E+18


def _converted(lead: str, account: str = ZOHO_ID) -> ConversionResult:
    return ConversionResult(lead, Outcome.CONVERTED, account_id=account, contact_id=account)


def _failed(lead: str, message: str, code: ErrorCode = ErrorCode.LOCKED) -> ConversionResult:
    return ConversionResult(
        lead, Outcome.FAILED, error=ConversionError(code, message, backend_code="NATIVE_X")
    )


def _csv_input(tmp_path: Path, converter: NeutralConverter, rows: list[str]) -> list[object]:
    source = tmp_path / "in.csv"
    source.write_text("lead_id,opportunity_name\n" + "".join(r + "\n" for r in rows))
    return list(read_records(source, converter))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


class TestOrderAndColumns:
    def test_rows_in_input_order_with_input_columns(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Outcomes arrive in any order; the report lists them by line, each with its input."""
        records = _csv_input(tmp_path, converter, ["L1,First", "L2,Second", "L3,Third"])
        report = tmp_path / "out.jsonl"
        writer = ReportWriter.open(report)
        list(writer.tap(records))  # type: ignore[arg-type]
        writer.write(_converted("L3"), 4)
        writer.write(_failed("L1", "locked"), 2)
        writer.write(_converted("L2"), 3)
        writer.close()
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert [r["line"] for r in rows] == [2, 3, 4]
        assert [r["lead_id"] for r in rows] == ["L1", "L2", "L3"]
        assert rows[0]["input"] == {"lead_id": "L1", "opportunity_name": "First"}
        assert (rows[0]["error_code"], rows[0]["backend_code"]) == ("locked", "NATIVE_X")

    def test_every_input_is_kept_across_spool_batches(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Inputs reach the spool in batches: each row still gets its own, the last partial
        batch and a lead given no outcome (not_attempted) included."""
        rows_in = [f"L{n},Deal {n}" for n in range(1, 1203)]
        records = _csv_input(tmp_path, converter, rows_in)
        report = tmp_path / "out.jsonl"
        writer = ReportWriter.open(report)
        for record in writer.tap(records):  # type: ignore[arg-type]
            if record.line != 1203:  # type: ignore[attr-defined]
                writer.write(_converted(f"L{record.line - 1}"), record.line)  # type: ignore[attr-defined]
        writer.close(unreached="stopped")
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert [r["input"]["opportunity_name"] for r in rows] == [
            f"Deal {n}" for n in range(1, 1203)
        ]
        assert rows[-1]["outcome"] == "not_attempted"

    def test_csv_report_carries_input_columns(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """The CSV report has the outcome columns, then the input's, prefixed input."""
        records = _csv_input(tmp_path, converter, ["L1,First"])
        report = tmp_path / "out.csv"
        writer = ReportWriter.open(report)
        list(writer.tap(records))  # type: ignore[arg-type]
        writer.write(_converted("L1"), 2)
        writer.close()
        (row,) = _read_csv(report)
        assert row["input.opportunity_name"] == "First"
        assert row["outcome"] == "converted"


class TestSideFiles:
    def test_success_and_error_files(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Like Data Loader: the input's columns, then the new ids (success) or the error."""
        records = _csv_input(tmp_path, converter, ["L1,First", "L2,Second"])
        report = tmp_path / "out.jsonl"
        writer = ReportWriter.open(report)
        list(writer.tap(records))  # type: ignore[arg-type]
        writer.write(_failed("L2", "record locked"), 3)
        writer.write(_converted("L1"), 2)
        writer.close()
        success, errors = side_paths(report)
        assert (success.name, errors.name) == ("out.success.csv", "out.errors.csv")
        (good,) = _read_csv(success)
        assert good["lead_id"] == "L1" and good["opportunity_name"] == "First"
        assert good["converted_account_id"] == f'="{ZOHO_ID}"'
        (bad,) = _read_csv(errors)
        assert (bad["lead_id"], bad["error_code"], bad["backend_code"]) == (
            "L2",
            "locked",
            "NATIVE_X",
        )
        assert bad["error"] == "record locked" and bad["line"] == "3"

    def test_error_file_reads_back_as_input(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Ids written as text for spreadsheets come back exact when leadconvert reads them."""
        source = tmp_path / "in.csv"
        source.write_text(f"lead_id,account_id\n{ZOHO_ID},0012345678901\n")
        records = list(read_records(source, converter))
        report = tmp_path / "out.jsonl"
        writer = ReportWriter.open(report)
        list(writer.tap(records))
        writer.write(_failed(ZOHO_ID, "locked"), 2)
        writer.close()
        errors = side_paths(report)[1]
        text = errors.read_text()
        assert f'"=""{ZOHO_ID}"""' in text  # CSV-quoted ="..."
        # Keep only the input's columns, as a user re-running the error file would.
        with errors.open(newline="") as stream:
            rows = list(csv.reader(stream))
        again = tmp_path / "again.csv"
        with again.open("w", newline="") as stream:
            csv.writer(stream).writerows([row[:2] for row in rows])
        (record,) = list(read_records(again, converter))
        assert record.conversion is not None
        assert record.conversion.lead_id == ZOHO_ID
        assert record.source == {"lead_id": ZOHO_ID, "account_id": "0012345678901"}


class TestSpreadsheetSafety:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
            ("+1+2", "'+1+2"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            (ZOHO_ID, f'="{ZOHO_ID}"'),
            ("007", '="007"'),
            ("1e5", '="1e5"'),
            ("Acme", "Acme"),
            ("", ""),
            (None, ""),
        ],
    )
    def test_cells(self, value: str | None, expected: str) -> None:
        """Formula starts get a quote; digit strings a spreadsheet would mangle stay text."""
        assert report_cell(value) == expected

    def test_formula_from_input_neutralised_in_every_csv(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A hostile cell from the input is never a formula in the report or the side files."""
        records = _csv_input(tmp_path, converter, ["L1,\"=cmd|'/c calc'!A0\""])
        report = tmp_path / "out.csv"
        writer = ReportWriter.open(report)
        list(writer.tap(records))  # type: ignore[arg-type]
        writer.write(_failed("L1", "=1+1 looks odd"), 2)
        writer.close()
        for path in (report, *side_paths(report)):
            for row in csv.reader(io.StringIO(path.read_text())):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@")) or cell.startswith('="'), (
                        path,
                        cell,
                    )
                    if cell.startswith('="'):
                        assert cell[2:-1].isdigit() or cell[2:-1].startswith("L")

    def test_secret_in_message_redacted(self, tmp_path: Path) -> None:
        """A credential quoted in an error message never reaches the report."""
        remember_secret("00Dxx0000001gPL!AQ4AQFakeSessionIdForTheReportTest")
        writer = ReportWriter.open(tmp_path / "out.jsonl")
        writer.write(
            _failed(
                "L1",
                "Invalid header value b'00Dxx0000001gPL!AQ4AQFakeSessionIdForTheReportTest\\r\\n'",
            ),
            1,
        )
        writer.close()
        text = (tmp_path / "out.jsonl").read_text() + side_paths(tmp_path / "out.jsonl")[
            1
        ].read_text()
        assert "FakeSessionId" not in text
        assert "********" in text


class TestXlsx:
    def test_ids_are_text_and_summary_sheet(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """XLSX: every id a string cell (never a number, never a formula); a summary sheet."""
        records = _csv_input(tmp_path, converter, ["L1,=2+2", "L2,x", "L3,y"])
        report = tmp_path / "out.xlsx"
        writer = ReportWriter.open(report)
        list(writer.tap(records))  # type: ignore[arg-type]
        writer.write(_converted("L1"), 2)
        writer.write(_failed("L2", "locked"), 3)
        writer.write(_failed("L3", "gone", ErrorCode.INVALID_REFERENCE), 4)
        writer.close()
        sheets = _xlsx(report)
        report_rows, summary = sheets["report"], sheets["summary"]
        header = [text for _kind, text in report_rows[0]]
        first = dict(zip(header, report_rows[1], strict=False))
        assert first["account_id"] == ("s", ZOHO_ID)
        assert first["input.opportunity_name"] == ("s", "=2+2")  # text, not a formula
        assert first["line"] == ("n", "2")
        counts = {row[0][1]: row[1][1] for row in summary if len(row) == 2}
        assert counts["converted"] == "1" and counts["failed"] == "2"
        assert counts["locked"] == "1" and counts["invalid_reference"] == "1"
        assert counts["total"] == "3"


def _xlsx(path: Path) -> dict[str, list[list[tuple[str, str]]]]:
    """Each sheet's rows as (type, text) cells; fails if any cell is a formula."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(path) as book:
        names = book.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            shared = ["".join(si.itertext()) for si in root.findall("m:si", ns)]
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        titles = [s.get("name") for s in workbook.findall("m:sheets/m:sheet", ns)]
        out: dict[str, list[list[tuple[str, str]]]] = {}
        for number, title in enumerate(titles, start=1):
            root = ElementTree.fromstring(book.read(f"xl/worksheets/sheet{number}.xml"))
            rows = []
            for row in root.iter(f"{{{ns['m']}}}row"):
                cells: list[tuple[str, str]] = []
                for cell in row.findall("m:c", ns):
                    column = _column_index(cell.get("r", ""))
                    cells.extend([("", "")] * (column - len(cells)))
                    assert cell.find("m:f", ns) is None, "a formula cell"
                    kind = cell.get("t", "n")
                    if kind == "s":
                        value = shared[int(cell.findtext("m:v", namespaces=ns) or "0")]
                    elif kind == "inlineStr":
                        kind, value = "s", "".join(cell.find("m:is", ns).itertext())
                    else:
                        value = cell.findtext("m:v", namespaces=ns) or ""
                    cells.append((kind, value))
                rows.append(cells)
            out[str(title)] = rows
    return out


def _column_index(reference: str) -> int:
    letters = "".join(ch for ch in reference if ch.isalpha())
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - ord("A") + 1
    return index - 1


class TestRowsCopiedAsSpooled:
    def test_each_line_is_its_fields_encoded_together(self, tmp_path: Path) -> None:
        """The JSON Lines report copies each spooled row and appends its input: every line is
        exactly what encoding the row with its input would give (non-ASCII text, numbers,
        nested values, rows without an input, and the unreached rows of a stopped run)."""
        source = tmp_path / "in.jsonl"
        lines = [
            {"lead_id": "L1", "note": "café ☕", "amount": 1.5, "tags": ["a", "ß"], "n": 10**20},
            {"lead_id": "L2", "quote": 'say "hi"\n\ttab', "deep": {"x": [1, {"y": None}]}},
            {"lead_id": "L3", "big": 1e16, "neg": -0.0},
        ]
        source.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
        report = tmp_path / "out.jsonl"
        writer = ReportWriter.open(report)
        list(writer.tap(read_records(source, NeutralConverter({}))))
        writer.write(_failed("L2", "verrouillé — «locked»"), 2)
        writer.write(_converted("L1"), 1)
        writer.write(_converted("L9"), None)
        writer.close(unreached="the CRM said « non »")
        text = report.read_text(encoding="utf-8")
        for line in text.splitlines():
            assert json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) == line
        rows = [json.loads(line) for line in text.splitlines()]
        assert [r["lead_id"] for r in rows] == ["L1", "L2", "L3", "L9"]
        assert rows[0]["input"]["note"] == "café ☕" and rows[0]["input"]["n"] == str(10**20)
        assert rows[2]["outcome"] == "not_attempted" and "« non »" in rows[2]["message"]
        assert rows[3]["input"] == {}


class TestReplacement:
    def test_old_report_kept_until_new_one_complete(self, tmp_path: Path) -> None:
        """An abandoned run leaves the previous report as it was; a complete one replaces it,
        and no temporary or spool file is left behind either way."""
        report = tmp_path / "out.jsonl"
        report.write_text("previous\n")
        writer = ReportWriter.open(report)
        writer.write(_converted("L1"), 1)
        assert report.read_text() == "previous\n"
        writer.abandon()
        assert report.read_text() == "previous\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
        writer = ReportWriter.open(report)
        writer.write(_converted("L1"), 1)
        writer.close()
        assert json.loads(report.read_text())["lead_id"] == "L1"
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "out.errors.csv",
            "out.jsonl",
            "out.success.csv",
        ]

    def test_unwritable_place_is_local_state_error(self, tmp_path: Path) -> None:
        """A report in a folder that does not exist: exit 2's error, not a crash."""
        with pytest.raises(LocalStateError, match="cannot write the report"):
            ReportWriter.open(tmp_path / "no" / "such" / "out.csv")

    def test_many_rows_spooled_not_held(self, tmp_path: Path) -> None:
        """50,000 rows written backwards come out in order; beyond the rows a small run keeps
        in memory, they go to the spool (which sorts them) and memory holds none."""
        writer = ReportWriter(tmp_path / "out.csv")
        for line in range(50_000, 0, -1):
            writer.write(_converted(f"L{line}", "1"), line)
            assert len(writer._pending_rows) <= _MEMORY_ROWS
        assert not writer._pending_rows
        assert len(writer.__dict__) < 20  # no per-row state on the object
        writer.close()
        with (tmp_path / "out.csv").open(newline="") as stream:
            lines = [int(row["line"]) for row in csv.DictReader(stream)]
        assert lines == list(range(1, 50_001))

    def test_rows_beyond_the_page_cache_go_to_the_spool_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The spool is never committed: rows beyond its page cache are written to its file
        within the one transaction, and read back from there in order."""
        monkeypatch.setattr("leadconvert._report._SPOOL_CACHE_KIB", 64)
        monkeypatch.setattr("leadconvert._report._MEMORY_ROWS", 0)
        writer = ReportWriter(tmp_path / "out.jsonl")
        for line in range(5_000, 0, -1):
            writer.write(_failed(f"L{line}", "x" * 200), line)
        spool = next(tmp_path.glob(".out.jsonl.*.spool"))
        assert spool.stat().st_size > 64 * 1024 * 4  # most of the rows left memory
        writer.close()
        rows = [json.loads(text) for text in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [r["line"] for r in rows] == list(range(1, 5_001))
        assert all(r["message"] == "x" * 200 for r in rows)
        assert not spool.exists()


_LINES = st.one_of(st.none(), st.integers(1, 30))
_ARRIVALS = st.lists(
    st.tuples(
        _LINES,
        st.sampled_from([Outcome.CONVERTED, Outcome.FAILED, Outcome.NOT_ATTEMPTED]),
        st.sampled_from(["", "1", ZOHO_ID, "=SUM(A1)", 'a "b", c']),
    ),
    max_size=25,
)


@given(
    inputs=st.lists(
        st.tuples(
            st.integers(1, 30),
            st.dictionaries(
                st.sampled_from(["lead_id", "company", "owner_id"]),
                st.sampled_from(["L1", "007", ZOHO_ID, "Acme, Inc.", "+1", ""]),
                max_size=3,
            ),
        ),
        max_size=25,
    ),
    arrivals=_ARRIVALS,
    fmt=st.sampled_from(["jsonl", "csv"]),
    unreached=st.booleans(),
    limit=st.integers(0, 40),
)
@settings(max_examples=150, deadline=None)
def test_a_run_kept_in_memory_writes_what_the_spool_writes(
    inputs: list[tuple[int, dict[str, str]]],
    arrivals: list[tuple[int | None, Outcome, str]],
    fmt: str,
    unreached: bool,
    limit: int,
) -> None:
    """Rows in any order, lines repeated or missing, inputs tapped twice for a line: the report
    and its side files are the same bytes whether the run stayed in memory, went to the spool
    from its first row, or went there midway (whatever ``limit`` rows memory may hold)."""

    def write(directory: Path, memory_rows: int) -> dict[str, bytes]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("leadconvert._report._MEMORY_ROWS", memory_rows)
            writer = ReportWriter.open(directory / f"run.report.{fmt}")
            records = [InputRecord(line, None, (), None, source) for line, source in inputs]
            list(writer.tap(records))
            for n, (line, outcome, text) in enumerate(arrivals):
                error = (
                    None
                    if outcome is Outcome.CONVERTED
                    else ConversionError(ErrorCode.LOCKED, text or "x", backend_code="LOCKED")
                )
                result = ConversionResult(f"L{n}", outcome, account_id=text or None, error=error)
                writer.write(result, line)
            writer.close(unreached="stopped" if unreached else None)
        return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}

    with tempfile.TemporaryDirectory() as memory, tempfile.TemporaryDirectory() as spooled:
        kept = write(Path(memory), 10**6)
        assert kept == write(Path(spooled), limit)
        assert kept == write(Path(spooled), 0)


class TestSummary:
    def test_by_outcome_and_error_code(self, tmp_path: Path) -> None:
        writer = ReportWriter(tmp_path / "out.jsonl")
        writer.write(_converted("L1"), 1)
        writer.write(_failed("L2", "x"), 2)
        writer.write(_failed("L3", "y"), 3)
        writer.write(ConversionResult("L4", Outcome.NOT_ATTEMPTED), 4)
        writer.close()
        assert writer.summary() == {
            "outcomes": {"converted": 1, "failed": 2, "not_attempted": 1},
            "error_codes": {"locked": 2, "none": 1},
            "total": 4,
        }


class TestPermissions:
    def test_report_files_follow_the_umask(self, tmp_path: Path) -> None:
        """A report is for the team: written like any file (umask), not private like a temp."""
        old = os.umask(0o022)
        try:
            writer = ReportWriter.open(tmp_path / "out.csv")
            writer.write(_converted("L1"), 1)
            writer.close()
        finally:
            os.umask(old)
        for path in (tmp_path / "out.csv", *side_paths(tmp_path / "out.csv")):
            assert path.stat().st_mode & 0o777 == 0o644, path
