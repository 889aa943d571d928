"""Reading JSON Lines and CSV: lazily, with line numbers, bad lines never stopping the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from leadconvert import (
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    NeutralConverter,
    read_records,
)
from leadconvert._exceptions import EmptyInputError
from leadconvert._input import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    InputFormat,
    _flatten,
    _json_source,
    printable,
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

    def test_source_columns_for_the_report(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A line's values, nested ones flattened with dots, become the report's input columns."""
        path = _write(
            tmp_path,
            "in.jsonl",
            '{"lead_id": "1", "account": {"action": "merge", "id": "10"}, '
            '"notify_new_owner": true, "opportunity": {"action": "create", "name": "D", '
            '"amount": 12.50}}\n',
        )
        (record,) = list(read_records(path, converter))
        assert record.source == {
            "lead_id": "1",
            "account.action": "merge",
            "account.id": "10",
            "notify_new_owner": "true",
            "opportunity.action": "create",
            "opportunity.name": "D",
            "opportunity.amount": "12.50",
        }

    def test_lazy(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Records are read one at a time, not all at once."""
        path = _write(tmp_path, "in.jsonl", '{"lead_id": "1"}\n' * 3)
        iterator = read_records(path, converter)
        assert next(iterator).line == 1

    def test_missing_file(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A file that cannot be read is an InputError naming it."""
        with pytest.raises(InputError, match="nope.jsonl"):
            list(read_records(tmp_path / "nope.jsonl", converter))

    def test_not_utf8_names_the_line(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Invalid UTF-8 is a problem of its line, named by number; the other lines go on."""
        path = tmp_path / "in.jsonl"
        path.write_bytes(b'{"lead_id": "1"}\n{"lead_id": "\xff"}\n{"lead_id": "3"}\n')
        records = list(read_records(path, converter))
        assert [(r.line, r.conversion is not None) for r in records] == [
            (1, True),
            (2, False),
            (3, True),
        ]
        (problem,) = records[1].violations
        assert problem.rule == "input.encoding"
        assert "0xff" in problem.message and "UTF-8" in problem.message

    def test_unpaired_surrogate_escape_is_a_line_problem(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A \\uD800-\\uDFFF escape without its pair (in a value, a key, a list) is a problem of
        its line, naming the field; a pair is one character; the other lines go on."""
        path = _write(
            tmp_path,
            "in.jsonl",
            '{"lead_id": "1", "account": {"action": "merge", "id": "A\\ud800"}}\n'
            '{"lead_id": "2", "opportunity": {"action": "create", "name": "\\ud83d\\ude00"}}\n'
            '{"lead_id": "3", "k\\udfff": 1}\n'
            '{"lead_id": "\\udc00x"}\n'
            '{"lead_id": "5", "l": ["ok", "\\uDBFF"]}\n',
        )
        records = list(read_records(path, converter))
        assert [(r.line, r.conversion is not None) for r in records] == [
            (1, False),
            (2, True),
            (3, False),
            (4, False),
            (5, False),
        ]
        assert records[1].conversion is not None
        opportunity = records[1].conversion.opportunity
        assert getattr(opportunity, "name", None) == "\N{GRINNING FACE}"
        found = [
            (r.lead_id, r.violations[0].rule, r.violations[0].path) for r in records if r.violations
        ]
        assert found == [
            ("1", "input.encoding", "account.id"),
            ("3", "input.encoding", "k\\udfff"),
            (None, "input.encoding", "lead_id"),
            ("5", "input.encoding", "l[1]"),
        ]
        assert "\\ud800" in records[0].violations[0].message
        # Nothing read holds a character UTF-8 cannot write (reports, journals, requests).
        for record in records:
            for value in (record.source or {}).values():
                value.encode("utf-8")

    def test_deep_nesting_is_a_line_problem(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A line nested 100,000 deep is reported on its line; no RecursionError, others go on."""
        path = tmp_path / "in.jsonl"
        deep = '{"lead_id": "2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        path.write_text('{"lead_id": "1"}\n' + deep + '\n{"lead_id": "3"}\n', encoding="utf-8")
        records = list(read_records(path, converter))
        assert [(r.line, r.conversion is not None) for r in records] == [
            (1, True),
            (2, False),
            (3, True),
        ]
        assert f"deeper than {MAX_DEPTH}" in records[1].violations[0].message

    def test_brackets_inside_strings_do_not_count(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Only real nesting counts: an id full of brackets is not deep."""
        path = _write(tmp_path, "in.jsonl", '{"lead_id": "' + "[{" * 100 + '\\"[["}\n')
        (record,) = list(read_records(path, converter))
        assert record.violations == ()

    def test_overlong_line_is_skipped_not_held(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A line longer than the limit is reported on its line and the next line still reads."""
        path = tmp_path / "in.jsonl"
        path.write_bytes(
            b'{"lead_id": "' + b"9" * (MAX_LINE_BYTES + 10) + b'"}\n{"lead_id": "2"}\n'
        )
        first, second = list(read_records(path, converter))
        assert (first.line, first.violations[0].rule) == (1, "input.too_long")
        assert (second.line, second.conversion is not None) == (2, True)

    def test_empty_input_is_an_error(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A file with no conversion at all is EmptyInputError (exit 2), not a silent success."""
        for text in ("", "\n  \n"):
            path = _write(tmp_path, "in.jsonl", text)
            with pytest.raises(EmptyInputError, match="no conversions"):
                read_records(path, converter)

    def test_missing_file_fails_before_iterating(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Opening is eager: the caller learns of a missing file before starting anything."""
        with pytest.raises(InputError, match="nope.jsonl"):
            read_records(tmp_path / "nope.jsonl", converter)


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


class TestSpreadsheetCsv:
    def test_semicolon_is_sniffed(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A `;` CSV (a spreadsheet in many locales) reads without saying anything."""
        path = _write(tmp_path, "in.csv", "lead_id;account_id\n1;10\n")
        (record,) = list(read_records(path, converter))
        assert record.conversion is not None and record.conversion.account == MergeAccount(id="10")

    def test_explicit_delimiter(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """--delimiter wins over sniffing: a tab file whose header also holds a `;`."""
        path = _write(
            tmp_path, "in.csv", "lead_id\topportunity_name\topportunity.Note;x\n1\tdeal\ta;b\n"
        )
        (record,) = list(read_records(path, converter, delimiter="\t"))
        assert record.conversion is not None
        assert record.source == {
            "lead_id": "1",
            "opportunity_name": "deal",
            "opportunity.Note;x": "a;b",
        }

    def test_names_ignore_case_and_spaces(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """`Lead_ID` and ` Account_Id ` are lead_id and account_id; CRM field names keep case."""
        path = _write(
            tmp_path,
            "in.csv",
            "Lead_ID , Account_Id,Opportunity_Name,Opportunity.Description\n1,10,d,hi\n",
        )
        (record,) = list(read_records(path, converter))
        assert record.conversion is not None
        assert record.conversion.account == MergeAccount(id="10")
        assert isinstance(record.conversion.opportunity, CreateOpportunity)
        assert record.conversion.opportunity.fields == {"Description": "hi"}

    def test_trailing_empty_columns_ignored(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """`lead_id,account_id,,` (empty columns at the sheet's end) is not an unknown column."""
        path = _write(tmp_path, "in.csv", "lead_id,account_id,,\n1,10,,\n2,11\n")
        records = list(read_records(path, converter))
        assert [r.conversion is not None for r in records] == [True, True]

    def test_value_under_no_header_is_reported(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A value in a column without a name is the row's problem, not silently dropped."""
        path = _write(tmp_path, "in.csv", "lead_id,,\n1,,x\n2,,\n")
        first, second = list(read_records(path, converter))
        assert first.conversion is None and first.violations[0].rule == "input.csv"
        assert second.conversion is not None

    def test_duplicated_column_is_an_error(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """Two account_id columns: which to merge into would be a guess, so the file stops."""
        path = _write(tmp_path, "in.csv", "lead_id,account_id,Account_ID\n1,10,\n")
        with pytest.raises(InputError, match="column 3 'account_id' repeats column 2"):
            read_records(path, converter)

    def test_did_you_mean(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A misspelt column gets a suggestion and the list of columns, not a docs path."""
        path = _write(tmp_path, "in.csv", "lead_id,acount_id\n1,2\n")
        with pytest.raises(InputError) as caught:
            read_records(path, converter)
        message = str(caught.value)
        assert "did you mean account_id?" in message
        assert "opportunity_close_date" in message and "leadconvert schema" in message
        assert "docs/" not in message

    def test_wrong_delimiter_given(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """Forcing `,` on a `;` file names the delimiter as the likely cause."""
        path = _write(tmp_path, "in.csv", "lead_id;account_id\n1;2\n")
        with pytest.raises(InputError, match="delimiter"):
            read_records(path, converter, delimiter=",")

    def test_csv_not_utf8_row(self, tmp_path: Path, converter: NeutralConverter) -> None:
        """A Latin-1 cell is its row's problem, with the line; the other rows convert."""
        path = tmp_path / "in.csv"
        path.write_bytes(b"lead_id,opportunity_name\n1,caf\xe9\n2,ok\n")
        first, second = list(read_records(path, converter))
        assert (first.line, first.violations[0].rule, first.lead_id) == (2, "input.encoding", "1")
        assert second.conversion is not None

    def test_quoted_row_over_lines_keeps_its_first_line(
        self, tmp_path: Path, converter: NeutralConverter
    ) -> None:
        """A cell with a newline: the next row's line is still right."""
        path = _write(tmp_path, "in.csv", 'lead_id,opportunity.Note\n1,"two\nlines"\n2,x\n3,"bad\n')
        records = list(read_records(path, converter))
        assert [r.line for r in records] == [2, 4, 5]
        assert records[2].conversion is None


class TestPrintable:
    def test_escapes_terminal_controls(self) -> None:
        """ANSI escapes, control characters, bidi overrides and stray bytes come out escaped."""
        text = "lead\x1b[31mred\x07\u202e\udcff\n"
        shown = printable(text)
        assert shown == "lead\\x1b[31mred\\x07\\u202e\\xff\\x0a"
        assert all(ch.isprintable() for ch in shown)

    def test_plain_text_unchanged(self) -> None:
        assert printable("Müller & Söhne 42") == "Müller & Söhne 42"


_HEADERS = st.lists(
    st.sampled_from(["lead_id", "account_id", "Lead_ID", "opportunity.X", "", " owner_id "]),
    min_size=1,
    max_size=4,
)


class TestFuzz:
    @given(data=st.binary(max_size=400), csv_form=st.booleans())
    def test_any_bytes(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        converter: NeutralConverter,
        data: bytes,
        csv_form: bool,
    ) -> None:
        """Whatever the bytes: an InputError for the whole file, or records each with a line
        number within the file and, when invalid, at least one violation; nothing else."""
        path = tmp_path_factory.mktemp("fuzz") / "in.bin"
        path.write_bytes(data)
        fmt = InputFormat.CSV if csv_form else InputFormat.JSONL
        _check_records(path, converter, fmt, data)

    @given(
        header=_HEADERS,
        rows=st.lists(
            st.lists(st.text(alphabet='ab1;,"\n\x1b\xe9 [{', max_size=6), max_size=4),
            max_size=5,
        ),
        delimiter=st.sampled_from([",", ";"]),
        junk=st.binary(max_size=4),
    )
    def test_csv_shaped(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        converter: NeutralConverter,
        header: list[str],
        rows: list[list[str]],
        delimiter: str,
        junk: bytes,
    ) -> None:
        """CSV-like text with quotes, newlines, escapes and stray bytes, same guarantees."""
        text = delimiter.join(header) + "\n" + "\n".join(delimiter.join(r) for r in rows)
        data = text.encode("utf-8") + junk
        path = tmp_path_factory.mktemp("fuzz") / "in.csv"
        path.write_bytes(data)
        _check_records(path, converter, InputFormat.CSV, data)

    @given(
        lines=st.lists(
            st.one_of(
                st.just('{"lead_id": "1"}'),
                st.integers(0, 200).map(
                    lambda n: '{"lead_id": "2", "x": ' + "[" * n + "]" * n + "}"
                ),
                st.text(max_size=20),
                st.binary(max_size=10).map(lambda b: b.decode("latin-1")),
            ),
            max_size=6,
        )
    )
    def test_jsonl_shaped(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        converter: NeutralConverter,
        lines: list[str],
    ) -> None:
        """JSON-like lines, deep or broken or not UTF-8: same guarantees."""
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        path = tmp_path_factory.mktemp("fuzz") / "in.jsonl"
        path.write_bytes(data)
        _check_records(path, converter, InputFormat.JSONL, data)


def _check_records(path: Path, converter: NeutralConverter, fmt: InputFormat, data: bytes) -> None:
    lines = data.count(b"\n") + 1
    try:
        records = list(read_records(path, converter, fmt))
    except InputError as exc:
        assert str(exc)
        return
    assert records
    previous = 0
    for record in records:
        assert previous < record.line <= lines
        previous = record.line
        assert (record.conversion is None) == bool(record.violations) or record.violations == ()
        if record.conversion is None:
            assert record.violations, record


class TestNotText:
    @pytest.mark.parametrize(
        ("data", "kind"),
        [
            (b"PK\x03\x04" + b"\x00" * 40, "XLSX"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "XLS"),
            ("lead_id,account_id\n1,2\n".encode("utf-16"), "UTF-16"),
        ],
    )
    def test_spreadsheet_files_refused_whole(
        self, tmp_path: Path, converter: NeutralConverter, data: bytes, kind: str
    ) -> None:
        """A workbook or UTF-16 export is one clear error, not a violation per line."""
        path = tmp_path / "leads.csv"
        path.write_bytes(data)
        with pytest.raises(InputError, match=f"{kind}.*save the sheet as CSV UTF-8"):
            read_records(path, converter)


_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
_LINES = st.dictionaries(
    st.text(max_size=3),
    _SCALARS
    | st.lists(_SCALARS, max_size=2)
    | st.dictionaries(st.text(max_size=3), _SCALARS | st.text(max_size=3), max_size=30),
    max_size=60,
)


@given(_LINES)
@example({f"k{i}": "v" for i in range(40)} | {"o": {f"k{i}": "v" for i in range(20)}})
@example({"": {"": False, "a": "x"}, "b": {"": None}})
@example({f"k{i}": "v" for i in range(49)} | {"a": {"b": "1"}, "a.b": "2"})
@example({"lead_id": "1", "options": {"salesforce": {"bypass": True, "n": 1, "l": [1]}}})
def test_a_line_s_columns_are_those_of_the_general_flattening(data: dict[str, object]) -> None:
    """The first two levels written out give the columns the general flattening gives, in
    the same order, whatever the line holds: nulls skipped, other values rendered alike,
    deeper objects, empty names, at most 50 columns."""
    expected: dict[str, str] = {}
    _flatten(expected, "", data)
    assert list((_json_source(data) or {}).items()) == list(expected.items())
