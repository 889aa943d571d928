"""The run's report: one row per lead, in input order, with the input's own columns beside the
outcome; success and error files as Salesforce Data Loader users expect; CSV, JSON Lines or XLSX.

Rows arrive in completion order, from many threads' calls. To hand them out in input order
without holding them all in memory, each row is spooled to a throwaway SQLite database next to
the report, and the report is written from it, in line order, when the run ends. The same spool
keeps each input record's columns (``tap``), joined to its row at the end. The spool is one
transaction that is never committed: its pages stay in SQLite's cache up to
``_SPOOL_CACHE_KIB`` and only a larger run's go to the file (a commit per few thousand rows had
written every page, and the sort at the end had gone through a temporary file as well).

A previous report is replaced only by a complete one: every file is written under a temporary
name and moved over the old one with ``os.replace`` at the very end. A run that dies leaves the
old report as it was (the journal, not the report, is what a resumed run trusts).

Spreadsheets are the readers: ids and other text are written so that they stay text (a 19-digit
Zoho id is not a number; in CSV it is written ``="…"``, which leadconvert itself reads back as
the bare id), and a cell starting with ``= + - @``, TAB or CR gets a leading ``'`` so that it
is never run as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ._exceptions import LocalStateError
from ._input import InputRecord
from ._json import json_writer
from ._logging import redact
from ._results import ConversionResult, Outcome
from ._sqlite import execute_rows

__all__ = [
    "ERROR_COLUMNS",
    "REPORT_COLUMNS",
    "SUCCESS",
    "SUCCESS_COLUMNS",
    "ReportWriter",
    "report_cell",
    "side_paths",
]

REPORT_COLUMNS = (
    "line",
    "lead_id",
    "outcome",
    "account_id",
    "contact_id",
    "opportunity_id",
    "error_code",
    "backend_code",
    "message",
    "matched_ids",
    "call",
    "job_id",
    "follow_ups",
    "merge",
)
#: After the input's own columns in the success file (Data Loader: the input, then the ids).
SUCCESS_COLUMNS = (
    "outcome",
    "converted_account_id",
    "converted_contact_id",
    "converted_opportunity_id",
    "job_id",
    "merge",
    "line",
)
#: After the input's own columns in the error file: what went wrong, neutral and native.
ERROR_COLUMNS = ("outcome", "error_code", "backend_code", "error", "matched_ids", "line")

#: Outcomes that count as success: the lead is converted, now or before.
SUCCESS = frozenset({Outcome.CONVERTED, Outcome.ALREADY_CONVERTED})

#: Input columns kept at most (JSON Lines lines may carry any key; a report needs a header).
_MAX_INPUT_COLUMNS = 200
#: The spool's pages held in memory at most (KiB); beyond, SQLite writes them to its file.
_SPOOL_CACHE_KIB = 16_384
#: Rendered input cells remembered at most, for text and for id columns each.
_KNOWN_CELLS = 4096
#: Tapped inputs written to the spool in one statement.
_INPUT_BATCH = 500
#: Rows and inputs kept in memory at most (about 1 KB each): a run with fewer is written from
#: memory at its close, and one with more goes to the spool, where its memory stays bounded.
_MEMORY_ROWS = 12_000
#: Excel keeps 15 significant digits: longer digit strings, and leading zeros, must be text.
_NUMBER_LIKE = re.compile(r"^[+-]?(\d{12,}|0\d+)$|^\d+[eE]\d+$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_START)
#: An XLSX cell holds at most 32,767 characters.
_XLSX_MAX = 32_000


def report_cell(value: Any, *, identifier: bool = False) -> str:
    """``value`` as a CSV cell a spreadsheet shows as the same text.

    Formula injection is neutralised with a leading ``'``; an id (or any digit string a
    spreadsheet would turn into a rounded number) is written ``="…"`` so it stays text.
    """
    if value is None:
        return ""
    text = str(value)
    return _text_cell(text, identifier) if text else ""


def _text_cell(text: str, identifier: bool) -> str:
    """``report_cell`` of a non-empty text: the one place its number and formula rules live."""
    first = text[0]
    # Only a text starting with a digit or a sign can be a number (``\d`` and ``isdigit``
    # accept no character that ``isdigit`` refuses): the others skip the regular expression.
    if (first.isdigit() or first in "+-") and (
        (identifier and text.isdigit()) or _NUMBER_LIKE.match(text)
    ):
        return f'="{text}"'
    if first in _FORMULA_FIRST:
        return "'" + text
    return text


def side_paths(report: Path) -> tuple[Path, Path]:
    """The success and error files beside a report: ``X.success.csv`` and ``X.errors.csv``."""
    stem = report.name.removesuffix(report.suffix) if report.suffix else report.name
    return report.with_name(f"{stem}.success.csv"), report.with_name(f"{stem}.errors.csv")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".xlsx": "xlsx"}.get(suffix, "jsonl")


class ReportWriter:
    """Spools one row per lead as outcomes arrive; ``close`` writes the report in input order.

    ``fmt`` is ``jsonl``, ``csv`` or ``xlsx`` (default: from the report's suffix). ``success``
    and ``errors`` are the Data Loader-style files (None: not written).
    """

    def __init__(
        self,
        path: Path,
        fmt: str | None = None,
        *,
        success: Path | None = None,
        errors: Path | None = None,
    ) -> None:
        self.path = path
        self.fmt = fmt or _format(path)
        if self.fmt not in ("jsonl", "csv", "xlsx"):
            raise LocalStateError(f"unknown report format {self.fmt!r} (jsonl, csv or xlsx)")
        self.success = success
        self.errors = errors
        #: Leads by outcome and failed leads by neutral error code, for the summary.
        self.outcomes: Counter[str] = Counter()
        self.error_codes: Counter[str] = Counter()
        self._input_columns: dict[str, None] = {}
        #: The input columns in order, with whether each holds ids (kept as text if digits).
        self._input_ids: list[tuple[str, bool]] = []
        #: Tapped inputs not yet in the spool (written in batches: one statement per batch).
        self._pending_inputs: list[tuple[int, str, str | None, int]] = []
        #: Rows not in the spool while the run is small enough to keep them in memory.
        self._pending_rows: list[tuple[int | None, int, str, bool, str]] = []
        self._in_memory = True
        #: Input cells already rendered, by value, for text and for id columns (``_tapped_cells``).
        self._known_cells: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self._lock = threading.Lock()
        self._seq = 0
        self._closed = False
        try:
            directory = path.parent if str(path.parent) else Path()
            fd, spool = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".spool", dir=directory)
            os.close(fd)
        except OSError as exc:
            raise LocalStateError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
        self._spool = Path(spool)
        # One connection shared under a lock: rows come from the runner's threads.
        self._db = sqlite3.connect(spool, check_same_thread=False, isolation_level=None)
        # A throwaway file: no journal, no fsync; it is deleted whatever happens. Its pages
        # stay in memory up to _SPOOL_CACHE_KIB, and are written to the file only beyond that.
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            f"PRAGMA cache_size=-{_SPOOL_CACHE_KIB};"
            # side: the row's own cells of its success or error file, rendered as it is spooled
            # (the input's cells, known in full only at the end, go before them).
            "CREATE TABLE rows (line INTEGER, seq INTEGER, data TEXT, success INTEGER, side TEXT);"
            # cells: the input's cells of its success or error row for the first ncols columns.
            "CREATE TABLE inputs (line INTEGER PRIMARY KEY, data TEXT, cells TEXT, ncols INTEGER);"
            "BEGIN;"
        )

    @classmethod
    def open(cls, path: Path) -> ReportWriter:
        """A writer for ``path`` (format from the suffix) with its success and error files."""
        success, errors = side_paths(path)
        return cls(path, success=success, errors=errors)

    # --- spooling ------------------------------------------------------------------------

    def tap(self, records: Iterable[InputRecord]) -> Iterator[InputRecord]:
        """Yield ``records`` unchanged, keeping each one's input columns for its report row."""
        columns = self._input_columns
        ids = self._input_ids
        pending = self._pending_inputs
        for record in records:
            with self._lock:
                source = record.source or {}
                if type(source) is not dict:
                    source = dict(source)
                if not source and record.lead_id is not None:
                    source = {"lead_id": record.lead_id}
                if not columns.keys() >= source.keys():
                    for name in source:
                        if len(columns) < _MAX_INPUT_COLUMNS and name not in columns:
                            columns[name] = None
                            ids.append((name, name.endswith("_id")))
                # The input's cells of its success or error row, for the columns known now:
                # any column found later is not in this input (close pads the row for it).
                cells = _tapped_cells(source, ids, self._known_cells) if source else None
                pending.append((record.line, _encode(source), cells, len(ids)))
                if self._in_memory:
                    self._spill_if_full()
                elif len(pending) >= _INPUT_BATCH:
                    self._spool_inputs()
            yield record

    def _spool_inputs(self) -> None:
        """Write the tapped inputs not yet in the spool (under the lock)."""
        if self._pending_inputs:
            try:
                execute_rows(
                    self._db, "INSERT OR REPLACE INTO inputs", "(?, ?, ?, ?)", self._pending_inputs
                )
            except sqlite3.Error as exc:
                raise LocalStateError(f"cannot spool the report {self.path}: {exc}") from exc
            self._pending_inputs.clear()

    def _spill_if_full(self) -> None:
        """``_spill`` once memory holds more rows and inputs than ``_MEMORY_ROWS``."""
        if len(self._pending_rows) + len(self._pending_inputs) > _MEMORY_ROWS:
            self._spill()

    def _spill(self) -> None:
        """Move what memory holds to the spool, and spool from now on (under the lock)."""
        self._in_memory = False
        self._spool_inputs()
        self._spool_rows(self._pending_rows)
        self._pending_rows.clear()

    def _spool_rows(self, rows: Sequence[tuple[int | None, int, str, bool, str]]) -> None:
        """Write rows to the spool (under the lock)."""
        if rows:
            try:
                execute_rows(self._db, "INSERT INTO rows", "(?, ?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                raise LocalStateError(f"cannot spool the report {self.path}: {exc}") from exc

    def write(self, result: ConversionResult, line: int | None) -> None:
        """Spool one lead's row."""
        self.write_all([(result, line)])

    def write_all(self, results: Iterable[tuple[ConversionResult, int | None]]) -> None:
        """Spool one row per lead, in the order given (one statement for all of them)."""
        spooled = []
        with self._lock:
            for result, line in results:
                row = _row(result, line)
                success = result.outcome in SUCCESS
                self.outcomes[row["outcome"]] += 1
                if not success:
                    code = row["error_code"] or "none"
                    self.error_codes[code] += 1
                self._seq += 1
                spooled.append((line, self._seq, _encode(row), success, _side(row, success)))
            if self._in_memory:
                self._pending_rows.extend(spooled)
                self._spill_if_full()
            else:
                self._spool_rows(spooled)

    # --- the end -------------------------------------------------------------------------

    def close(self, *, unreached: str | None = None, code: str = "not_sent") -> None:
        """Write the report and its side files in input order, then replace the old ones.

        ``unreached``: the run stopped for this reason (the CRM cannot be used); each input
        line read but given no outcome gets a ``not_attempted`` row saying so, with ``code``
        as its error code (the neutral code of what stopped the run).
        """
        if self._closed:
            return
        written: list[tuple[Path, Path]] = []
        try:
            with self._lock:
                if not self._in_memory or self.fmt == "xlsx" or unreached is not None:
                    self._spill()
            if not self._in_memory:
                self._index_spool(unreached, code)
            written = self._write_all()
            for temporary, final in written:
                os.replace(temporary, final)
            written = []
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise LocalStateError(f"cannot write the report {self.path}: {reason}") from exc
        finally:
            for temporary, _final in written:
                temporary.unlink(missing_ok=True)
            self._discard()

    def _index_spool(self, unreached: str | None, code: str) -> None:
        """Index the spool for reading back, with the unreached leads' rows added."""
        with self._lock:
            # In the order the report is read back (rows without a line last): read by the
            # index, not sorted through a temporary file.
            self._db.execute("CREATE INDEX rows_line ON rows (line IS NULL, line, seq)")
            if unreached is not None:
                self._add_unreached(unreached, code)

    def abandon(self) -> None:
        """Drop the spool and leave the previous report as it was (the run did not complete)."""
        if not self._closed:
            self._discard()

    def _discard(self) -> None:
        self._closed = True
        self._db.close()
        self._spool.unlink(missing_ok=True)

    def _add_unreached(self, reason: str, code: str) -> None:
        unreached = self._db.execute(
            "SELECT line, data FROM inputs WHERE line NOT IN "
            "(SELECT line FROM rows WHERE line IS NOT NULL) ORDER BY line"
        ).fetchall()
        for line, data in unreached:
            row = dict.fromkeys(REPORT_COLUMNS)
            row.update(
                line=line,
                lead_id=json.loads(data).get("lead_id", ""),
                outcome=Outcome.NOT_ATTEMPTED.value,
                error_code=code,
                message=redact(f"not sent: the run stopped first ({reason})"),
                follow_ups=[],
            )
            self.outcomes[Outcome.NOT_ATTEMPTED.value] += 1
            self.error_codes[code] += 1
            self._seq += 1
            # The same encoder as every other row: the report copies spooled rows as they are.
            self._db.execute(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?)",
                (line, self._seq, _encode(row), False, _side(row, False)),
            )

    def _rows(self) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
        cursor = self._db.execute(
            "SELECT r.data, i.data FROM rows r LEFT JOIN inputs i ON i.line = r.line "
            "ORDER BY r.line IS NULL, r.line, r.seq"
        )
        for row, source in cursor:
            yield json.loads(row), json.loads(source) if source else {}

    def _write_all(self) -> list[tuple[Path, Path]]:
        targets = [(self.path, self.fmt)]
        if self.success is not None:
            targets.append((self.success, "success"))
        if self.errors is not None:
            targets.append((self.errors, "errors"))
        written: list[tuple[Path, Path]] = []
        streams: list[tuple[IO[str], str]] = []
        try:
            for final, kind in targets:
                temporary = _new_file(final)
                written.append((temporary, final))
                if kind == "xlsx":
                    self._write_xlsx(temporary)
                else:
                    streams.append((temporary.open("w", encoding="utf-8", newline=""), kind))
            try:
                # Every text file in one pass over the spool: each row is read and decoded once.
                self._write_texts(streams)
                for stream, _kind in streams:
                    stream.flush()
                    os.fsync(stream.fileno())
            finally:
                for stream, _kind in streams:
                    stream.close()
        except BaseException:
            for temporary, _final in written:
                temporary.unlink(missing_ok=True)
            raise
        return written

    def _write_texts(self, streams: Sequence[tuple[IO[str], str]]) -> None:
        """Write the JSON Lines or CSV report and the success and error files together."""
        if not streams:
            return
        inputs = list(self._input_columns)
        side_inputs = inputs or ["lead_id"]
        jsonl: list[IO[str]] = []
        csv_reports: list[Any] = []
        sides: list[tuple[IO[str], bool]] = []
        for stream, kind in streams:
            if kind == "jsonl":
                jsonl.append(stream)
                continue
            writer = csv.writer(stream)
            if kind == "csv":
                writer.writerow([*REPORT_COLUMNS, *(f"input.{c}" for c in inputs)])
                csv_reports.append(writer)
            else:
                success = kind == "success"
                columns = SUCCESS_COLUMNS if success else ERROR_COLUMNS
                writer.writerow([*side_inputs, *columns])
                sides.append((stream, success))
        # Which input columns hold ids (kept as text even when all digits), once for every row.
        side_input_ids = [(c, c.endswith("_id")) for c in side_inputs]
        # The side files a row goes to, by whether its lead is converted.
        by_outcome = {
            converted: [stream for stream, success in sides if success == converted]
            for converted in (True, False)
        }
        for row_text, source_text, succeeded, side, cells, known in self._joined():
            for stream in jsonl:
                # The row as spooled, with its input appended: the same text as encoding
                # {**row, "input": source} again (one encoder, same settings, keys in order).
                stream.write(f'{row_text[:-1]},"input":{source_text or "{}"}}}\n')
            if csv_reports:
                row = json.loads(row_text)
                source = json.loads(source_text) if source_text else {}
                for writer in csv_reports:
                    writer.writerow(
                        [_csv_report_cell(c, row[c]) for c in REPORT_COLUMNS]
                        + [report_cell(source.get(c)) for c in inputs]
                    )
            targets = by_outcome[bool(succeeded)]
            if not targets:
                continue
            if cells is not None and known is not None and inputs:
                # Rendered when it was tapped; the columns found since are empty in it.
                before = cells + "," * (len(inputs) - known)
            else:
                given = json.loads(source_text) if source_text else {}
                if not given:
                    given = {"lead_id": json.loads(row_text)["lead_id"]}
                before = _input_cells(given, side_input_ids)
            # The input's cells, then the row's own, rendered when it was spooled: the same
            # text as csv writing the whole row (_cell).
            line = f"{before},{side}\r\n"
            for stream in targets:
                stream.write(line)

    def _joined(self) -> Iterator[tuple[str, str | None, int, str, str | None, int | None]]:
        """Each row with its input, in input order (rows without a line last, in the order
        they came): from memory, or from the spool by its index."""
        if not self._in_memory:
            yield from self._db.execute(
                "SELECT r.data, i.data, r.success, r.side, i.cells, i.ncols FROM rows r LEFT JOIN"
                " inputs i ON i.line = r.line ORDER BY r.line IS NULL, r.line, r.seq"
            )
            return
        # As the spool's INSERT OR REPLACE keeps them: the last input tapped for a line.
        inputs = {line: (data, cells, known) for line, data, cells, known in self._pending_inputs}
        rows = sorted(self._pending_rows, key=_input_order)
        for line, _seq, row_text, succeeded, side in rows:
            given = inputs.get(line) if line is not None else None
            if given is None:
                yield row_text, None, succeeded, side, None, None
            else:
                yield row_text, given[0], succeeded, side, given[1], given[2]

    def _write_xlsx(self, path: Path) -> None:
        # Loaded only for an XLSX report; the library has no type information.
        xlsxwriter: Any = importlib.import_module("xlsxwriter")
        inputs = list(self._input_columns)
        book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "strings_to_numbers": False}
        )
        try:
            sheet = book.add_worksheet("report")
            bold = book.add_format({"bold": True})
            headers = [*REPORT_COLUMNS, *(f"input.{c}" for c in inputs)]
            for col, name in enumerate(headers):
                sheet.write_string(0, col, name, bold)
            sheet.freeze_panes(1, 0)
            for number, (row, source) in enumerate(self._rows(), start=1):
                for col, name in enumerate(REPORT_COLUMNS):
                    value = row[name]
                    if name == "follow_ups":
                        value = json.dumps(value) if value else None
                    if value is None or value == "":
                        continue
                    if name in ("line", "call") and isinstance(value, int):
                        sheet.write_number(number, col, value)
                    else:
                        # Always a string cell: ids stay text, nothing is ever a formula.
                        sheet.write_string(number, col, _xlsx_text(value))
                for offset, name in enumerate(inputs, start=len(REPORT_COLUMNS)):
                    value = source.get(name)
                    if value:
                        sheet.write_string(number, offset, _xlsx_text(value))
            summary = book.add_worksheet("summary")
            summary.write_row(0, 0, ["outcome", "leads"], bold)
            at = 1
            for outcome, count in sorted(self.outcomes.items()):
                summary.write_string(at, 0, outcome)
                summary.write_number(at, 1, count)
                at += 1
            summary.write_string(at, 0, "total", bold)
            summary.write_number(at, 1, sum(self.outcomes.values()), bold)
            at += 2
            summary.write_row(at, 0, ["error code (leads not converted)", "leads"], bold)
            for code, count in sorted(self.error_codes.items()):
                at += 1
                summary.write_string(at, 0, code)
                summary.write_number(at, 1, count)
        finally:
            book.close()

    def summary(self) -> dict[str, Any]:
        """Leads by outcome and not-converted leads by error code, for the terminal and JSON."""
        return {
            "outcomes": dict(sorted(self.outcomes.items())),
            "error_codes": dict(sorted(self.error_codes.items())),
            "total": sum(self.outcomes.values()),
        }


#: The success and error files' own columns (``line`` aside): the row's key for each, and
#: whether it holds ids.
_SUCCESS_FROM = (
    ("outcome", False),
    ("account_id", True),
    ("contact_id", True),
    ("opportunity_id", True),
    ("job_id", True),
    ("merge", False),
)
_ERROR_FROM = (
    ("outcome", False),
    ("error_code", False),
    ("backend_code", False),
    ("message", False),
    ("matched_ids", False),
)
#: A cell's first character that ``report_cell`` looks at twice: digits aside, these.
_CHECKED_FIRST = frozenset("+-") | _FORMULA_FIRST


def _input_cells(source: Mapping[str, Any], columns: Sequence[tuple[str, bool]]) -> str:
    """The cells of ``columns`` in ``source`` as CSV text within a row (``_cell`` of each)."""
    return ",".join([_cell(source.get(column), identifier) for column, identifier in columns])


def _tapped_cells(
    source: Mapping[str, Any],
    columns: Sequence[tuple[str, bool]],
    known: tuple[dict[str, str], dict[str, str]],
) -> str:
    """``_input_cells``, each text value rendered once per run: an input's columns mostly
    repeat from line to line (owner, stage, pipeline, status), and rendering every cell again
    was two thirds of ``tap``."""
    cells = []
    for column, identifier in columns:
        value = source.get(column)
        if value is None:
            # A column this line does not have (most, where lines differ in shape).
            cells.append("")
            continue
        if type(value) is str:
            if identifier and value.isdigit():
                # An id of digits, as _cell writes it: most are unique, nothing to remember.
                cells.append(f'"=""{value}"""')
                continue
            rendered = known[identifier]
            cell = rendered.get(value)
            if cell is None:
                cell = _cell(value, identifier)
                if len(rendered) < _KNOWN_CELLS:
                    rendered[value] = cell
        else:
            cell = _cell(value, identifier)
        cells.append(cell)
    return ",".join(cells)


def _cell(value: Any, identifier: bool = False) -> str:
    """``report_cell(value)`` as csv writes it within a row of two cells or more."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if not text:
        return ""
    first = text[0]
    # The common cases at once: text that can be neither a number nor a formula (only csv's
    # quoting can apply to it), and an id of digits (``_text_cell``'s ``="…"``, quoted).
    if first not in _CHECKED_FIRST and not first.isdigit():
        return _csv_cell(text)
    if identifier and text.isdigit():
        return f'"=""{text}"""'
    return _csv_cell(_text_cell(text, identifier))


def _csv_cell(text: str) -> str:
    """``text`` as ``csv.writer`` writes it in a row of two cells or more.

    The excel dialect quotes a cell holding its delimiter, its quote or a line break, and
    doubles the quotes inside; nothing else. (A row of one empty cell is the one other case,
    and no row here has fewer than two.) csv's writer looks up every character of every cell in
    turn: for a report's rows that was a fifth of writing them.
    """
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _side(row: Mapping[str, Any], success: bool) -> str:
    """The row's own cells of its success or error file, as CSV text within the row."""
    cells = []
    for key, identifier in _SUCCESS_FROM if success else _ERROR_FROM:
        value = row[key]
        if value is None:
            cells.append("")
        elif identifier and type(value) is str and value.isdigit():
            # An id of digits (most of a success row), as _cell writes it, without the call.
            cells.append(f'"=""{value}"""')
        else:
            cells.append(_cell(value, identifier))
    line = row["line"]
    cells.append(str(line) if line else "")
    return ",".join(cells)


#: Rows and inputs as compact JSON (msgspec: one encoder for every row, about a sixth of the
#: standard library's time on a report row; the JSON Lines report copies the text as spooled).
_encode = json_writer()


def _row(result: ConversionResult, line: int | None) -> dict[str, Any]:
    error = result.error
    follow_ups = [
        {
            "action": f.action,
            "succeeded": f.succeeded,
            "error_code": f.error.code.value if f.error else None,
            "message": redact(f.error.message) if f.error else None,
        }
        for f in result.follow_ups
    ]
    return {
        "line": line,
        "lead_id": result.lead_id,
        # ``_value_``: the member's value as an attribute (``value`` is a descriptor call).
        "outcome": result.outcome._value_,
        "account_id": result.account_id,
        "contact_id": result.contact_id,
        "opportunity_id": result.opportunity_id,
        "error_code": error.code.value if error else None,
        "backend_code": error.backend_code if error else None,
        # Messages may quote what a library said about a request: never let a secret through.
        "message": redact(error.message) if error else None,
        # The existing records a duplicate rule matched: candidates for --on-match or a merge.
        "matched_ids": " ".join(error.matched_ids) if error and error.matched_ids else None,
        "call": result.call,
        "job_id": result.job_id,
        "follow_ups": follow_ups,
        "merge": result.merge,
    }


def _input_order(row: tuple[int | None, int, str, bool, str]) -> tuple[bool, int, int]:
    """A spooled row's place in the report: by line, rows without one last; then as they came."""
    line = row[0]
    return (line is None, line or 0, row[1])


def _csv_report_cell(column: str, value: Any) -> str:
    if column == "follow_ups":
        return report_cell(json.dumps(value)) if value else ""
    if column in ("line", "call"):
        return "" if value is None else str(value)
    return report_cell(value, identifier=column.endswith("_id"))


def _new_file(final: Path) -> Path:
    """A new, empty file beside ``final`` with the permissions ``final`` would get (the umask
    applies: a report is for the team, unlike mkstemp's 0600)."""
    for _ in range(100):
        candidate = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"no free temporary name beside {final}")


def _xlsx_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _XLSX_MAX else text[:_XLSX_MAX] + "…"
