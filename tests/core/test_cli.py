"""The command line: schema, validate, exit codes, and no tracebacks on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from leadconvert import loads_json

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    out = run("schema")
    assert out.returncode == 0, out.stderr
    parsed: dict[str, object] = json.loads(out.stdout)
    return parsed


class TestSchema:
    def test_is_valid_json_schema(self, schema: dict[str, object]) -> None:
        """`leadconvert schema` prints a valid JSON Schema 2020-12 document."""
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)

    def test_every_example_validates(self, schema: dict[str, object]) -> None:
        """Every line of every JSON Lines file in examples/ validates against the schema."""
        validator = jsonschema.Draft202012Validator(schema)
        files = sorted(EXAMPLES.rglob("*.jsonl"))
        assert files, "examples/ has no JSON Lines files"
        for path in files:
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if line.strip():
                    errors = list(validator.iter_errors(loads_json(line)))
                    assert not errors, f"{path.name}:{number}: {errors[0].message}"

    def test_rejects_unknown_keys(self, schema: dict[str, object]) -> None:
        """The schema, like the converter, refuses keys it does not know."""
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"lead_id": "1", "notify": True}, schema)


class TestValidate:
    def test_broken_lines_reported_exit_1(self, tmp_path: Path) -> None:
        """Each bad line is reported with its number and reason; exit 1; no traceback."""
        src = tmp_path / "in.jsonl"
        src.write_text(
            '{"lead_id": "1"}\n'
            "{broken\n"
            '{"lead_id": "2", "opportunity": {"action": "create", "name": "d", '
            '"close_date": "2020-02-30"}}\n'
            '{"lead_id": "3", "notify_lead_owner": "yes"}\n'
        )
        out = run("validate", "--backend", "zoho", str(src))
        assert out.returncode == 1
        assert "Traceback" not in out.stdout + out.stderr
        assert f"{src}:2:" in out.stdout and "not valid JSON" in out.stdout
        assert f"{src}:3: lead 2 opportunity.close_date:" in out.stdout
        assert f"{src}:4: lead 3 notify_lead_owner: expected true or false" in out.stdout
        assert f"{src}:1:" not in out.stdout
        assert "4 conversion(s) read, 3 invalid" in out.stderr

    def test_valid_file_exit_0(self, tmp_path: Path) -> None:
        """A file with nothing wrong validates with exit 0."""
        src = tmp_path / "in.jsonl"
        src.write_text('{"lead_id": "3652397000007566544"}\n')
        out = run("validate", "--backend", "zoho", str(src))
        assert out.returncode == 0, out.stdout + out.stderr

    def test_missing_file_exit_2(self, tmp_path: Path) -> None:
        """An unreadable input file is a usage error (exit 2) with a message, not a traceback."""
        out = run("validate", "--backend", "zoho", str(tmp_path / "nope.jsonl"))
        assert out.returncode == 2
        assert "cannot read" in out.stderr and "Traceback" not in out.stderr

    def test_unknown_backend_exit_2(self, tmp_path: Path) -> None:
        """An unknown backend is a usage error listing the installed ones."""
        src = tmp_path / "in.jsonl"
        src.write_text('{"lead_id": "1"}\n')
        out = run("validate", "--backend", "nocrm", str(src))
        assert out.returncode == 2
        assert "installed:" in out.stderr

    def test_unknown_csv_column_exit_2(self, tmp_path: Path) -> None:
        """A CSV with an unknown column is refused up front with exit 2."""
        src = tmp_path / "in.csv"
        src.write_text("lead_id,acount_id\n1,2\n")
        out = run("validate", "--backend", "zoho", str(src))
        assert out.returncode == 2
        assert "acount_id" in out.stderr


class TestPlan:
    def test_unknown_setting_exit_2(self, tmp_path: Path) -> None:
        """A setting the backend does not have is a usage error naming the settings it has."""
        src = tmp_path / "in.jsonl"
        src.write_text('{"lead_id": "1"}\n')
        out = run("plan", "--backend", "zoho", "--set", "colour=blue", str(src))
        assert out.returncode == 2
        assert "no setting 'colour'" in out.stderr


class TestConvertPaths:
    def test_unwritable_report_is_a_usage_error(self, tmp_path: Path) -> None:
        """A report in a folder that does not exist is exit 2 with a message, not a crash."""
        src = tmp_path / "in.jsonl"
        src.write_text('{"lead_id": "5000000000000001000"}\n')
        out = run(
            "convert",
            "--backend",
            "zoho",
            "--report",
            str(tmp_path / "no" / "r.jsonl"),
            "--journal",
            str(tmp_path / "j.sqlite"),
            str(src),
        )
        assert out.returncode == 2, out.stderr
        assert "cannot write the report" in out.stderr and "Traceback" not in out.stderr
        out = run("convert", "--backend", "zoho", "--journal", str(tmp_path / "no" / "j"), str(src))
        assert out.returncode == 2, out.stderr
        # The journal's folder does not exist: its lock file, taken first, says so.
        assert str(tmp_path / "no" / "j") in out.stderr and "Traceback" not in out.stderr
