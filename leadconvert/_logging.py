"""Logging with the standard library, and the one place secrets are redacted.

Every module and plugin logs to a ``logging.getLogger("leadconvert...")`` logger; the command
line sets the level (``-v``, ``-vv``, ``-q``), a log file (``--log-file``) and its form (text or
JSON lines, ``--log-format``). Retries, 429s, backoff, token refreshes, in-doubt checks and job
polls are logged at INFO with their reason; each request at DEBUG.

Secrets: every ``leadconvert.backend.Secret`` made in the process is remembered here
(``remember_secret``), and ``redact`` replaces each one, and the usual places a credential
hides in a library's message (an ``Authorization`` header, a ``sessionId`` element, a token
form field), with ``********``. ``RedactingFilter`` is the one filter on every handler this
module installs; reports, the journal and error messages on stderr call ``redact`` at their
boundary. A secret with a stray CR/LF (a session id read from a file with a CRLF line end) is
remembered in every form a message may quote it in: raw, stripped, and escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

__all__ = [
    "RedactingFilter",
    "configure_logging",
    "is_secret_name",
    "redact",
    "remember_secret",
]

_MASK = "********"
#: Shorter values are not redacted by value (they would mask ordinary words); the patterns
#: below still catch them where credentials appear.
_MIN_SECRET = 6
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_secrets_lock = threading.Lock()


@functools.cache
def _credential_patterns() -> tuple[re.Pattern[str], ...]:
    """Credential-shaped values, compiled when first redacting: a run that meets no error and
    logs nothing (most of them) redacts nothing."""
    return (
        # Authorization: Zoho-oauthtoken X / Bearer X / OAuth X, in headers and reprs of headers.
        re.compile(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:zoho-oauthtoken|bearer|oauth)?\s*"
            r"[^\s'\",}]+"
        ),
        re.compile(r"(?i)\b((?:zoho-oauthtoken|bearer)\s+)[^\s'\",}]+"),
        re.compile(r"(?i)(<(?:\w+:)?sessionId>)[^<]*"),
        re.compile(
            r"(?i)\b((?:access_token|refresh_token|client_secret|session_id|sessionid|password|"
            r"sid|security_token)['\"]?\s*[=:]\s*['\"]?)[^\s&'\",}]+"
        ),
    )


_SECRET_NAME = re.compile(r"(?i)secret|token|password|session|private|key|credential")


def is_secret_name(name: str) -> bool:
    """Whether a credential of this name is a secret (a client secret, a token, a password, a
    session id), as opposed to where or who (a URL, a user name, a client id)."""
    return bool(_SECRET_NAME.search(name))


def remember_secret(value: str) -> None:
    """Redact ``value`` from every output from now on, in each form a message may quote it."""
    forms = {value, value.strip()}
    forms |= {value.encode("unicode_escape").decode("ascii", "replace")}
    forms |= {urllib.parse.quote(f, safe="") for f in list(forms)}
    forms |= {urllib.parse.quote_plus(f) for f in list(forms)}
    forms = {f for f in forms if len(f.strip()) >= _MIN_SECRET}
    global _pattern  # noqa: PLW0603 - one registry per process, by design
    with _secrets_lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # Longest first, so a secret's escaped form is masked whole, not in part.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(f) for f in ordered))


def redact(text: str) -> str:
    """``text`` with every remembered secret and credential-shaped value masked."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(_MASK, text)
    for known in _credential_patterns():
        text = known.sub(lambda m: m.group(1) + _MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """The one logging filter: the message, its arguments and any traceback, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _TextFormatter(logging.Formatter):
    """Plain lines; control characters escaped so a log never drives the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        from ._input import printable

        text = super().format(record)
        return "\n".join(printable(line) for line in text.split("\n"))


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


_installed: list[logging.Handler] = []


def configure_logging(
    verbosity: int = 0,
    quiet: bool = False,
    log_file: Path | None = None,
    log_format: str = "text",
    *,
    stream: Any = None,
) -> None:
    """Send leadconvert's logs to stderr (warnings; ``-v`` info, ``-vv`` debug; ``-q`` errors
    only) and, with ``log_file``, everything from INFO (DEBUG with ``-vv``) to that file."""
    from ._exceptions import LocalStateError

    logger = logging.getLogger("leadconvert")
    for handler in _installed:
        logger.removeHandler(handler)
        handler.close()
    _installed.clear()
    if quiet:
        console_level = logging.ERROR
    else:
        console_level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    formatter: logging.Formatter = (
        _JsonFormatter()
        if log_format == "json"
        else _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    console = logging.StreamHandler(stream or sys.stderr)
    console.setLevel(console_level)
    console.setFormatter(
        formatter
        if log_format == "json"
        else _TextFormatter("leadconvert: %(levelname)s: %(message)s")
    )
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise LocalStateError(
                f"cannot write the log file {log_file}: {exc.strerror or exc}"
            ) from exc
        file_handler.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
        file_handler.setFormatter(formatter)
        handlers.append(file_handler)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
        _installed.append(handler)
    logger.setLevel(min(h.level for h in handlers))
    # A log that cannot be written (a full disk) must not print tracebacks over the run's
    # output; the run's own files report such failures as errors.
    logging.raiseExceptions = False
    # Our handlers are the output: do not also hand records to the root logger's.
    logger.propagate = False
