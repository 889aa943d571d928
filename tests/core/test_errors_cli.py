"""Errors and exit codes, as a migration team meets them: one policy for every backend and lead
count, messages that name the real cause, no internal error from any input or environment,
`check` before a run, and `validate` finding what `convert` refuses.

Real subprocesses of the real command line; CRMs are the emulators (or nothing at all: a closed
port, a name that does not resolve).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import trustme

import leadconvert
from leadconvert._exceptions import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AuthenticationError,
    ConfigurationError,
    InputError,
    LocalStateError,
    ServerError,
    UnreachableError,
    exit_code_for,
)

ZOHO_ENV = "LEADCONVERT_ZOHO_"
SF_ENV = "LEADCONVERT_SALESFORCE_"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("LEADCONVERT_DEBUG", None)
    env.update(extra)
    return env


def run(
    *args: str, env: Mapping[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "leadconvert", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(env) if env is not None else _clean_env(),
        **kwargs,
    )


def _zoho_unreachable(port: int) -> dict[str, str]:
    return _clean_env(
        **{
            f"{ZOHO_ENV}CLIENT_ID": "1000.CLIENTID",
            f"{ZOHO_ENV}CLIENT_SECRET": "zoho-client-secret-value",
            f"{ZOHO_ENV}REFRESH_TOKEN": "1000.zoho-refresh-token-value",
            f"{ZOHO_ENV}ACCOUNTS_URL": f"http://127.0.0.1:{port}",
            f"{ZOHO_ENV}API_DOMAIN": f"http://127.0.0.1:{port}",
        }
    )


def _leads(tmp_path: Path, n: int, name: str = "leads.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join(json.dumps({"lead_id": str(4876876000007400001 + i)}) + "\n" for i in range(n))
    )
    return path


def _rows(report: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in report.read_text().splitlines()]


class TestPolicy:
    @pytest.mark.parametrize(
        ("exc", "code"),
        [
            (InputError("x"), EXIT_USAGE),
            (ConfigurationError("x"), EXIT_USAGE),
            (LocalStateError("x"), EXIT_USAGE),
            (OSError(28, "No space left on device"), EXIT_USAGE),
            (RecursionError(), EXIT_USAGE),
            (sqlite3.OperationalError("database or disk is full"), EXIT_USAGE),
            (UnreachableError("x"), EXIT_UNREACHABLE),
            (AuthenticationError("x"), EXIT_UNREACHABLE),
            (ServerError("x"), EXIT_UNREACHABLE),
            (leadconvert.BackendError("refused"), EXIT_FAILED),
            (KeyError("bug"), EXIT_INTERNAL),
        ],
    )
    def test_exit_code_by_what_happened(self, exc: BaseException, code: int) -> None:
        """The code depends on what happened, never on the backend or the number of leads."""
        assert exit_code_for(exc) == code


class TestUnreachable:
    @pytest.mark.parametrize("count", [1, 25])
    def test_zoho_refused_connection_exit_3_not_attempted(self, tmp_path: Path, count: int) -> None:
        """1 lead or 25: exit 3, the refused connection named, every lead not_attempted (never
        unknown), and no word of the token budget (failed connections do not spend it)."""
        source = _leads(tmp_path, count)
        report = tmp_path / "out.jsonl"
        out = run(
            "convert",
            "-b",
            "zoho",
            "--report",
            str(report),
            str(source),
            env=_zoho_unreachable(_closed_port()),
        )
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert "connection was refused" in out.stderr
        assert "access tokens per refresh token" not in out.stderr
        rows = _rows(report)
        assert len(rows) == count
        assert {r["outcome"] for r in rows} == {"not_attempted"}
        assert {r["error_code"] for r in rows} == {"network_error"}

    def test_on_match_unreachable(self, tmp_path: Path) -> None:
        """Looking for existing records on an unreachable CRM: the same exit 3, and the leads
        read reported not_attempted (not a per-lead failure, not an empty report)."""
        report = tmp_path / "out.jsonl"
        out = run(
            "convert",
            "-b",
            "zoho",
            "--on-match",
            "merge",
            "--report",
            str(report),
            str(_leads(tmp_path, 12)),
            env=_zoho_unreachable(_closed_port()),
        )
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        rows = _rows(report)
        assert len(rows) == 12 and {r["outcome"] for r in rows} == {"not_attempted"}

    def test_zoho_dns_named(self, tmp_path: Path) -> None:
        """A host name that does not resolve is said to be DNS, not a class name."""
        env = _zoho_unreachable(_closed_port())
        env[f"{ZOHO_ENV}ACCOUNTS_URL"] = "https://accounts.no-such-host.invalid"
        out = run(
            "convert",
            "-b",
            "zoho",
            "--report",
            str(tmp_path / "r.jsonl"),
            str(_leads(tmp_path, 1)),
            env=env,
        )
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert "does not resolve (DNS)" in out.stderr

    def test_salesforce_session_refused_connection(self, tmp_path: Path) -> None:
        """Salesforce with a session id on a closed port: the same exit and the same kind of
        message as Zoho, not a raw urllib3 error; the lead not_attempted."""
        source = tmp_path / "sf.jsonl"
        source.write_text('{"lead_id": "00Q5g0000000001EAA"}\n')
        env = _clean_env(
            **{
                f"{SF_ENV}SESSION_ID": "00Dxx0000001gPL!AQ4AQFakeSessionValueForTests",
                f"{SF_ENV}INSTANCE_URL": f"http://127.0.0.1:{_closed_port()}",
            }
        )
        report = tmp_path / "out.jsonl"
        out = run("convert", "-b", "salesforce", "--report", str(report), str(source), env=env)
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert "connection was refused" in out.stderr
        assert "urllib3" not in out.stderr and "HTTPConnectionPool" not in out.stderr
        assert [r["outcome"] for r in _rows(report)] == ["not_attempted"]

    def test_dynamics_unreachable_says_the_cause(self, tmp_path: Path) -> None:
        """Any backend (Dynamics here) whose error quotes urllib3 gets the cause in words."""
        source = tmp_path / "d.jsonl"
        source.write_text('{"lead_id": "e0000000-0000-0000-0000-000000000001"}\n')
        env = _clean_env(
            LEADCONVERT_DYNAMICS_ORG_URL=f"https://127.0.0.1:{_closed_port()}",
            LEADCONVERT_DYNAMICS_ACCESS_TOKEN="dynamics-access-token-value",
        )
        out = run("convert", "-b", "dynamics", str(source), env=env)
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert "connection was refused" in out.stderr
        assert "ConnectionPool" not in out.stderr and "Max retries" not in out.stderr


class TestRefreshBudget:
    def test_connection_failures_do_not_spend_it(self) -> None:
        """Twenty refreshes that cannot connect: each says why, none counts against Zoho's
        10 tokens per 10 minutes."""
        import requests
        from leadconvert_zoho._client import _Tokens

        def refused(url: str, form: dict[str, str]) -> requests.Response:
            raise requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))

        tokens = _Tokens(
            refused,
            "https://accounts.example",
            leadconvert.backend.Secret("id"),
            leadconvert.backend.Secret("secret-value"),
            leadconvert.backend.Secret("refresh-value"),
            None,
            sleep=lambda _s: None,
        )
        for _ in range(20):
            with pytest.raises(UnreachableError, match="refused"):
                tokens.get()

    def test_refreshes_back_off(self) -> None:
        """Tokens refused right after each refresh: the refreshes wait longer and longer."""
        import requests

        waits: list[float] = []
        now = [1000.0]

        def answer(url: str, form: dict[str, str]) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response._content = b'{"access_token": "1000.tok", "expires_in": 3600}'
            return response

        from leadconvert_zoho._client import _Tokens

        tokens = _Tokens(
            answer,
            "https://accounts.example",
            leadconvert.backend.Secret("id"),
            leadconvert.backend.Secret("secret-value"),
            leadconvert.backend.Secret("refresh-value"),
            None,
            clock=lambda: now[0],
            sleep=waits.append,
        )
        for _ in range(4):
            token = tokens.get()
            tokens.invalidate(token)
            now[0] += 1.0
        assert len(waits) == 3
        assert waits[0] > 0 and waits[2] > waits[0]


class TestNoInternalError:
    def test_deeply_nested_line(self, tmp_path: Path) -> None:
        """A line nested 100,000 deep: that line is invalid (with its number), the run goes on."""
        source = tmp_path / "in.jsonl"
        source.write_text(
            '{"lead_id": "4876876000007400001"}\n' + "[" * 100_000 + "]" * 100_000 + "\n"
        )
        out = run("validate", "-b", "zoho", str(source))
        assert out.returncode == EXIT_FAILED, out.stderr
        assert f"{source}:2:" in out.stdout and "nested deeper" in out.stdout

    def test_invalid_ca_bundle(self, tmp_path: Path) -> None:
        """REQUESTS_CA_BUNDLE naming no file: exit 2 with that said, not an internal error."""
        env = _zoho_unreachable(_closed_port())
        env[f"{ZOHO_ENV}ACCOUNTS_URL"] = "https://127.0.0.1:9"
        env["REQUESTS_CA_BUNDLE"] = str(tmp_path / "missing.pem")
        out = run(
            "convert",
            "-b",
            "zoho",
            "--report",
            str(tmp_path / "r.jsonl"),
            str(_leads(tmp_path, 1)),
            env=env,
        )
        assert out.returncode == EXIT_USAGE, out.stderr
        assert "CA certificate bundle" in out.stderr and "internal error" not in out.stderr

    def test_bad_emulator_seed(self, tmp_path: Path) -> None:
        seed = tmp_path / "seed.json"
        seed.write_text("{not json")
        out = run(
            "convert",
            "-b",
            "zoho",
            "--emulator-seed",
            str(seed),
            "--report",
            str(tmp_path / "r.jsonl"),
            str(_leads(tmp_path, 1)),
        )
        assert out.returncode == EXIT_USAGE, out.stderr
        assert "internal error" not in out.stderr

    def test_full_disk(self, tmp_path: Path) -> None:
        """Files that cannot grow (as on a full disk): exit 2 naming the problem; the previous
        report is left as it was."""
        report = tmp_path / "out.jsonl"
        report.write_text("previous report\n")

        def small_files() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

        out = run(
            "convert",
            "-b",
            "zoho",
            "--report",
            str(report),
            str(_leads(tmp_path, 400)),
            preexec_fn=small_files,
        )
        assert out.returncode == EXIT_USAGE, out.stderr
        assert "internal error" not in out.stderr and "Traceback" not in out.stderr
        assert report.read_text() == "previous report\n"

    def test_xml_bomb_in_salesforce_login(self, tmp_path: Path) -> None:
        """A login answer that is an entity bomb is refused as an unreadable answer (exit 3),
        never expanded, never an internal error."""
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + b"".join(
                f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
                for i in range(1, 10)
            )
            + b"]><soapenv:Envelope><sessionId>&lol9;</sessionId></soapenv:Envelope>"
        )
        with _https_server(bomb) as (port, ca_path):
            source = tmp_path / "sf.jsonl"
            source.write_text('{"lead_id": "00Q5g0000000001EAA"}\n')
            env = _clean_env(
                **{
                    f"{SF_ENV}USERNAME": "user@example.com",
                    f"{SF_ENV}PASSWORD": "a-password-value",
                    f"{SF_ENV}SECURITY_TOKEN": "TOKENVALUE",
                    f"{SF_ENV}DOMAIN": f"127.0.0.1:{port}/login",
                    f"{SF_ENV}CA_BUNDLE": ca_path,
                }
            )
            out = run(
                "convert",
                "-b",
                "salesforce",
                "--report",
                str(tmp_path / "r.jsonl"),
                str(source),
                env=env,
            )
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert "internal error" not in out.stderr
        assert "XML" in out.stderr


class _Bomb(BaseHTTPRequestHandler):
    body = b""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def _https_server(body: bytes) -> Iterator[tuple[int, str]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    handler = type("Handler", (_Bomb,), {"body": body})
    server = HTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with ca.cert_pem.tempfile() as ca_path:
        try:
            yield int(server.server_address[1]), ca_path
        finally:
            server.shutdown()
            server.server_close()


class TestInputsFailEarly:
    def test_missing_input_fails_before_the_emulator(self, tmp_path: Path) -> None:
        """No emulator is started (no banner) for a file that does not exist."""
        out = run("convert", "-b", "zoho", str(tmp_path / "missing.jsonl"))
        assert out.returncode == EXIT_USAGE
        assert "missing.jsonl" in out.stderr and "EMULATOR" not in out.stderr

    @pytest.mark.parametrize("command", ["validate", "plan", "convert"])
    def test_empty_input_is_a_warning_and_exit_2(self, tmp_path: Path, command: str) -> None:
        source = tmp_path / "empty.csv"
        source.write_text("lead_id,account_id\n\n")
        out = run(command, "-b", "zoho", str(source))
        assert out.returncode == EXIT_USAGE, out.stderr
        assert "warning:" in out.stderr and "no conversions" in out.stderr

    def test_semicolon_csv_and_delimiter_option(self, tmp_path: Path) -> None:
        """A `;` file validates as is; forcing --delimiter , says the delimiter is the cause."""
        source = tmp_path / "in.csv"
        source.write_text("Lead_ID;Account_ID\n4876876000007400001;4876876000000000001\n")
        assert run("validate", "-b", "zoho", str(source)).returncode == EXIT_OK
        out = run("validate", "-b", "zoho", "--delimiter", "comma", str(source))
        assert out.returncode == EXIT_USAGE
        assert "--delimiter" in out.stderr


class TestValidateFindsWhatConvertRefuses:
    def test_duplicates(self, tmp_path: Path) -> None:
        """A lead listed twice fails validate (as convert refuses it), naming the first line."""
        source = tmp_path / "in.jsonl"
        source.write_text(
            '{"lead_id": "4876876000007400001"}\n{"lead_id": "4876876000007400002"}\n'
            '{"lead_id": "4876876000007400001"}\n'
        )
        out = run("validate", "-b", "zoho", str(source))
        assert out.returncode == EXIT_FAILED
        assert f"{source}:3:" in out.stdout and "on line 1" in out.stdout
        assert "by rule: input.duplicate_lead 1" in out.stderr

    @pytest.mark.parametrize("setting", ["api_version=v1", "data_centre=XX", "timeout=abc"])
    def test_settings_plan_refuses(self, tmp_path: Path, setting: str) -> None:
        """A setting plan refuses is refused by validate, with the same message and code."""
        source = tmp_path / "in.jsonl"
        source.write_text('{"lead_id": "4876876000007400004"}\n')
        checked = run("validate", "-b", "zoho", "--set", setting, str(source))
        planned = run("plan", "-b", "zoho", "--set", setting, str(source))
        assert checked.returncode == planned.returncode == EXIT_USAGE, checked.stderr
        assert checked.stderr == planned.stderr and "settings of backend" in checked.stderr

    def test_salesforce_15_and_18_char_ids_are_one_lead(self, tmp_path: Path) -> None:
        source = tmp_path / "in.jsonl"
        source.write_text('{"lead_id": "00Q5g0000000001EAA"}\n{"lead_id": "00Q5g0000000001"}\n')
        out = run("validate", "-b", "salesforce", str(source))
        assert out.returncode == EXIT_FAILED, out.stdout + out.stderr
        assert "input.duplicate_lead" in out.stdout

    def test_json_summary(self, tmp_path: Path) -> None:
        """--json: a summary by rule on stdout, the problems on stderr."""
        source = tmp_path / "in.jsonl"
        source.write_text('{"lead_id": "1"}\n{"lead_id": "1"}\n{"oops": 1}\n')
        out = run("validate", "-b", "zoho", "--json", str(source))
        summary = json.loads(out.stdout)
        assert summary["read"] == 3 and summary["invalid"] == 2
        assert summary["by_rule"]["input.duplicate_lead"] == 1
        assert summary["exit_code"] == out.returncode == EXIT_FAILED

    def test_control_characters_escaped(self, tmp_path: Path) -> None:
        """An id with an ANSI escape and a bell is shown escaped, never raw."""
        source = tmp_path / "in.jsonl"
        source.write_text(json.dumps({"lead_id": "\x1b[2J\x07evil"}) + "\n")
        out = run("validate", "-b", "zoho", str(source))
        assert "\x1b" not in out.stdout + out.stderr and "\x07" not in out.stdout
        assert "\\x1b[2J\\x07evil" in out.stdout


class TestConvertSummary:
    def test_json_summary_by_outcome_and_code(self, tmp_path: Path) -> None:
        """convert --json: outcomes and error codes, the files, and the exit code."""
        source = tmp_path / "in.jsonl"
        source.write_text('{"lead_id": "4876876000007400004"}\n{"lead_id": "999"}\n')
        out = run("convert", "-b", "zoho", "--json", str(source))
        summary = json.loads(out.stdout)
        assert summary["exit_code"] == out.returncode == EXIT_FAILED
        assert summary["outcomes"].get("converted") == 1
        assert sum(summary["error_codes"].values()) == 1
        assert Path(summary["error_file"]).exists() and Path(summary["success_file"]).exists()
        assert "not converted, by error code" in out.stderr


class TestRefusedRequest:
    def test_unknown_job_is_exit_1(self) -> None:
        """The CRM answered and refused what was asked: exit 1, with its own code."""
        out = run("status", "-b", "zoho", "1234567890")
        assert out.returncode == EXIT_FAILED, out.stderr
        assert "refused the job id" in out.stderr and "INVALID_DATA" in out.stderr


class TestCheck:
    def test_emulator(self) -> None:
        out = run("check", "-b", "zoho")
        assert out.returncode == EXIT_OK, out.stdout + out.stderr
        assert "org: zoho:" in out.stdout

    def test_unreachable(self) -> None:
        out = run("check", "-b", "zoho", "--json", env=_zoho_unreachable(_closed_port()))
        assert out.returncode == EXIT_UNREACHABLE
        result = json.loads(out.stdout)
        assert result["ok"] is False and "refused" in result["checks"][-1]["detail"]

    def test_refused_credentials(self) -> None:
        """Credentials the CRM refuses: exit 3 and Zoho's own reason."""
        backend = leadconvert.load_registry().get("zoho")
        with backend.emulator() as emulator:
            env = _clean_env(
                **{f"{ZOHO_ENV}{k.upper()}": v for k, v in emulator.credentials().items()}
            )
            env[f"{ZOHO_ENV}CLIENT_SECRET"] = "not-the-right-secret"
            out = run("check", "-b", "zoho", env=env)
        assert out.returncode == EXIT_UNREACHABLE, out.stdout + out.stderr
        assert "invalid_client" in out.stdout


class TestPlanAllOrNothing:
    def test_failed_plan_writes_nothing(self, tmp_path: Path) -> None:
        """A plan that cannot be made leaves stdout empty, never a truncated document."""
        out = run(
            "plan",
            "-b",
            "zoho",
            "--on-match",
            "merge",
            str(_leads(tmp_path, 30)),
            env=_zoho_unreachable(_closed_port()),
        )
        assert out.returncode == EXIT_UNREACHABLE, out.stderr
        assert out.stdout == ""

    def test_good_plan_is_one_json_document(self, tmp_path: Path) -> None:
        out = run("plan", "-b", "zoho", str(_leads(tmp_path, 30)))
        assert out.returncode == EXIT_OK, out.stderr
        assert json.loads(out.stdout)["calls"] >= 1


class _RefusingClient(leadconvert.backend.Client):
    """A third-party style client that reports a refused connection as a plain TransportError."""

    def __init__(self) -> None:
        self.calls = 0

    def _refused(self) -> leadconvert.TransportError:
        import requests

        try:
            raise requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
        except requests.ConnectionError as exc:
            try:
                raise leadconvert.TransportError("no answer from the CRM") from exc
            except leadconvert.TransportError as mapped:
                return mapped

    def execute(self, call: object, **_: object) -> list[leadconvert.ConversionResult]:
        self.calls += 1
        raise self._refused()

    def lookup(self, lead_ids: object) -> list[leadconvert.ConversionResult]:
        raise self._refused()

    def match(self, lead_id: str) -> leadconvert.MatchReport:
        raise self._refused()


class TestRunnerStopsWhenNothingCanBeSent:
    def test_plain_transport_error_with_refused_cause(
        self, tmp_path: Path, converter: leadconvert.NeutralConverter
    ) -> None:
        """Whatever the plugin calls it, a refused connection stops the run: no new call is
        sent, and every lead read is not_attempted, none unknown."""
        from leadconvert._runner import convert_file

        backend = leadconvert.load_registry().get("zoho")
        client = _RefusingClient()
        source = _leads(tmp_path, 40)
        report = tmp_path / "r.jsonl"
        summary = convert_file(
            backend,
            client,
            leadconvert.read_records(source, converter),
            report=report,
            journal=tmp_path / "j.sqlite",
            settings={"contacts_module_id": "1", "accounts_module_id": "2", "deals_module_id": "3"},
        )
        assert summary.aborted and "no answer from the CRM" in summary.aborted
        # Only the calls already in flight when the first failed were tried.
        assert client.calls <= backend.limits.max_concurrency < 40
        rows = _rows(report)
        assert len(rows) == 40
        assert {r["outcome"] for r in rows} == {"not_attempted"}
        assert summary.counts == {leadconvert.Outcome.NOT_ATTEMPTED: 40}


class TestCrmDataIsText:
    def test_match_shows_markup_and_escapes_as_text(self, tmp_path: Path) -> None:
        """A CRM record named "[/]Evil" with an ANSI escape: `match` prints it as text, escaped,
        instead of failing on rich markup (an internal error before)."""
        seed = json.loads(
            (Path(__file__).parents[2] / "plugins/leadconvert_zoho/emulator/seed.json").read_text()
        )
        seed["contacts"][0]["Last_Name"] = "[/]Evil\x1b[31m"
        seed["contacts"][0]["Full_Name"] = "[/]Evil\x1b[31m"
        path = tmp_path / "seed.json"
        path.write_text(json.dumps(seed))
        backend = leadconvert.load_registry().get("zoho")
        with backend.emulator(seed=path) as emulator:
            env = _clean_env(
                **{
                    f"{ZOHO_ENV}{k.upper()}": v
                    for k, v in {**emulator.credentials(), **emulator.settings()}.items()
                }
            )
            out = run("match", "-b", "zoho", seed["leads"][0]["id"], env=env)
        assert out.returncode == EXIT_OK, out.stderr
        assert "[/]Evil\\x1b[31m" in out.stdout and "\x1b[31m" not in out.stdout

    def test_report_path_with_brackets(self, tmp_path: Path) -> None:
        """A report named like rich markup is printed as a path, not parsed."""
        folder = tmp_path / "a[red]b"
        folder.mkdir()
        out = run(
            "convert", "-b", "zoho", "--report", str(folder / "r.jsonl"), str(_leads(tmp_path, 1))
        )
        assert out.returncode in (EXIT_OK, EXIT_FAILED), out.stderr
        assert f"report:  {folder / 'r.jsonl'}" in out.stderr
