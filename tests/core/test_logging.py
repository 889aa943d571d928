"""Logging and secrets: -v/-q/--log-file/--log-format, every retry, 429, refresh and in-doubt
check logged with its reason, and no credential in any output of any command, whatever fails.

The CRMs are the emulators, started here, with faults injected; leadconvert runs as a real
subprocess given the emulator's credentials the way a user gives real ones (environment).
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import leadconvert
from leadconvert._logging import (
    configure_logging,
    is_secret_name,
    redact,
    remember_secret,
)
from leadconvert.emulation import Fault

ZOHO = "LEADCONVERT_ZOHO_"
SF = "LEADCONVERT_SALESFORCE_"


def run(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadconvert", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(env),
        check=False,
    )


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    return env


class TestRedact:
    def test_remembered_secret_in_every_form(self) -> None:
        """Raw, stripped, escaped (as a repr quotes it) and URL-encoded forms are all masked."""
        secret = "s3cr3t/Value+With=Chars\r\n"
        remember_secret(secret)
        for text in (
            f"header {secret}!",
            f"value {secret.strip()} end",
            f"repr {secret!r}",
            "form refresh=s3cr3t%2FValue%2BWith%3DChars&x=1",
        ):
            assert "s3cr3t" not in redact(text), text

    def test_credential_shapes_without_knowing_the_value(self) -> None:
        """Where credentials hide in library messages, they are masked even if never seen."""
        text = redact(
            "Authorization: Zoho-oauthtoken 1000.abcdef.123 and {'Authorization': 'Bearer "
            "00D!xyz'} <sessionId>00Dabc!def</sessionId> refresh_token=1000.r&client_secret=cs"
        )
        for leaked in ("1000.abcdef", "00D!xyz", "00Dabc!def", "1000.r", "=cs"):
            assert leaked not in text, text

    def test_ordinary_text_untouched(self) -> None:
        assert (
            redact("lead 42: INVALID_DATA at account_id") == "lead 42: INVALID_DATA at account_id"
        )

    def test_which_credentials_are_secrets(self) -> None:
        assert all(
            is_secret_name(n)
            for n in ("client_secret", "refresh_token", "password", "session_id", "access_token")
        )
        assert not any(is_secret_name(n) for n in ("api_domain", "username", "instance_url"))

    def test_secret_objects_are_remembered(self) -> None:
        """Making a Secret is enough: no output shows its value afterwards."""
        leadconvert.backend.Secret("a-brand-new-secret-value")
        assert redact("x a-brand-new-secret-value y") == "x ******** y"


class TestLoggingSetup:
    def test_filter_masks_arguments_and_tracebacks(self) -> None:
        remember_secret("TOPSECRETLOGVALUE")
        stream = io.StringIO()
        configure_logging(1, stream=stream)
        log = logging.getLogger("leadconvert.test")
        log.info("retrying with %s", "TOPSECRETLOGVALUE")
        try:
            raise ValueError("boom TOPSECRETLOGVALUE")
        except ValueError:
            log.warning("failed", exc_info=True)
        text = stream.getvalue()
        assert "retrying with ********" in text and "TOPSECRETLOGVALUE" not in text
        assert "ValueError: boom ********" in text

    def test_levels(self) -> None:
        stream = io.StringIO()
        log = logging.getLogger("leadconvert.test")
        configure_logging(0, stream=stream)
        log.info("hidden")
        log.warning("shown")
        configure_logging(0, quiet=True, stream=stream)
        log.warning("hidden too")
        log.error("an error")
        assert stream.getvalue().splitlines() == [
            "leadconvert: WARNING: shown",
            "leadconvert: ERROR: an error",
        ]

    def test_json_lines_file(self, tmp_path: Path) -> None:
        path = tmp_path / "log.jsonl"
        configure_logging(0, log_file=path, log_format="json", stream=io.StringIO())
        logging.getLogger("leadconvert.zoho").info("refreshing %s", "x", extra={"attempt": 2})
        logging.getLogger("leadconvert").handlers[-1].flush()
        (entry,) = [json.loads(line) for line in path.read_text().splitlines()]
        assert entry["message"] == "refreshing x" and entry["logger"] == "leadconvert.zoho"
        assert entry["level"] == "info" and entry["attempt"] == 2

    def test_escapes_control_characters(self) -> None:
        stream = io.StringIO()
        configure_logging(1, stream=stream)
        logging.getLogger("leadconvert.test").info("lead %s", "\x1b[31mred")
        assert "\x1b" not in stream.getvalue() and "\\x1b[31mred" in stream.getvalue()

    def test_unwritable_log_file(self, tmp_path: Path) -> None:
        from leadconvert import LocalStateError

        with pytest.raises(LocalStateError, match="log file"):
            configure_logging(0, log_file=tmp_path / "no" / "log.txt")

    def teardown_method(self) -> None:
        configure_logging(0)


@pytest.fixture
def zoho() -> Iterator[leadconvert.backend.Emulator]:
    backend = leadconvert.load_registry().get("zoho")
    with backend.emulator() as emulator:
        yield emulator


def _zoho_env(emulator: leadconvert.backend.Emulator) -> dict[str, str]:
    env = _base_env()
    for key, value in {**emulator.credentials(), **emulator.settings()}.items():
        env[f"{ZOHO}{key.upper()}"] = value
    env[f"{ZOHO}BACKOFF"] = "0.01"
    env[f"{ZOHO}DOUBT_WAIT"] = "0"
    env[f"{ZOHO}POLL_INTERVAL"] = "0.01"
    return env


CONVERTIBLE = "4876876000007400004"
_INVALID_TOKEN = {
    "code": "INVALID_TOKEN",
    "details": {},
    "message": "invalid oauth token",
    "status": "error",
}


class TestVerbose:
    def test_retries_429_refresh_and_doubt_are_logged(
        self, zoho: leadconvert.backend.Emulator, tmp_path: Path
    ) -> None:
        """-v: the token refresh, a refused token, a 429 and a lost answer, each with why."""
        source = tmp_path / "in.jsonl"
        source.write_text(json.dumps({"lead_id": CONVERTIBLE}) + "\n")
        zoho.inject_fault(Fault(status=401, body=_INVALID_TOKEN, path="convert"))
        zoho.inject_fault(Fault(status=429, headers={"Retry-After": "0"}, path="convert"))
        zoho.inject_fault(Fault(drop=True, when="after", path="convert"))
        log = tmp_path / "run.log"
        out = run(
            "convert",
            "-b",
            "zoho",
            "-v",
            "--log-file",
            str(log),
            "--log-format",
            "json",
            "--report",
            str(tmp_path / "r.jsonl"),
            str(source),
            env=_zoho_env(zoho),
        )
        assert out.returncode == 0, out.stderr
        err = out.stderr
        assert "refreshing the Zoho access token" in err
        assert "refused the access token (INVALID_TOKEN): refreshing it" in err
        assert "answered 429" in err and "retrying in" in err
        assert "in doubt after POST" in err
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        assert {e["logger"] for e in entries} >= {"leadconvert.zoho"}
        assert any("answered 429" in e["message"] for e in entries)
        # Refused twice before Zoho acted, then applied once and its answer lost: the doubt was
        # settled by reading the lead's state, never by sending it again.
        assert zoho.counts(CONVERTIBLE)["convert"] == 1

    def test_quiet_by_default(self, zoho: leadconvert.backend.Emulator, tmp_path: Path) -> None:
        source = tmp_path / "in.jsonl"
        source.write_text(json.dumps({"lead_id": CONVERTIBLE}) + "\n")
        zoho.inject_fault(Fault(status=429, headers={"Retry-After": "0"}, path="convert"))
        out = run(
            "convert",
            "-b",
            "zoho",
            "--report",
            str(tmp_path / "r.jsonl"),
            str(source),
            env=_zoho_env(zoho),
        )
        assert out.returncode == 0, out.stderr
        assert "429" not in out.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _outputs(tmp_path: Path, out: subprocess.CompletedProcess[str]) -> str:
    """Everything a run left anywhere: stdout, stderr and every file it wrote (the journal
    read as bytes, so text in any SQLite page counts)."""
    parts = [out.stdout, out.stderr]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".pem":
            parts.append(path.read_bytes().decode("utf-8", "replace"))
            if path.suffix == ".sqlite":
                with sqlite3.connect(path) as db:
                    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                        parts.append(repr(db.execute(f"SELECT * FROM {name}").fetchall()))
    return "\n".join(parts)


def _assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for form in {secret, secret.strip()}:
            assert form not in text, f"{form!r} leaked"


_ZOHO_FAULTS = [
    [Fault(status=401, body=_INVALID_TOKEN, path="convert", count=None)],
    [Fault(status=500, path="convert"), Fault(drop=True, when="after", path="convert")],
    [Fault(status=400, body={"error": "invalid_code"}, path="oauth", count=None)],
    [Fault(drop=True, path="oauth", count=None)],
    [Fault(status=429, headers={"Retry-After": "0"}, count=None)],
]


class TestNoCredentialInAnyOutput:
    @pytest.mark.parametrize("faults", range(len(_ZOHO_FAULTS)))
    def test_zoho_every_command(
        self, zoho: leadconvert.backend.Emulator, tmp_path: Path, faults: int
    ) -> None:
        """check, validate, plan, convert (with --on-match), match and status, at -vv with a
        log file, under refused tokens, 5xx, lost answers, refused refreshes, dropped token
        connections and endless 429s: no client secret, refresh token or access token in
        stdout, stderr, the report and its side files, the journal or the log."""
        source = tmp_path / "in.jsonl"
        source.write_text(json.dumps({"lead_id": CONVERTIBLE}) + "\n")
        env = _zoho_env(zoho)
        env[f"{ZOHO}MAX_RETRIES"] = "1"
        for fault in _ZOHO_FAULTS[faults]:
            zoho.inject_fault(fault)
        log = str(tmp_path / "run.log")
        common = ["-b", "zoho", "-vv", "--log-file", log]
        outputs = []
        for args in (
            ["check", *common],
            ["validate", *common, str(source)],
            ["plan", *common, "--on-match", "merge", str(source)],
            ["convert", *common, "--on-match", "merge", str(source)],
            ["convert", *common, "--report", str(tmp_path / "r.csv"), str(source)],
            ["match", *common, CONVERTIBLE],
            ["status", *common, "1234567890"],
        ):
            out = run(*args, env=env)
            assert out.returncode in (0, 1, 2, 3), (args, out.stderr)
            assert "Traceback" not in out.stderr and "internal error" not in out.stderr, args
            outputs.append(_outputs(tmp_path, out))
        tokens = list(getattr(zoho, "_tokens", {}))
        secrets = [
            zoho.credentials()["client_secret"],
            zoho.credentials()["refresh_token"],
            *tokens,
        ]
        _assert_no_secret("\n".join(outputs), secrets)

    def test_salesforce_session_id_with_crlf(self, tmp_path: Path) -> None:
        """A session id read from a CRLF file works (it is stripped where it is read), and
        neither it nor the password shows in any output, on the emulator or on a dead port."""
        backend = leadconvert.load_registry().get("salesforce")
        with backend.emulator() as emulator:
            credentials = emulator.credentials()
            client = backend.connect(credentials, emulator.settings())
            try:
                session_id = str(client.sf.session_id)  # type: ignore[attr-defined]
            finally:
                client.close()
            lead = emulator.add_lead({"LastName": "Ng", "Company": "Acme", "Status": "Open"})
            source = tmp_path / "in.jsonl"
            source.write_text(json.dumps({"lead_id": lead}) + "\n")
            env = _base_env()
            env[f"{SF}SESSION_ID"] = session_id + "\r\n"
            env[f"{SF}INSTANCE_URL"] = emulator.base_url
            env[f"{SF}CA_BUNDLE"] = credentials["ca_bundle"]
            emulator.inject_fault(Fault(status=500, operation="convertLead"))
            log = str(tmp_path / "run.log")
            runs = [
                run("convert", "-b", "salesforce", "-vv", "--log-file", log, str(source), env=env),
                run("check", "-b", "salesforce", "-vv", "--log-file", log, env=env),
                run("match", "-b", "salesforce", "-vv", "--log-file", log, lead, env=env),
            ]
            assert runs[0].returncode == 0, runs[0].stderr
            env[f"{SF}INSTANCE_URL"] = f"https://127.0.0.1:{_closed_port()}"
            runs.append(
                run(
                    "convert",
                    "-b",
                    "salesforce",
                    "-vv",
                    "--log-file",
                    log,
                    "--report",
                    str(tmp_path / "dead.jsonl"),
                    str(source),
                    env=env,
                )
            )
            assert runs[-1].returncode == 3, runs[-1].stderr
        text = "\n".join(_outputs(tmp_path, out) for out in runs)
        _assert_no_secret(text, [session_id, credentials["password"]])


class TestOptionPlacement:
    @pytest.mark.parametrize("before", [True, False])
    def test_verbose_before_or_after_the_command(self, before: bool) -> None:
        """`leadconvert -v check ...` and `leadconvert check -v ...` both log at INFO."""
        env = _base_env()
        env.update(
            {
                f"{ZOHO}CLIENT_ID": "1000.ID",
                f"{ZOHO}CLIENT_SECRET": "secret-for-placement-test",
                f"{ZOHO}REFRESH_TOKEN": "1000.refresh-for-placement-test",
                f"{ZOHO}ACCOUNTS_URL": f"http://127.0.0.1:{_closed_port()}",
            }
        )
        args = ["-v", "check", "-b", "zoho"] if before else ["check", "-b", "zoho", "-v"]
        out = run(*args, env=env)
        assert out.returncode == 3
        assert "INFO: refreshing the Zoho access token" in out.stderr
        quiet = run("check", "-b", "zoho", env=env)
        assert "INFO" not in quiet.stderr


class TestDynamics:
    def test_service_protection_logged(self, tmp_path: Path) -> None:
        """Dataverse's 429 (service protection) is logged with its code and the wait."""
        backend = leadconvert.load_registry().get("dynamics")
        with backend.emulator() as emulator:
            lead = emulator.add_lead({"lastname": "Ng", "companyname": "Acme"})
            env = _base_env()
            for key, value in {**emulator.credentials(), **emulator.settings()}.items():
                env[f"LEADCONVERT_DYNAMICS_{key.upper()}"] = value
            env["LEADCONVERT_DYNAMICS_RETRY_BASE_DELAY"] = "0.01"
            emulator.inject_fault(Fault(status=429, headers={"Retry-After": "0"}, path="batch"))
            source = tmp_path / "in.jsonl"
            source.write_text(json.dumps({"lead_id": lead}) + "\n")
            out = run("convert", "-b", "dynamics", "-v", str(source), env=env)
        assert out.returncode == 0, out.stderr
        assert "Dataverse service protection" in out.stderr and "retrying in" in out.stderr

    def test_dynamics_secret_never_shown(self, tmp_path: Path) -> None:
        """Dynamics under refused tokens, 5xx and lost answers: its client secret and access
        token appear in no output."""
        backend = leadconvert.load_registry().get("dynamics")
        with backend.emulator() as emulator:
            lead = emulator.add_lead({"lastname": "Ng", "companyname": "Acme"})
            env = _base_env()
            for key, value in {**emulator.credentials(), **emulator.settings()}.items():
                env[f"LEADCONVERT_DYNAMICS_{key.upper()}"] = value
            env["LEADCONVERT_DYNAMICS_RETRY_BASE_DELAY"] = "0.01"
            env["LEADCONVERT_DYNAMICS_DOUBT_WAIT"] = "0"
            secret = emulator.credentials()["client_secret"]
            source = tmp_path / "in.jsonl"
            source.write_text(json.dumps({"lead_id": lead}) + "\n")
            emulator.inject_fault(Fault(status=401, path="batch"))
            emulator.inject_fault(Fault(status=503, path="batch"))
            emulator.inject_fault(Fault(drop=True, when="after", path="batch"))
            log = str(tmp_path / "run.log")
            runs = [
                run("convert", "-b", "dynamics", "-vv", "--log-file", log, str(source), env=env),
                run("check", "-b", "dynamics", "-vv", "--log-file", log, env=env),
            ]
            token_env = _base_env()
            token_env["LEADCONVERT_DYNAMICS_ORG_URL"] = f"https://127.0.0.1:{_closed_port()}"
            token_env["LEADCONVERT_DYNAMICS_ACCESS_TOKEN"] = "eyJhbGciOi.dynamics-token.value"
            runs.append(
                run(
                    "convert",
                    "-b",
                    "dynamics",
                    "-vv",
                    "--log-file",
                    log,
                    "--report",
                    str(tmp_path / "dead.jsonl"),
                    str(source),
                    env=token_env,
                )
            )
        for out in runs:
            assert "Traceback" not in out.stderr, out.stderr
        _assert_no_secret(
            "\n".join(_outputs(tmp_path, out) for out in runs),
            [secret, "eyJhbGciOi.dynamics-token.value"],
        )
