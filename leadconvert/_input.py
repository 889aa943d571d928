"""Reading conversions from JSON Lines and CSV, lazily, one record at a time.

A bad line never stops the others: each record comes back with the conversion or with every
violation that kept it from being one, and the line number it started on.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import simplejson
from attrs import frozen

from ._exceptions import InputError
from ._json import NeutralConverter, loads_json
from ._model import Conversion
from ._results import Violation

__all__ = ["CSV_COLUMNS", "InputFormat", "InputRecord", "read_records"]


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


#: The CSV columns, each with what it means. Empty cells take the neutral default.
CSV_COLUMNS: Mapping[str, str] = {
    "lead_id": "the lead to convert (required)",
    "account_id": "merge into this existing account (otherwise one is created from the lead)",
    "person_account_id": "merge into this existing person account (Salesforce)",
    "contact_id": "merge into this existing contact (otherwise one is created from the lead)",
    "opportunity_id": "attach this existing opportunity",
    "opportunity_name": "create an opportunity with this name",
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

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def read_records(
    path: Path, converter: NeutralConverter, fmt: InputFormat | None = None
) -> Iterator[InputRecord]:
    """Yield the records of ``path`` one at a time; ``InputError`` if it cannot be read at all."""
    fmt = fmt or InputFormat.for_path(path)
    try:
        # utf-8-sig: spreadsheets save CSV with a byte-order mark that must not join the header.
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with stream:
        try:
            if fmt is InputFormat.CSV:
                yield from _read_csv(stream, converter)
            else:
                yield from _read_jsonl(stream, converter)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text: {exc}") from exc


def _read_jsonl(stream: TextIO, converter: NeutralConverter) -> Iterator[InputRecord]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            data = loads_json(text)
        except simplejson.JSONDecodeError as exc:
            yield InputRecord(
                number,
                None,
                (Violation(rule="input.json", path="", message=f"not valid JSON: {exc.msg}"),),
            )
            continue
        yield _record(number, data, converter)


def _record(number: int, data: Any, converter: NeutralConverter) -> InputRecord:
    conversion, problems = converter.violations(data)
    lead_id = data.get("lead_id") if isinstance(data, Mapping) else None
    return InputRecord(number, conversion, problems, lead_id if isinstance(lead_id, str) else None)


def _read_csv(stream: TextIO, converter: NeutralConverter) -> Iterator[InputRecord]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"the CSV header cannot be read: {exc}") from exc
    header = [name.strip() for name in header]
    unknown = [
        name
        for name in header
        if name not in CSV_COLUMNS and not name.startswith(("opportunity.", "options."))
    ]
    if unknown:
        raise InputError(
            f"unknown CSV column(s) {', '.join(unknown)}; the columns are documented in "
            "docs/json-form.md"
        )
    if "lead_id" not in header:
        raise InputError("the CSV header has no lead_id column")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield InputRecord(
                start, None, (Violation(rule="input.csv", path="", message=str(exc)),)
            )
            start = reader.line_num + 1
            continue
        if not any(cell.strip() for cell in row):
            start = reader.line_num + 1
            continue
        if len(row) != len(header):
            yield InputRecord(
                start,
                None,
                (
                    Violation(
                        rule="input.csv",
                        path="",
                        message=f"the row has {len(row)} cells, the header {len(header)}",
                    ),
                ),
            )
        else:
            data, problems = _csv_row_to_json(dict(zip(header, row, strict=True)))
            if problems:
                lead_id = data.get("lead_id")
                yield InputRecord(start, None, tuple(problems), lead_id)
            else:
                yield _record(start, data, converter)
        start = reader.line_num + 1


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
    elif creating:
        data["opportunity"] = {"action": "create", **creating}

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
