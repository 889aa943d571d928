"""Reading conversions from JSON Lines and CSV, lazily, one record at a time.

The file is read as bytes, line by line, so that every problem names its line: invalid UTF-8,
a line too long or nested too deep, bad JSON, a bad CSV cell. A bad line never stops the
others: each record comes back with the conversion or with every violation that kept it from
being one, and the line number it started on. Only what makes the whole file unusable is an
``InputError``, raised before the first record is returned: a missing file, an empty one, a CSV
header with unknown or repeated columns.
"""

from __future__ import annotations

import csv
import enum
import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import simplejson
from attrs import frozen

from ._exceptions import EmptyInputError, InputError
from ._json import NeutralConverter, _quick_conversion, dumps_json, loads_json, loads_json_line
from ._model import Conversion, trusted_constructor
from ._results import Violation

__all__ = [
    "CSV_COLUMNS",
    "CSV_DELIMITERS",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "InputFormat",
    "InputRecord",
    "printable",
    "read_records",
]

#: Deepest JSON nesting a line may have; the neutral form needs 4, so 64 is generous, and it
#: keeps a hostile line from exhausting the parser's recursion.
MAX_DEPTH = 64
#: Longest line read (1 MiB); longer lines are reported and skipped without being held.
MAX_LINE_BYTES = 1 << 20
#: Delimiters tried when sniffing a CSV header: spreadsheets in many locales save with ``;``.
CSV_DELIMITERS = (",", ";", "\t", "|")


@functools.cache
def _unprintable() -> re.Pattern[str]:
    # Compiled when first needed (0.5 ms: the surrogates make a large class); only messages
    # about bad input and log lines are escaped.
    return re.compile(
        "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
    )


def printable(text: str) -> str:
    """``text`` safe to show on a terminal or in a log: control characters, ANSI escapes,
    bidirectional overrides and undecodable bytes are written as escapes (``\\x1b``)."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _unprintable().sub(escape, text)


class InputFormat(enum.Enum):
    """The input file formats."""

    JSONL = "jsonl"
    CSV = "csv"

    @classmethod
    def for_path(cls, path: Path) -> InputFormat:
        """Guess the format from the file name: ``.csv`` is CSV, everything else JSON Lines."""
        return cls.CSV if path.suffix.lower() == ".csv" else cls.JSONL


@frozen
class InputRecord:
    """One input record: its line, and the conversion or the violations that prevent one."""

    line: int
    conversion: Conversion | None
    violations: tuple[Violation, ...] = ()
    #: The lead id when it could be read, even from an invalid record.
    lead_id: str | None = None
    #: The record's own cells as read (CSV: by header name; JSON Lines: the top-level keys with
    #: scalar values), for reports that carry the input's columns next to the outcome.
    source: Mapping[str, str] | None = None


#: The CSV columns, each with what it means. Empty cells take the neutral default.
CSV_COLUMNS: Mapping[str, str] = {
    "lead_id": "the lead to convert (required)",
    "account_id": "merge into this existing account (otherwise one is created from the lead)",
    "person_account_id": "merge into this existing person account (Salesforce)",
    "contact_id": "merge into this existing contact (otherwise one is created from the lead)",
    "opportunity_id": "attach this existing opportunity",
    "opportunity_name": "create an opportunity with this name",
    "create_opportunity": "true: create an opportunity even without opportunity_name (the CRM "
    "names it, e.g. after the lead's company); false: create none",
    "opportunity_stage": "stage of the created opportunity",
    "opportunity_close_date": "close date of the created opportunity, YYYY-MM-DD",
    "opportunity_pipeline": "pipeline of the created opportunity",
    "opportunity_amount": "amount of the created opportunity, a decimal number",
    "opportunity_contact_role": "contact role id for the created opportunity",
    "owner_id": "user who owns the new records",
    "notify_lead_owner": "true/false",
    "notify_new_owner": "true/false",
    "overwrite_account_name": "true/false",
    "overwrite_lead_source": "true/false",
    "converted_status": "the converted lead status",
    "move_attachments_to": "contacts, accounts or deals",
    "carry_tags_to_contacts": "tag names separated by '|', or * for all",
    "carry_tags_to_accounts": "tag names separated by '|', or * for all",
    "carry_tags_to_deals": "tag names separated by '|', or * for all",
    "opportunity.<Field>": "any further opportunity field, by the CRM's field name (text)",
    "options.<backend>": "that backend's options as a JSON object",
}

_PREFIXES = ("opportunity.", "options.")
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def read_records(
    path: Path,
    converter: NeutralConverter,
    fmt: InputFormat | None = None,
    *,
    delimiter: str | None = None,
    sources: bool = True,
) -> Iterator[InputRecord]:
    """The records of ``path``, read one at a time.

    The file is opened, and a CSV header checked, before this returns: a missing file, an
    empty one (``EmptyInputError``) or an unusable header is an ``InputError`` at once, before
    anything else (an emulator, a journal) is started. ``delimiter`` is the CSV delimiter;
    without it the header line decides among ``, ; TAB |``. ``sources=False`` leaves out each
    record's ``source`` (the report's input columns): commands that write no report need not
    build them (for nested JSON Lines that was 15% of ``leadconvert plan``).
    """
    fmt = fmt or InputFormat.for_path(path)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        _check_kind(path, stream)
        if fmt is InputFormat.CSV:
            records = _read_csv(_Lines(stream), converter, delimiter, sources)
        else:
            records = _read_jsonl(_Lines(stream), converter, sources)
        first = next(records, None)
    except BaseException:
        stream.close()
        raise
    if first is None:
        stream.close()
        raise EmptyInputError(f"{path} holds no conversions: nothing to do")
    return _closing(stream, itertools.chain((first,), records))


#: What a spreadsheet saves when it is not asked for CSV UTF-8, by the file's first bytes.
_NOT_TEXT = (
    (b"PK\x03\x04", "an XLSX/ZIP file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (XLS) file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)


def _check_kind(path: Path, stream: IO[bytes]) -> None:
    """Refuse at once a file that is not text at all, rather than one violation per line."""
    head = stream.read(4)
    stream.seek(0)
    for magic, kind in _NOT_TEXT:
        if head.startswith(magic):
            raise InputError(
                f"{path} is {kind}, not CSV or JSON Lines: save the sheet as CSV UTF-8 "
                "(comma or semicolon separated)"
            )


def _closing(stream: IO[bytes], records: Iterator[InputRecord]) -> Iterator[InputRecord]:
    with stream:
        try:
            yield from records
        except OSError as exc:
            raise InputError(f"reading the input failed: {exc.strerror or exc}") from exc


class _Lines:
    """The file's lines as text, numbered from 1, never more than ``MAX_LINE_BYTES`` held.

    A line that is not UTF-8 is decoded with ``surrogateescape`` (so a CSV parse can go on)
    and recorded in ``bad`` with the reason; a line too long is cut and recorded likewise.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.number = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            # Spreadsheets save a byte-order mark that must not join the first column's name.
            raw = raw[3:]
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := self._stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            self.bad[self.number] = f"the line is longer than {MAX_LINE_BYTES} bytes"
            raw = raw[:MAX_LINE_BYTES] + b"\n"
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad[self.number] = (
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} "
                "(save the file as UTF-8)"
            )
            return raw.decode("utf-8", "surrogateescape")


def _problem(rule: str, message: str, path: str = "") -> Violation:
    return Violation(rule=rule, path=path, message=message)


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (strings left out)."""
    brackets = re.sub(r'"(?:[^"\\]|\\.)*"?|[^\[\]{}"]+', "", text)
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _read_jsonl(
    lines: _Lines, converter: NeutralConverter, sources: bool = True
) -> Iterator[InputRecord]:
    # ``_record`` inlined for the common line (a JSON object whose values take their common
    # shape): the same records, one Python call per line fewer. Anything else takes its steps.
    bad_lines = lines.bad
    new_record = _new_record
    quick = _quick_conversion
    structure_options = converter._quick_options
    detailed = converter._detailed_violations
    loads = loads_json_line
    for text in lines:
        number = lines.number
        if bad_lines:
            bad = bad_lines.pop(number, None)
            if bad is not None:
                rule = "input.encoding" if bad.startswith("not UTF-8") else "input.too_long"
                yield InputRecord(number, None, (_problem(rule, bad),))
                continue
        # A line that starts an object is not blank: only others need the copy strip makes.
        if text[:1] != "{" and not text.strip():
            continue
        # No deeper than the line has opening brackets: counted in C, the scan runs only then.
        if text.count("{") + text.count("[") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
            yield InputRecord(
                number,
                None,
                (_problem("input.json", f"nested deeper than {MAX_DEPTH} levels"),),
            )
            continue
        try:
            data = loads(text)
        except simplejson.JSONDecodeError as exc:
            message = f"not valid JSON: {exc.msg} at column {exc.colno}"
            yield InputRecord(number, None, (_problem("input.json", message),))
            continue
        except RecursionError:
            message = f"nested deeper than {MAX_DEPTH} levels"
            yield InputRecord(number, None, (_problem("input.json", message),))
            continue
        # A \uD800-\uDFFF escape without its pair decodes to text that UTF-8 cannot carry: no
        # request, report or journal could hold it. Looked for only in a line with a backslash
        # (one memchr; a search for the two characters of the escape took 1,000 instructions).
        if "\\" in text and _SURROGATE_ESCAPE.search(text):
            unpaired = _unpaired_surrogate(data)
            if unpaired is not None:
                yield _surrogate_record(number, data, unpaired)
                continue
        conversion = None
        if type(data) is dict and converter._fast:
            conversion = quick(data, structure_options)
        if conversion is not None:
            # The fast path took the line's lead_id (a str) as the conversion's.
            yield new_record(
                number, conversion, (), conversion.lead_id, _json_source(data) if sources else None
            )
            continue
        # The detailed path alone: the fast path was tried above.
        yield _record(number, data, detailed, _json_source(data) if sources else None)


#: A JSON escape of a UTF-16 surrogate (paired or not: decoding tells them apart).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _unpaired_surrogate(value: Any, path: str = "") -> tuple[str, str] | None:
    """The path of the first key or text in ``value`` holding an unpaired surrogate, with it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return path, value[exc.start]
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found = _unpaired_surrogate(key, name) or _unpaired_surrogate(item, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unpaired_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _surrogate_record(number: int, data: Any, unpaired: tuple[str, str]) -> InputRecord:
    path, char = unpaired
    # The path names the field; one made of the unpaired character itself is shown escaped.
    shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
    message = (
        f"holds an unpaired UTF-16 surrogate (\\u{ord(char):04x}), which UTF-8 cannot carry: "
        "write the character whole (or its two escapes together)"
    )
    lead_id = data.get("lead_id") if isinstance(data, dict) else None
    if not isinstance(lead_id, str) or _unpaired_surrogate(lead_id) is not None:
        lead_id = None
    return InputRecord(number, None, (_problem("input.encoding", message, shown),), lead_id)


def _json_source(data: Any) -> dict[str, str] | None:
    """The line's values as the report's input columns: nested objects flattened with dots
    (``account.id``), lists as JSON, at most 50 columns."""
    if type(data) is not dict:
        return _flattened(data) if isinstance(data, Mapping) else None
    # ``_flatten`` with its first two levels written out, and the column limit checked once:
    # most lines hold text, nulls and objects of text, taken here without a call each;
    # anything else gets ``_value``. The keys are text, as JSON's always are.
    out: dict[str, str] = {}
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            out[key] = value
        elif kind is dict:
            # As _flatten names them: under an empty name, a key stands alone.
            prefix = f"{key}." if key else ""
            for inner, item in value.items():
                if type(item) is str:
                    out[prefix + inner] = item
                elif item is not None:
                    _value(out, prefix + inner, item)
        elif value is not None:
            _value(out, key, value)
    # At the limit: _flatten keeps the first columns, stopping where it is reached (a name
    # given twice after that keeps its first value).
    return out if len(out) < _MAX_SOURCE_COLUMNS else _flattened(data)


def _flattened(mapping: Mapping[Any, Any]) -> dict[str, str]:
    """``mapping``'s columns by the general path."""
    out: dict[str, str] = {}
    _flatten(out, "", mapping)
    return out


def _flatten(out: dict[str, str], prefix: str, mapping: Mapping[Any, Any]) -> None:
    for key, value in mapping.items():
        if len(out) >= _MAX_SOURCE_COLUMNS:
            return
        name = f"{prefix}.{key}" if prefix else str(key)
        if type(value) is str:
            out[name] = value
        elif value is not None:
            _value(out, name, value)


def _value(out: dict[str, str], name: str, value: Any) -> None:
    """The column (or, for an object, the columns) of a value that is neither text nor null.

    Exact type checks first (what JSON decoding gives), the abstract ones (a slow
    ``isinstance`` against an ABC) only for anything else."""
    kind = type(value)
    if kind is bool:
        out[name] = "true" if value else "false"
    elif kind is dict or (kind is not list and isinstance(value, Mapping)):
        _flatten(out, name, value)
    elif isinstance(value, list):
        out[name] = dumps_json(value)
    else:
        out[name] = str(value)


#: Input columns a JSON Lines line gives its report row at most.
_MAX_SOURCE_COLUMNS = 50


#: InputRecord(...) without attrs' __init__ (it has neither converters nor validators).
_new_record = trusted_constructor(InputRecord)


def _record(
    number: int,
    data: Any,
    violations: Callable[[Any], tuple[Conversion | None, tuple[Violation, ...]]],
    source: Mapping[str, str] | None,
) -> InputRecord:
    """The record of ``data``: what ``violations`` (a ``NeutralConverter``'s) makes of it."""
    conversion, problems = violations(data)
    lead_id = data.get("lead_id") if type(data) is dict or isinstance(data, Mapping) else None
    return _new_record(
        number,
        conversion,
        problems,
        lead_id if isinstance(lead_id, str) else None,
        source,
    )


def _sniff(header: str) -> str:
    """The delimiter of a header line: the candidate that splits it most, outside quotes."""
    bare = re.sub(r'"[^"]*"', "", header)
    counts = {d: bare.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column(name: str) -> str:
    """A header name as matched: surrounding spaces and case ignored, except in the part
    after ``opportunity.`` (a CRM field name, whose case matters)."""
    name = name.strip()
    prefix, dot, rest = name.partition(".")
    if dot and prefix.strip().lower() in ("opportunity", "options"):
        rest = rest.strip()
        return f"{prefix.strip().lower()}.{rest.lower() if prefix.lower() == 'options' else rest}"
    return name.lower()


def _check_header(names: list[str]) -> list[str]:
    """The matched column names; ``InputError`` for unknown or repeated columns."""
    columns = [_column(n) for n in names]
    # Spreadsheets add empty columns at the end of a sheet: ignore those, not empty names
    # between real ones.
    while columns and not columns[-1]:
        columns.pop()
    problems: list[str] = []
    known = [c for c in CSV_COLUMNS if "<" not in c]
    for position, (raw, column) in enumerate(zip(names, columns, strict=False), start=1):
        if column in CSV_COLUMNS or (column.startswith(_PREFIXES) and column.partition(".")[2]):
            continue
        shown = printable(raw.strip()) or "(empty)"
        if any(d in column for d in CSV_DELIMITERS if d != ","):
            suggestion = " (is the delimiter another one? see --delimiter)"
        else:
            # Imported for the hint alone: reading input that has no unknown column needs none.
            import difflib

            hint = difflib.get_close_matches(column, known, n=1, cutoff=0.6)
            suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        problems.append(f"column {position} {shown!r} is unknown{suggestion}")
    seen: dict[str, int] = {}
    for position, column in enumerate(columns, start=1):
        if not column:
            continue
        if column in seen:
            problems.append(
                f"column {position} {printable(column)!r} repeats column {seen[column]}: "
                "which cell counts would be a guess"
            )
        else:
            seen[column] = position
    if not problems and "lead_id" not in seen:
        problems.append("there is no lead_id column")
    if problems:
        raise InputError(
            "the CSV header (line 1) is not usable: "
            + "; ".join(problems)
            + ". The columns are: "
            + ", ".join(CSV_COLUMNS)
            + " (names ignore case and surrounding spaces; `leadconvert schema` describes "
            "the JSON Lines form)"
        )
    return columns


def _read_csv(
    lines: _Lines,
    converter: NeutralConverter,
    delimiter: str | None,
    sources: bool = True,
) -> Iterator[InputRecord]:
    header_line = next(lines, None)
    while header_line is not None and not header_line.strip():
        header_line = next(lines, None)
    if header_line is None:
        return
    if 1 in lines.bad or lines.number in lines.bad:
        raise InputError(f"the CSV header (line {lines.number}) is {lines.bad[lines.number]}")
    sep = delimiter or _sniff(header_line)
    try:
        header = next(csv.reader([header_line], delimiter=sep, strict=True))
    except csv.Error as exc:
        raise InputError(f"the CSV header (line {lines.number}) cannot be read: {exc}") from exc
    columns = _check_header(header)
    width = len(columns)
    reader = csv.reader(lines, delimiter=sep, strict=True)
    while True:
        start = lines.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            for number in range(start, lines.number + 1):
                lines.bad.pop(number, None)
            yield InputRecord(start, None, (_problem("input.csv", f"not valid CSV: {exc}"),))
            continue
        bad = [(n, lines.bad.pop(n)) for n in range(start, lines.number + 1) if n in lines.bad]
        if not any(cell.strip() for cell in row) and not bad:
            continue
        cells = [_unwrap(cell.strip()) for cell in row]
        lead_id = cells[columns.index("lead_id")] if len(cells) > columns.index("lead_id") else ""
        problems: list[Violation] = [
            _problem(
                "input.encoding" if m.startswith("not UTF-8") else "input.too_long",
                m if n == start else f"line {n}: {m}",
            )
            for n, m in bad
        ]
        # Cells past the header's last named column must be empty (a trailing empty column).
        if any(cells[width:]) or (len(cells) < width and any(columns[len(cells) :])):
            problems.append(
                _problem(
                    "input.csv",
                    f"the row has {len(cells)} cells, the header {width}",
                )
            )
        if problems:
            yield InputRecord(start, None, tuple(problems), lead_id or None)
            continue
        named = {c: v for c, v in zip(columns, cells, strict=False) if c}
        data, problems = _csv_row_to_json(named)
        if problems:
            yield InputRecord(start, None, tuple(problems), data.get("lead_id"), named)
        else:
            yield _record(start, data, converter.violations, named if sources else None)


def _unwrap(cell: str) -> str:
    """A cell as written for spreadsheets, back to its text: ``="0012"`` (how leadconvert's
    reports keep long ids as text) is ``0012``."""
    if cell.startswith('="') and cell.endswith('"') and len(cell) >= 3:
        inner = cell[2:-1]
        if '"' not in inner:
            return inner
    return cell


def _csv_row_to_json(row: Mapping[str, str]) -> tuple[dict[str, Any], list[Violation]]:
    """A CSV row in the neutral JSON form; empty cells are left out (the neutral default)."""
    cells = {key: value.strip() for key, value in row.items() if value.strip()}
    problems: list[Violation] = []
    data: dict[str, Any] = {}
    if "lead_id" in cells:
        data["lead_id"] = cells["lead_id"]
    if "account_id" in cells and "person_account_id" in cells:
        problems.append(
            Violation(
                rule="input.csv",
                path="account_id",
                message="account_id and person_account_id are exclusive",
            )
        )
    elif "account_id" in cells:
        data["account"] = {"action": "merge", "id": cells["account_id"]}
    elif "person_account_id" in cells:
        data["account"] = {"action": "merge_person_account", "id": cells["person_account_id"]}
    if "contact_id" in cells:
        data["contact"] = {"action": "merge", "id": cells["contact_id"]}

    creating: dict[str, Any] = {
        key: cells[column]
        for key, column in (
            ("name", "opportunity_name"),
            ("stage", "opportunity_stage"),
            ("close_date", "opportunity_close_date"),
            ("pipeline", "opportunity_pipeline"),
            ("amount", "opportunity_amount"),
            ("contact_role", "opportunity_contact_role"),
        )
        if column in cells
    }
    extra = {
        key.removeprefix("opportunity."): value
        for key, value in cells.items()
        if key.startswith("opportunity.")
    }
    if extra:
        creating["fields"] = extra
    if "opportunity_id" in cells:
        if creating:
            problems.append(
                Violation(
                    rule="input.csv",
                    path="opportunity_id",
                    message="opportunity_id attaches an existing opportunity; the columns that "
                    f"create one ({', '.join(sorted(creating))}) must then be empty",
                )
            )
        data["opportunity"] = {"action": "attach", "id": cells["opportunity_id"]}
    elif creating or cells.get("create_opportunity", "").lower() in _TRUE:
        data["opportunity"] = {"action": "create", **creating}
    if cells.get("create_opportunity", "").lower() in _FALSE and "opportunity" in data:
        problems.append(
            Violation(
                rule="input.csv",
                path="create_opportunity",
                message="create_opportunity is false, but the row names an opportunity",
            )
        )
    elif (flag := cells.get("create_opportunity", "").lower()) and flag not in _TRUE | _FALSE:
        problems.append(
            Violation(
                rule="input.csv",
                path="create_opportunity",
                message=f"expected true or false, got {cells['create_opportunity']!r}",
            )
        )

    for column in ("owner_id", "converted_status", "move_attachments_to"):
        if column in cells:
            data[column] = cells[column]
    for column in (
        "notify_lead_owner",
        "notify_new_owner",
        "overwrite_account_name",
        "overwrite_lead_source",
    ):
        if column in cells:
            flag = cells[column].lower()
            if flag in _TRUE:
                data[column] = True
            elif flag in _FALSE:
                data[column] = False
            else:
                problems.append(
                    Violation(
                        rule="input.csv",
                        path=column,
                        message=f"expected true or false, got {cells[column]!r}",
                    )
                )
    tags: dict[str, Any] = {}
    for module in ("contacts", "accounts", "deals"):
        value = cells.get(f"carry_tags_to_{module}")
        if value:
            tags[module] = "all" if value == "*" else [t.strip() for t in value.split("|")]
    if tags:
        data["carry_over_tags"] = tags
    options: dict[str, Any] = {}
    for key, value in cells.items():
        if key.startswith("options."):
            backend = key.removeprefix("options.")
            try:
                options[backend] = loads_json(value)
            except simplejson.JSONDecodeError as exc:
                problems.append(
                    Violation(
                        rule="input.csv",
                        path=key,
                        message=f"expected a JSON object: {exc.msg}",
                    )
                )
    if options:
        data["options"] = options
    return data, problems
