"""The command line's inputs, outputs and errors: options every command shares, the summaries
printed (and as ``--json``), the one way an error becomes a message and an exit code, and the
``check`` command.

Kept out of ``_cli.py`` so that the commands stay about what they do: ``install_cli_options``
adds ``-v/-q/--log-file/--log-format`` to every command, ``--delimiter`` to those that read an
input file, and ``--json`` to ``validate`` and ``convert``.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ._input import InputRecord
    from .backend import Backend, PlanItem, PlanWarning

# Exit codes (leadconvert._exceptions, which imports ssl and sqlite3: not at start-up).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERNAL = 70

__all__ = [
    "DuplicateLeads",
    "check_command",
    "describe_error",
    "echo_json",
    "format_invalid",
    "format_warning",
    "input_delimiter",
    "install_cli_options",
    "install_logging_options",
    "run_summary_json",
    "safe_text",
    "validation_summary",
    "wants_json",
]

_DELIMITER = "leadconvert.delimiter"
_JSON = "leadconvert.json"
_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


def safe_text(text: str) -> str:
    """``text`` fit for a terminal: secrets masked, control characters escaped."""
    from ._input import printable
    from ._logging import redact

    return printable(redact(text))


#: What requests and urllib3 put in their messages (searched through re's own cache: only a
#: command that fails needs it compiled).
_LIBRARY_TEXT = r"\b(?:HTTPS?ConnectionPool\(|Max retries exceeded)"


def describe_error(exc: BaseException) -> tuple[str, str, int]:
    """(label, message, exit code) of the error a command ended with, by the policy of
    ``exit_code_for``: the real cause, redacted and escaped, never a traceback."""
    import sqlite3

    from ._exceptions import EmptyInputError, LeadConvertError, TransportError, exit_code_for

    code = exit_code_for(exc)
    label = "warning" if isinstance(exc, EmptyInputError) else "error"
    if isinstance(exc, LeadConvertError):
        message = str(exc)
        raw = re.search(_LIBRARY_TEXT, message)
        if isinstance(exc, TransportError) and raw:
            # A plugin quoted urllib3's text ("HTTPSConnectionPool(...): Max retries exceeded
            # ... Caused by NewConnectionError(...)"): say the cause in words instead.
            message = f"{message[: raw.start()].rstrip(' :')}: {TransportError.cause(exc)}"
    elif isinstance(exc, OSError):
        # A full disk, a missing CA bundle (REQUESTS_CA_BUNDLE), an unreadable file: local.
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
    elif isinstance(exc, sqlite3.Error):
        message = f"a local database (journal or report spool) cannot be used: {exc}"
    elif isinstance(exc, RecursionError | MemoryError | UnicodeError):
        message = f"the input or environment is beyond what can be processed: {exc}"
    else:
        message = (
            f"internal error: {type(exc).__name__}: {exc} (set LEADCONVERT_DEBUG=1 to see the "
            "traceback, and please report it)"
        )
    return label, safe_text(message), code


# --- options every command shares ----------------------------------------------------------


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        ctx.meta[key] = value
        return value

    return callback


def _delimiter_option() -> click.Option:
    return click.Option(
        ["--delimiter"],
        default=None,
        expose_value=False,
        callback=_store(_DELIMITER),
        help="CSV delimiter: a character or comma, semicolon, tab, pipe (default: sniffed from "
        "the header among , ; TAB |).",
    )


def _json_option() -> click.Option:
    return click.Option(
        ["--json", "summary_json"],
        is_flag=True,
        expose_value=False,
        callback=_store(_JSON),
        help="Print the summary as JSON on stdout (by outcome and by error code).",
    )


def install_cli_options(group: click.Group) -> None:
    """Add the shared options to ``group``'s commands, and the ``check`` command."""
    if "check" not in group.commands:
        group.add_command(check_command)
    # The group too: `leadconvert -v convert ...` works as well as `convert -v`.
    install_logging_options([group, *group.commands.values()])
    for name, command in group.commands.items():
        names = {p.name for p in command.params}
        if "fmt" in names and "delimiter" not in names:
            command.params.append(_delimiter_option())
        if name in ("validate", "convert") and not names & {"as_json", "summary_json"}:
            command.params.append(_json_option())


# --- -v, -q, --log-file, --log-format on every command --------------------------------------
# (here, not in _logging: `leadconvert --help` needs the options, not the logging package)

_F = TypeVar("_F", bound=Callable[..., Any])


def _options() -> list[click.Option]:
    """Fresh option objects for one command (click keeps state on them)."""
    return [
        click.Option(
            ["-v", "--verbose", "log_verbose"],
            count=True,
            help="Log retries, rate limits, token refreshes and checks (-vv: every request).",
        ),
        click.Option(
            ["-q", "--quiet", "log_quiet"], is_flag=True, help="Log only errors on stderr."
        ),
        click.Option(
            ["--log-file", "log_file"],
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Also write the log (INFO and up; DEBUG with -vv) to this file.",
        ),
        click.Option(
            ["--log-format", "log_format"],
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Log lines as text or as JSON objects (one per line).",
        ),
    ]


def install_logging_options(commands: Iterable[click.Command]) -> None:
    """Give each command ``-v``, ``-q``, ``--log-file`` and ``--log-format``, configuring
    logging before the command runs. Commands that already have them are left alone."""
    for command in commands:
        if isinstance(command, click.Group):
            install_logging_options(command.commands.values())
        if command.callback is None or any(p.name == "log_verbose" for p in command.params):
            continue
        command.params.extend(_options())
        command.callback = _configured(command.callback)


_META = "leadconvert.logging"


def _configured(callback: _F) -> _F:
    def run(
        *args: Any,
        log_verbose: int = 0,
        log_quiet: bool = False,
        log_file: Path | None = None,
        log_format: str = "text",
        **kwargs: Any,
    ) -> Any:
        # `leadconvert -v convert ...` and `leadconvert convert -v ...` both count: a group
        # passes its options down through the context, and the command's own add to them.
        ctx = click.get_current_context(silent=True)
        given = ctx.meta.get(_META, {}) if ctx is not None else {}
        options = {
            "verbosity": max(log_verbose, given.get("verbosity", 0)),
            "quiet": log_quiet or given.get("quiet", False),
            "log_file": log_file or given.get("log_file"),
            "log_format": log_format if log_format != "text" else given.get("log_format", "text"),
        }
        if ctx is not None:
            ctx.meta[_META] = options
        from ._logging import configure_logging

        configure_logging(
            options["verbosity"], options["quiet"], options["log_file"], options["log_format"]
        )
        return callback(*args, **kwargs)

    run.__name__ = getattr(callback, "__name__", "command")
    run.__doc__ = callback.__doc__
    return run  # type: ignore[return-value]


def _meta() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.meta if ctx is not None else {}


def input_delimiter() -> str | None:
    """The ``--delimiter`` of the running command (None: sniff)."""
    value = _meta().get(_DELIMITER)
    if value is None:
        return None
    value = _DELIMITER_NAMES.get(str(value).lower(), str(value))
    if value in ("\\t", "TAB"):
        value = "\t"
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise click.BadParameter(
            f"{value!r}: one character, or comma, semicolon, tab, pipe", param_hint="--delimiter"
        )
    return value


def wants_json() -> bool:
    """Whether the running command was given ``--json`` (a summary on stdout)."""
    return bool(_meta().get(_JSON))


# --- what validate, plan and convert print -------------------------------------------------


def format_invalid(file: Path, record: InputRecord) -> list[str]:
    """``FILE:LINE: lead ID PATH: MESSAGE [RULE] (BACKEND)``, one line per violation, safe to
    print: an id with an ANSI escape or a newline never drives the terminal."""
    lead = f" lead {record.lead_id}" if record.lead_id else ""
    out = []
    for v in record.violations:
        where = f"{v.path}: " if v.path else ""
        backend = f" ({v.backend})" if v.backend else ""
        out.append(safe_text(f"{file}:{record.line}:{lead} {where}{v.message} [{v.rule}]{backend}"))
    return out


def format_warning(file: Path, warning: PlanWarning) -> str:
    """One plan warning, safe to print."""
    v = warning.violation
    where = f"{v.path}: " if v.path else ""
    return safe_text(
        f"{file}:{warning.line}: lead {warning.lead_id}: warning: {where}{v.message} [{v.rule}]"
    )


class DuplicateLeads:
    """Finds leads listed more than once in one input, as ``convert`` refuses them: by the
    backend's canonical id (a Salesforce 15- and 18-character id are one lead)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._first: dict[str, int | None] = {}

    def check(self, items: Iterable[PlanItem]) -> list[InputRecord]:
        """The repeats among ``items`` as invalid records naming the first line."""
        from ._input import InputRecord
        from ._results import Violation

        repeats = []
        canonical = self._backend.canonical_id
        for item in items:
            key = canonical(item.conversion.lead_id)
            if key in self._first:
                earlier = self._first[key]
                where = f" on line {earlier}" if earlier else ""
                violation = Violation(
                    rule="input.duplicate_lead",
                    path="lead_id",
                    message=f"the lead already appears earlier in this file{where}; convert "
                    "converts it once and reports the repeat as invalid",
                )
                repeats.append(
                    InputRecord(item.line or 0, None, (violation,), item.conversion.lead_id)
                )
            else:
                self._first[key] = item.line
        return repeats


def validation_summary(
    backend: str, mode: str, read: int, rules: Counter[str], invalid: int, warned: int
) -> dict[str, Any]:
    """``validate``'s summary: conversions read, invalid ones and their problems by rule."""
    return {
        "backend": backend,
        "mode": mode,
        "read": read,
        "invalid": invalid,
        "warnings": warned,
        "by_rule": dict(sorted(rules.items())),
        "exit_code": EXIT_FAILED if invalid else EXIT_OK,
    }


def run_summary_json(summary: Any, report: Path, journal: Path, code: int) -> dict[str, Any]:
    """``convert``'s summary for tools: leads by outcome and by error code, where the report,
    its success and error files and the journal are, and the exit code."""
    from ._report import side_paths

    success, errors = side_paths(report)
    return {
        "outcomes": {
            o.value: n for o, n in sorted(summary.counts.items(), key=lambda i: i[0].value)
        },
        "error_codes": dict(sorted(summary.error_codes.items())),
        "total": summary.total,
        "invalid": summary.invalid,
        "interrupted": summary.interrupted,
        "stopped_early": summary.stopped_early,
        "aborted": safe_text(summary.aborted) if summary.aborted else None,
        "report": str(report),
        "success_file": str(success),
        "error_file": str(errors),
        "journal": str(journal),
        "exit_code": code,
    }


def echo_json(value: Mapping[str, Any], out: IO[str] | None = None) -> None:
    """One JSON document on stdout."""
    import json

    (out or sys.stdout).write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


# --- leadconvert check ---------------------------------------------------------------------


@click.command("check")
@click.option("--backend", "-b", "backend_name", required=True, help="The backend to check.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML file with credentials and settings; env vars win.",
)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A backend setting.")
@click.option(
    "--emulator-seed",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Seed for the emulator used when no credentials are given.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def check_command(
    ctx: click.Context,
    backend_name: str,
    config: Path | None,
    settings: tuple[str, ...],
    emulator_seed: Path | None,
    as_json: bool,
) -> None:
    """Check credentials, settings, connectivity and the org before a run.

    Connects as `convert` would (to the emulator when no credentials are given), makes one
    cheap authenticated read, and prints which org and API host it reached. Exit 0 when the
    CRM can be used, 2 for a configuration problem, 3 when it cannot be reached or refuses
    the credentials.
    """
    from ._cli import _client, _state
    from ._cli_settings import parse_settings
    from ._config import env_name, load_credentials, resolve_settings
    from ._exceptions import (
        AuthenticationError,
        BackendError,
        RateLimitedError,
        ServerError,
        TransportError,
    )

    backend = _state(ctx).backend(backend_name)
    checks: list[dict[str, Any]] = []
    result: dict[str, Any] = {"backend": backend.name, "checks": checks}

    def step(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": safe_text(detail)})

    code = EXIT_OK
    try:
        resolved = resolve_settings(backend, flags=parse_settings(backend, settings), config=config)
        problems = backend.check_settings(resolved) if hasattr(backend, "check_settings") else []
        if problems:
            step("settings", False, "; ".join(str(v) for v in problems))
            code = EXIT_USAGE
        else:
            step("settings", True, ", ".join(f"{k}={v}" for k, v in resolved.items()) or "defaults")
        given = load_credentials(backend, config)
        names = ", ".join(env_name(backend, n) for n in backend.credential_names)
        step(
            "credentials",
            True,
            f"given: {', '.join(sorted(given))}"
            if given
            else f"none (set {names}): the emulator is checked instead of a real CRM",
        )
        result["emulator"] = not given
        if code == EXIT_OK:
            with _client(backend, config, resolved, emulator_seed) as (client, _, _emulated):
                step("connect", True, f"{type(client).__name__} ready")
                try:
                    # Cheap, authenticated and harmless: the state of one lead id no org has.
                    client.lookup([backend.example_id("lead", 1)])
                except (TransportError, AuthenticationError, ServerError, RateLimitedError):
                    raise
                except BackendError as exc:
                    # The CRM answered, so it is reachable and took the credentials.
                    step("authenticated read", True, f"answered: {exc}")
                else:
                    step("authenticated read", True, "answered")
                identity = getattr(client, "org_identity", lambda: "")() or "(not reported)"
                result["org"] = safe_text(identity)
                step("org", True, identity)
    except Exception as exc:
        _label, message, code = describe_error(exc)
        if code == EXIT_INTERNAL:
            raise
        step("error", False, message)
        if code == EXIT_FAILED:
            code = EXIT_UNREACHABLE
    result["ok"] = code == EXIT_OK
    result["exit_code"] = code
    if as_json:
        echo_json(result)
    else:
        for entry in checks:
            mark = "ok  " if entry["ok"] else "FAIL"
            click.echo(f"{mark} {entry['check']}: {entry['detail']}")
        if "org" in result:
            click.echo(f"org: {result['org']}")
    ctx.exit(code)
