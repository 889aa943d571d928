"""Reading JSON Lines and CSV: lazily, with line numbers, bad lines never stopping the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadconvert import (
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    NeutralConverter,
    read_records,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestJsonLines:
    def test_bad_lines_reported_with_numbers(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Each bad line is reported with its number; the good ones still come through."""
        path = _write(
            tmp_path,
            "in.jsonl",
            '{"lead_id": "1"}\n\nnot json\n{"lead_id": 2}\n{"lead_id": "3"}\n',
        )
        records = list(read_records(path, converter))
        assert [(r.line, r.conversion is not None) for r in records] == [
            (1, True),
            (3, False),
            (4, False),
            (5, True),
        ]
        assert records[1].violations[0].rule == "input.json"

    def test_lazy(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Records are read one at a time, not all at once."""
        path = _write(tmp_path, "in.jsonl", '{"lead_id": "1"}\n' * 3)
        iterator = read_records(path, converter)
        assert next(iterator).line == 1

    def test_missing_file(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A file that cannot be read is an InputError naming it."""
        with pytest.raises(InputError, match="nope.jsonl"):
            list(read_records(tmp_path / "nope.jsonl", converter))

    def test_not_utf8(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A file that is not UTF-8 is an InputError, not a crash."""
        path = tmp_path / "in.jsonl"
        path.write_bytes(b'{"lead_id": "\xff"}\n')
        with pytest.raises(InputError, match="UTF-8"):
            list(read_records(path, converter))


class TestCsv:
    def test_columns_map_to_the_model(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Documented CSV columns fill the same model as the JSON form."""
        path = _write(
            tmp_path,
            "in.csv",
            "lead_id,account_id,contact_id,opportunity_name,opportunity_amount,"
            "opportunity_close_date,opportunity.Description,notify_new_owner,carry_tags_to_deals\n"
            "1,10,20,Big deal,20000000.50,2024-10-20,hello,true,a|b\n"
            "2,,,,,,,,*\n",
        )
        first, second = list(read_records(path, converter))
        c = first.conversion
        assert c is not None
        assert c.account == MergeAccount(id="10")
        assert c.contact == MergeContact(id="20")
        assert isinstance(c.opportunity, CreateOpportunity)
        assert str(c.opportunity.amount) == "20000000.50"
        assert c.opportunity.fields == {"Description": "hello"}
        assert c.notify_new_owner is True
        assert c.carry_over_tags.deals == ("a", "b")
        assert second.conversion is not None and second.conversion.carry_over_tags.deals == "all"

    def test_bad_rows_reported(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Bad cells are reported with the row's line; other rows still come through."""
        path = _write(
            tmp_path,
            "in.csv",
            "lead_id,notify_lead_owner,opportunity_id,opportunity_name\n"
            "1,maybe,,\n"
            "2,,6,name\n"
            "3,,,\n"
            "4,too,many,cells,here\n",
        )
        records = list(read_records(path, converter))
        assert [(r.line, r.conversion is not None) for r in records] == [
            (2, False),
            (3, False),
            (4, True),
            (5, False),
        ]
        assert records[0].violations[0].path == "notify_lead_owner"
        assert records[0].lead_id == "1"

    def test_unknown_column_is_an_input_error(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A misspelt column stops the file up front rather than being ignored on every row."""
        path = _write(tmp_path, "in.csv", "lead_id,acount_id\n1,2\n")
        with pytest.raises(InputError, match="acount_id"):
            list(read_records(path, converter))


class TestEncoding:
    def test_csv_with_byte_order_mark(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A CSV saved by a spreadsheet with a UTF-8 byte-order mark reads like any other."""
        path = tmp_path / "in.csv"
        path.write_bytes("\ufefflead_id,account_id\n1,2\n".encode())
        (record,) = list(read_records(path, converter))
        assert record.conversion is not None and record.conversion.lead_id == "1"
