"""The ``leadconvert`` command line.

Exit codes (documented in docs/cli.md):

* 0: everything asked for succeeded;
* 1: some conversions are invalid or failed (each one is reported), or the CRM refused a request;
* 2: usage error, unreadable input, bad configuration or plugin;
* 3: the CRM could not be reached, refused the credentials, failed or kept rate-limiting;
* 70: an internal error (a bug: please report it);
* 130: interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import itertools
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ._cli_io import (
    DuplicateLeads,
    describe_error,
    echo_json,
    format_invalid,
    format_warning,
    input_delimiter,
    install_cli_options,
    run_summary_json,
    safe_text,
    validation_summary,
    wants_json,
)
from ._cli_settings import default_option, parse_settings, set_option
from ._plugins import lazy_registry
from ._translate_cli import translate as translate_command

if TYPE_CHECKING:
    from rich.console import Console

    from ._input import InputRecord
    from ._json import NeutralConverter
    from ._pipeline import MergePolicy
    from ._plugins import Registry
    from ._progress import PlainProgress, RichProgress
    from .backend import Backend, Client, PlanWarning

# Start-up: `leadconvert --help` imports click, this module and the plugins' (light) packages
# only. Everything else (the model, the pipeline, the runner, rich, a backend) is imported by
# the command that uses it, and a backend's plugin is loaded when the backend is first asked for
# (leadconvert._plugins.lazy_registry). tests/core/test_startup.py checks what each imports.

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class _State:
    """What every subcommand shares: the registry and converter, built on first use."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._converter: NeutralConverter | None = None

    @property
    def converter(self) -> NeutralConverter:
        if self._converter is None:
            from ._json import NeutralConverter

            converter = NeutralConverter({})
            # Each backend is loaded when a line first names it in `options`, not before.
            converter.option_types = self.registry.option_types()
            self._converter = converter
        return self._converter

    def backend(self, name: str) -> Backend:
        return self.registry.get(name)

    def set_up(self) -> None:
        """The command is set up: what it imports and builds before its input is read is
        frozen (``gc.freeze``), as start-up is in ``main``, which unfreezes both at its end.

        A command imports most of what it uses after ``main`` froze start-up (its backend,
        ``requests``, the pipeline and the runner). Left unfrozen, those objects were all
        scanned by the first collection of generation 0, which came while the input was read:
        10 ms of a 5,000-lead convert's CPU (docs/performance.md, "Eleventh round").
        """
        gc.freeze()


def _state(ctx: click.Context) -> _State:
    state = ctx.find_object(_State)
    assert state is not None
    return state


_backend_option = click.option(
    "--backend",
    "-b",
    "backend_name",
    required=True,
    help="The backend (see `leadconvert backends`).",
)
_lenient_option = click.option(
    "--lenient",
    is_flag=True,
    help="Turn options the backend cannot express into plan warnings instead of violations.",
)
# The values of InputFormat, OnMatch and OnAmbiguous, spelled out: their modules are not
# imported to show help (tests/core/test_startup.py checks they are the enums' values).
_FORMATS = ("jsonl", "csv")
_ON_MATCH = ("merge", "create", "skip", "fail")
_ON_AMBIGUOUS = ("create", "skip", "fail")

_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default=None,
    help="Input format (default: csv for *.csv, else JSON Lines).",
)
_file_argument = click.argument(
    "file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=False)
)


_on_match_option = click.option(
    "--on-match",
    type=click.Choice(_ON_MATCH),
    default=None,
    help="Look for existing records first: merge into unambiguous matches, or create, skip, "
    "or fail leads that match (default: convert as given, without looking).",
)
_on_ambiguous_option = click.option(
    "--on-ambiguous",
    type=click.Choice(_ON_AMBIGUOUS),
    default="fail",
    show_default=True,
    help="With --on-match merge: what to do when it cannot tell which record to merge into.",
)
_config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML file with credentials and settings (see docs/cli.md); env vars win.",
)
_seed_option = click.option(
    "--emulator-seed",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Seed for the emulator used when no credentials are given.",
)


class _Group(click.Group):
    """The ``leadconvert`` group: the plugins' own commands (``leadconvert_register_commands``)
    are added when a command name is not a built-in one, or when every command is listed."""

    plugin_commands_added = False

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        if self.plugin_commands_added:
            return
        state = ctx.find_object(_State)
        registry = state.registry if state is not None else lazy_registry()
        registry.plugin_manager.hook.leadconvert_register_commands(cli=self)
        install_cli_options(self)
        self.plugin_commands_added = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self.plugin_commands_added:
            self._add_plugin_commands(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="leadconvert")
def cli() -> None:
    """Describe lead conversions once, in CRM-neutral terms, and carry them out on any CRM."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--markdown", is_flag=True, help="Print the capability matrix as a Markdown table.")
@click.pass_context
def backends(ctx: click.Context, as_json: bool, markdown: bool) -> None:
    """List installed backends, their limits and their capability matrix."""
    from ._json import dumps_json

    registry = _state(ctx).registry
    if as_json:
        click.echo(dumps_json(_backends_json(registry), indent=2))
        return
    if markdown:
        from ._matrix import capability_matrix_markdown

        click.echo(capability_matrix_markdown(registry), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    from .backend import MEANINGS

    console = Console(soft_wrap=False, width=max(120, Console().width))
    table = Table(title="Installed backends")
    for heading in ("name", "description", "max per call", "max concurrent", "settings"):
        table.add_column(heading)
    for backend in registry:
        table.add_row(
            backend.name,
            backend.description,
            str(backend.limits.max_batch),
            str(backend.limits.max_concurrency),
            ", ".join(backend.settings) or "-",
        )
    console.print(table)
    matrix = Table(title="Capability matrix (reject = strict error, lenient warning)")
    matrix.add_column("meaning")
    columns = [(b, c) for b in registry for c in b.capabilities]
    for _backend, column in columns:
        matrix.add_column(column.title)
    for key, meaning in MEANINGS.items():
        cells = []
        for _backend, column in columns:
            cap = column.entries.get(key)
            cells.append("?" if cap is None else f"{cap.support.value}: {cap.wire}".rstrip(": "))
        matrix.add_row(meaning, *cells)
    console.print(matrix)


def _backends_json(registry: Registry) -> list[dict[str, Any]]:
    return [
        {
            "name": b.name,
            "description": b.description,
            "limits": {
                "max_batch": b.limits.max_batch,
                "max_concurrency": b.limits.max_concurrency,
                "notes": list(b.limits.notes),
            },
            "settings": dict(b.settings),
            "credentials": dict(b.credential_names),
            "capabilities": [
                {
                    "title": column.title,
                    "entries": {
                        key: {"support": cap.support.value, "wire": cap.wire, "note": cap.note}
                        for key, cap in column.entries.items()
                    },
                }
                for column in b.capabilities
            ],
        }
        for b in registry
    ]


@cli.command()
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema (2020-12) of one input line."""
    from ._json import dumps_json
    from ._schema import conversion_schema

    click.echo(dumps_json(conversion_schema(_state(ctx).registry), indent=2))


def _records(
    state: _State, file: Path, fmt: str | None, *, sources: bool = True
) -> Iterable[InputRecord]:
    from ._input import InputFormat, read_records

    return read_records(
        file,
        state.converter,
        InputFormat(fmt) if fmt else None,
        delimiter=input_delimiter(),
        sources=sources,
    )


def _report_invalid(out: IO[str], file: Path, record: InputRecord) -> None:
    # Escaped and redacted: an id with an ANSI escape never reaches the terminal raw.
    for line in format_invalid(file, record):
        out.write(line + "\n")


def _report_warning(out: IO[str], file: Path, warning: PlanWarning) -> None:
    out.write(format_warning(file, warning) + "\n")


@cli.command()
@_backend_option
@_lenient_option
@_format_option
@set_option
@default_option
@_config_option
@_file_argument
@click.pass_context
def validate(
    ctx: click.Context,
    backend_name: str,
    lenient: bool,
    fmt: str | None,
    settings: tuple[str, ...],
    defaults: tuple[str, ...],
    config: Path | None,
    file: Path,
) -> None:
    """Check every conversion in FILE against a backend's rules; exit 1 if any breaks one.

    The settings are checked too (as `plan` and `convert` would use them), before any line.
    """
    from ._config import resolve_defaults
    from ._pipeline import Mode, Pipeline

    state = _state(ctx)
    backend = state.backend(backend_name)
    mode = Mode.LENIENT if lenient else Mode.STRICT
    pipeline = Pipeline(
        backend,
        _settings(backend, settings, config),
        mode=mode,
        defaults=resolve_defaults(backend, flags=defaults, config=config),
    )
    total = bad = warned = 0
    as_json = wants_json()
    # With --json the summary owns stdout: the problems go to stderr.
    out = sys.stderr if as_json else sys.stdout
    rules: Counter[str] = Counter()
    duplicates = DuplicateLeads(backend)
    # No report: the records' input columns are not built.
    records = iter(_records(state, file, fmt, sources=False))
    state.set_up()
    while chunk := list(itertools.islice(records, pipeline.window)):
        total += len(chunk)
        checked = pipeline.check(chunk)
        # convert refuses a lead listed twice: so does validate.
        invalid = [*checked.invalid, *duplicates.check(checked.items)]
        bad += len(invalid)
        for record in sorted(invalid, key=lambda r: r.line):
            rules.update(v.rule for v in record.violations)
            _report_invalid(out, file, record)
        warned += len(checked.warnings)
        for warning in checked.warnings:
            _report_warning(out, file, warning)
    click.echo(
        f"{total} conversion(s) read, {bad} invalid, {warned} warning(s) ({backend.name}, "
        f"{mode.value})",
        err=True,
    )
    if rules:
        # What to fix first: the problems by rule, most frequent first.
        ranked = sorted(rules.items(), key=lambda item: (-item[1], item[0]))
        click.echo("by rule: " + ", ".join(f"{rule} {n}" for rule, n in ranked), err=True)
    if as_json:
        echo_json(validation_summary(backend.name, mode.value, total, rules, bad, warned))
    ctx.exit(EXIT_FAILED if bad else EXIT_OK)


def _settings(backend: Backend, flags: Iterable[str], config: Path | None) -> dict[str, str]:
    """The settings in force, resolved once: flags, then environment, then file, then defaults."""
    from ._config import resolve_settings

    return resolve_settings(backend, flags=parse_settings(backend, flags), config=config)


def _emulated_settings(
    backend: Backend, config: Path | None, settings: dict[str, str], seed: Path | None
) -> dict[str, str]:
    """``settings`` as ``convert`` would run with them: without credentials it runs on the
    emulator, whose org's own settings (Zoho's module ids...) fill in what the user left unset."""
    from ._config import load_credentials
    from ._exceptions import PluginError

    if load_credentials(backend, config):
        return settings
    try:
        emulator = backend.emulator(seed=seed)
    except PluginError:
        return settings
    return {**emulator.settings(), **settings}


@cli.command()
@_backend_option
@_lenient_option
@_format_option
@set_option
@default_option
@_config_option
@_seed_option
@_on_match_option
@_on_ambiguous_option
@_file_argument
@click.pass_context
def plan(
    ctx: click.Context,
    backend_name: str,
    lenient: bool,
    fmt: str | None,
    settings: tuple[str, ...],
    defaults: tuple[str, ...],
    config: Path | None,
    emulator_seed: Path | None,
    on_match: str | None,
    on_ambiguous: str,
    file: Path,
) -> None:
    """Print the exact requests FILE's conversions need, as JSON; no network is used.

    Invalid conversions are reported on stderr with their line and left out of the plan; the
    exit code is then 1. With --on-match the CRM (or its emulator) is asked for existing records
    first, and each request says which leads were merged into what, and why.
    """
    from ._config import resolve_defaults
    from ._input import InputRecord
    from ._merge import OnAmbiguous, OnMatch
    from ._pipeline import MergePolicy, Mode, Pipeline, violations_of
    from ._plan_document import PlanDocumentWriter

    state = _state(ctx)
    backend = state.backend(backend_name)
    mode = Mode.LENIENT if lenient else Mode.STRICT
    err = sys.stderr
    invalid = 0
    resolved = _settings(backend, settings, config)
    # No report: the records' input columns are not built.
    records = _records(state, file, fmt, sources=False)
    with contextlib.ExitStack() as stack:
        client: Client | None = None
        policy: MergePolicy | None = None
        if on_match is not None:
            client, resolved, _emulated = stack.enter_context(
                _client(backend, config, resolved, emulator_seed)
            )
            policy = MergePolicy(OnMatch(on_match), OnAmbiguous(on_ambiguous))
        else:
            resolved = _emulated_settings(backend, config, resolved, emulator_seed)
        pipeline = Pipeline(
            backend,
            resolved,
            mode=mode,
            merge=policy,
            client=client,
            workers=backend.limits.max_concurrency,
            defaults=resolve_defaults(backend, flags=defaults, config=config),
        )
        # All or nothing: the document is spooled and written only once every window planned.
        writer = stack.enter_context(PlanDocumentWriter(backend, sys.stdout))
        state.set_up()
        for window in pipeline.windows(records):
            for record in window.invalid:
                invalid += 1
                _report_invalid(err, file, record)
            for refusal in window.refused:
                invalid += 1
                refused = InputRecord(
                    refusal.item.line or 0,
                    None,
                    violations_of(refusal),
                    refusal.item.conversion.lead_id,
                )
                _report_invalid(err, file, refused)
            writer.add(window.plan, window.notes)
            for warning in window.plan.warnings:
                _report_warning(err, file, warning)
        writer.finish()
    if invalid:
        err.write(f"{invalid} conversion(s) left out of the plan\n")
    ctx.exit(EXIT_FAILED if invalid else EXIT_OK)


@cli.command()
@_backend_option
@_file_argument
@click.pass_context
def parse(ctx: click.Context, backend_name: str, file: Path) -> None:
    """Print the neutral conversions (JSON Lines) of a backend's native requests in FILE.

    FILE is a plan (as `plan` prints it), one request of a plan, or a bare native body as the
    CRM's own clients send it (a Zoho convert body, a Salesforce SOAP envelope...).
    """
    from ._exceptions import InputError
    from ._json import dumps_json
    from ._plan_document import read_native

    state = _state(ctx)
    backend = state.backend(backend_name)
    try:
        payload = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file}: {exc}") from exc
    for conversion in backend.parse_native(read_native(payload)):
        click.echo(dumps_json(state.converter.unstructure(conversion)))


@cli.command()
@click.argument("backend_name", metavar="BACKEND")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=int, help="Port to listen on (default: any free one).")
@click.option(
    "--seed",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="JSON fixture to seed the emulated CRM with (default: the backend's sample data).",
)
@click.pass_context
def sandbox(ctx: click.Context, backend_name: str, host: str, port: int, seed: Path | None) -> None:
    """Run a backend's emulator until interrupted, and print how to connect to it."""
    backend = _state(ctx).backend(backend_name)
    emulator = backend.emulator(seed=seed, host=host, port=port)
    emulator.start()
    try:
        click.echo(f"{backend.name} emulator listening on {emulator.base_url}")
        prefix = f"LEADCONVERT_{backend.name.upper()}_"
        for key, value in {**emulator.credentials(), **emulator.settings()}.items():
            click.echo(f"export {prefix}{key.upper()}={value}")
        click.echo("Press Ctrl-C to stop.")
        threading.Event().wait()
    finally:
        emulator.stop()


@contextlib.contextmanager
def _client(
    backend: Backend, config: Path | None, settings: dict[str, str], seed: Path | None
) -> Iterator[tuple[Client, dict[str, str], bool]]:
    """A client on the real CRM when credentials are given, else on the backend's emulator.

    Also yields the settings in force (the emulated org's own, its module ids..., fill in what
    the user did not set) and whether the client is on an emulator started for this command.
    """
    from ._api import connect
    from ._config import env_name

    with connect(backend, settings=settings, config=config, seed=seed) as session:
        emulator = session.emulator
        if emulator is not None:
            names = ", ".join(env_name(backend, n) for n in backend.credential_names) or "none"
            notice = (
                f"NO CREDENTIALS GIVEN: using the {backend.name} EMULATOR at "
                f"{emulator.base_url}; nothing is sent to a real CRM."
            )
            advice = f"Set {names} (or --config) to use your CRM."
            console = _terminal_console()
            if console is None:
                click.echo(f"{notice}\n{advice}", err=True)
            else:
                console.print(f"[bold yellow]{notice}[/]\n{advice}", highlight=False)
        yield session.client, dict(session.settings), emulator is not None


def _terminal_console() -> Console | None:
    """A rich console on stderr when stderr is a terminal (or ``FORCE_COLOR`` or
    ``TTY_COMPATIBLE=1`` asks for one: rich itself decides then); None for a log or a pipe,
    which get plain lines and no rich import."""
    asked = os.environ.get("FORCE_COLOR") is not None or os.environ.get("TTY_COMPATIBLE") == "1"
    if not asked and not _isatty(sys.stderr):
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def _count_records(path: Path) -> int | None:
    try:
        with path.open("rb") as stream:
            lines = sum(1 for line in stream if line.strip())
    except OSError:
        return None
    return lines - 1 if path.suffix.lower() == ".csv" else lines


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
@_backend_option
@_lenient_option
@_format_option
@set_option
@default_option
@_config_option
@_seed_option
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report, one row per lead: .csv for CSV, else JSON Lines (default: STEM.report.jsonl).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite journal that makes runs resumable (default: next to the report).",
)
@_on_match_option
@_on_ambiguous_option
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Calls in flight.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first invalid or failed lead.")
@click.option("--dry-run", is_flag=True, help="Only print the plan (the same as `plan`).")
@_file_argument
@click.pass_context
def convert(
    ctx: click.Context,
    backend_name: str,
    lenient: bool,
    fmt: str | None,
    settings: tuple[str, ...],
    defaults: tuple[str, ...],
    config: Path | None,
    emulator_seed: Path | None,
    report: Path | None,
    journal: Path | None,
    on_match: str | None,
    on_ambiguous: str,
    concurrency: int | None,
    fail_fast: bool,
    dry_run: bool,
    file: Path,
) -> None:
    """Convert every lead in FILE, journaled and resumable; one report row per lead.

    Without credentials the backend's emulator is used, and says so. Running the same command
    again resumes: converted leads are skipped and leads whose call was cut off are checked
    against the CRM before anything is re-sent. (On its own emulator, whose state ends with the
    run, the same command starts over: an earlier run's journal is started afresh.) Exit 0 when
    every lead is converted, 1 when some are not (each is in the report), 2 on usage errors, 3
    when the CRM refuses the credentials.
    """
    if dry_run:
        ctx.invoke(
            plan,
            backend_name=backend_name,
            lenient=lenient,
            fmt=fmt,
            settings=settings,
            defaults=defaults,
            config=config,
            emulator_seed=emulator_seed,
            on_match=on_match,
            on_ambiguous=on_ambiguous,
            file=file,
        )
        return
    from ._config import resolve_defaults
    from ._merge import OnAmbiguous, OnMatch
    from ._pipeline import Mode
    from ._progress import PlainProgress, RichProgress, print_plain_summary, print_summary
    from ._runner import RunOptions, convert_file, default_paths

    state = _state(ctx)
    backend = state.backend(backend_name)
    parsed = _settings(backend, settings, config)
    report_path, journal_path = default_paths(file, report, journal)
    options = RunOptions(
        mode=Mode.LENIENT if lenient else Mode.STRICT,
        concurrency=concurrency,
        fail_fast=fail_fast,
        on_match=OnMatch(on_match) if on_match else None,
        on_ambiguous=OnAmbiguous(on_ambiguous),
        defaults=resolve_defaults(backend, flags=defaults, config=config),
    )
    records = _records(state, file, fmt)
    console = _terminal_console()

    def on_invalid(record: InputRecord) -> None:
        _report_invalid(sys.stderr, file, record)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with _client(backend, config, parsed, emulator_seed) as (client, parsed, emulated):
            total = _count_records(file)
            progress: RichProgress | PlainProgress = (
                RichProgress(console, total)
                if console is not None
                else PlainProgress(sys.stderr, total)
            )
            state.set_up()
            with progress:
                summary = convert_file(
                    backend,
                    client,
                    records,
                    report=report_path,
                    journal=journal_path,
                    settings=parsed,
                    options=options,
                    progress=progress,
                    on_invalid=on_invalid,
                    emulated=emulated,
                )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if console is not None:
        print_summary(console, summary, str(report_path), str(journal_path))
    else:
        print_plain_summary(sys.stderr, summary, str(report_path), str(journal_path))
    if summary.interrupted:
        code = EXIT_INTERRUPTED
    elif summary.aborted:
        code = EXIT_UNREACHABLE
    else:
        code = EXIT_OK if summary.succeeded else EXIT_FAILED
    if wants_json():
        echo_json(run_summary_json(summary, report_path, journal_path, code))
    if summary.interrupted:
        click.echo("interrupted: run the same command again to resume", err=True)
    elif summary.aborted:
        _fail(summary.aborted, code)
    ctx.exit(code)


@cli.command()
@_backend_option
@_config_option
@set_option
@_seed_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("lead_id")
@click.pass_context
def match(
    ctx: click.Context,
    backend_name: str,
    config: Path | None,
    settings: tuple[str, ...],
    emulator_seed: Path | None,
    as_json: bool,
    lead_id: str,
) -> None:
    """Show the existing contacts, accounts and deals that match LEAD_ID."""
    state = _state(ctx)
    backend = state.backend(backend_name)
    parsed = _settings(backend, settings, config)
    with _client(backend, config, parsed, emulator_seed) as (client, _, _emulated):
        found = client.match(lead_id)
    if as_json:
        from ._json import dumps_json

        click.echo(dumps_json(state.converter.unstructure_any(found), indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # CRM data and argv are text, never rich markup: "[/]" in a record's name must not crash.
    table = Table(title=Text(safe_text(f"records matching lead {lead_id}")))
    for heading in ("module", "id", "name", "matched on", "account", "usable"):
        # Ids are copied from here into conversions: never cut them.
        table.add_column(heading, no_wrap=heading in ("id", "account"))
    for candidate in (*found.contacts, *found.accounts, *found.deals):
        cells = (
            candidate.module.value,
            candidate.id,
            candidate.name or "",
            ", ".join(f"{m.field}={m.lead_value}" for m in candidate.matched_fields),
            candidate.account_id or "",
            "yes" if candidate.usable else "no",
        )
        table.add_row(*(Text(safe_text(cell)) for cell in cells))
    console = Console(width=max(Console().width, 140))
    console.print(table)
    preferred = found.preferred_module.value if found.preferred_module else "none"
    console.print(f"preferred module: {preferred}")


@cli.command()
@_backend_option
@_config_option
@set_option
@click.argument("job_id")
@click.pass_context
def status(
    ctx: click.Context,
    backend_name: str,
    config: Path | None,
    settings: tuple[str, ...],
    job_id: str,
) -> None:
    """Show the state of an asynchronous CRM job (a Zoho mass convert) as JSON."""
    backend = _state(ctx).backend(backend_name)
    parsed = _settings(backend, settings, config)
    from ._json import dumps_json

    with _client(backend, config, parsed, None) as (client, _, _emulated):
        click.echo(dumps_json(dict(client.job_status(job_id)), indent=2))


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"leadconvert: error: {safe_text(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """The ``leadconvert`` console script."""
    # The cyclic garbage collector: reading and planning allocate many small objects per line,
    # and collecting generation 0 every 700 allocations (Python's default) made the collector
    # scan them again and again (10-25% of a plan's CPU). The command line (never the library)
    # freezes what start-up made and collects generation 0 every 50,000 allocations; cycles are
    # still collected, so memory stays bounded.
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    _freeze_at_exit()
    try:
        _run(argv)
    finally:
        # main() called in a process of its own leaves it on sys.exit; tests call it in theirs.
        gc.set_threshold(*threshold)
        gc.unfreeze()


@functools.cache
def _freeze_at_exit() -> None:
    """At the interpreter's exit, leave everything to reference counting.

    Exiting, Python runs one last cyclic collection over every object left (every module's
    functions, classes and constants: about 25 ms of a command's CPU, more than its own start
    for a small plan). Frozen objects are skipped; they are freed as the modules are cleared,
    as they always are, and the command has closed its files itself. Registered once, when
    the command line first runs (never by the library).
    """
    atexit.register(gc.freeze)


def _run(argv: list[str] | None) -> None:
    # Nothing is loaded yet: a backend's plugin when the command asks for the backend, every
    # plugin when a command needs them all (their commands for --help, `backends`), and a
    # broken plugin or a name registered twice is an error (exit 2) then.
    try:
        code = cli.main(
            args=argv, prog_name="leadconvert", standalone_mode=False, obj=_State(lazy_registry())
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except (click.Abort, KeyboardInterrupt):
        click.echo("leadconvert: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `leadconvert plan ... | head` closes our stdout early; that is not an error.
        os._exit(EXIT_OK)
    except Exception as exc:
        # One policy (leadconvert._exceptions.exit_code_for): 2 usage, input, configuration or
        # local state; 3 the CRM cannot be used; 1 the CRM refused what was asked; 70 a bug.
        label, message, code = describe_error(exc)
        if code == EXIT_INTERNAL and os.environ.get("LEADCONVERT_DEBUG"):
            raise
        click.echo(f"leadconvert: {label}: {message}", err=True)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


cli.add_command(translate_command)
install_cli_options(cli)
