"""The Python API: everything the command line does, as functions.

Each function goes through the same pipeline, plan document and runner as the command of the
same name; a backend may be given as a ``Backend`` or by its installed name.

    import leadconvert as lc

    checked = lc.validate("leads.jsonl", "zoho")
    shown = lc.plan("leads.jsonl", "zoho", settings={"api_version": "v7"})
    with lc.connect("zoho") as session:           # no credentials: the emulator
        summary = lc.convert("leads.jsonl", session, report="leads.report.jsonl")
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from ._check import Mode
from ._config import env_name, load_credentials, resolve_settings
from ._defaults import Defaults
from ._exceptions import ConfigurationError, PluginError
from ._input import InputFormat, InputRecord, read_records
from ._json import NeutralConverter
from ._model import Conversion
from ._pipeline import MergePolicy, Pipeline, Refusal
from ._plugins import Registry, lazy_registry
from ._results import Outcome
from ._runner import ProgressSink, RunOptions, RunSummary, convert_file, default_paths
from .backend import Backend, BackendPlan, Client, Emulator, PlanWarning

__all__ = [
    "Plan",
    "Session",
    "Validation",
    "connect",
    "convert",
    "plan",
    "start_emulator",
    "validate",
]

#: Where conversions come from: a JSON Lines or CSV file, or conversions already built.
Source = str | Path | Iterable[Conversion]


@functools.cache
def _registry() -> Registry:
    # A backend's plugin is loaded when the backend is first named, as on the command line.
    return lazy_registry()


def _backend(backend: Backend | str) -> Backend:
    return backend if isinstance(backend, Backend) else _registry().get(backend)


def _converter(registry: Registry) -> NeutralConverter:
    converter = NeutralConverter({})
    # Each backend is loaded when a record first names it in `options`.
    converter.option_types = registry.option_types()
    return converter


def _records(source: Source, fmt: InputFormat | None) -> Iterator[InputRecord]:
    if isinstance(source, str | Path):
        return read_records(Path(source), _converter(_registry()), fmt)
    return (
        InputRecord(line, conversion, (), conversion.lead_id)
        for line, conversion in enumerate(source, 1)
    )


@frozen
class Validation:
    """What ``validate`` found: how many records it read, which are invalid, and the warnings."""

    total: int
    invalid: tuple[InputRecord, ...]
    warnings: tuple[PlanWarning, ...]

    @property
    def ok(self) -> bool:
        """No record breaks a rule."""
        return not self.invalid


def validate(
    source: Source,
    backend: Backend | str,
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
    fmt: InputFormat | None = None,
    defaults: Defaults | None = None,
) -> Validation:
    """Check every conversion of ``source`` (and the settings) against ``backend``'s rules.

    ``settings`` are used as given; ``resolve_settings`` gives those the command line would use.
    Raises ``ConfigurationError`` for bad settings and ``InputError`` for an unreadable file.
    """
    pipeline = Pipeline(_backend(backend), settings, mode=mode, defaults=defaults)
    total = 0
    invalid: list[InputRecord] = []
    warnings: list[PlanWarning] = []
    records = _records(source, fmt)
    while chunk := list(itertools.islice(records, pipeline.window)):
        total += len(chunk)
        checked = pipeline.check(chunk)
        invalid.extend(checked.invalid)
        warnings.extend(checked.warnings)
    return Validation(total, tuple(invalid), tuple(warnings))


@frozen
class Plan:
    """What ``plan`` made of a source: the backend's plan and what was left out of it."""

    backend: Backend
    plan: BackendPlan
    #: Records that could not be read or break a rule.
    invalid: tuple[InputRecord, ...]
    #: Leads the merge policy kept out of the plan, with the result it reports for each.
    refused: tuple[Refusal, ...] = ()
    #: What the merge policy did with each planned lead (canonical lead id -> reason).
    notes: Mapping[str, str] = {}

    def document(self) -> dict[str, Any]:
        """The plan as the JSON document ``leadconvert plan`` prints."""
        # Imported here: connecting (what `convert` needs of this module) writes no document.
        from ._plan_document import plan_document

        return plan_document(self.backend, self.plan, self.notes)


def plan(
    source: Source,
    backend: Backend | str,
    *,
    settings: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
    merge: MergePolicy | None = None,
    client: Client | None = None,
    fmt: InputFormat | None = None,
    defaults: Defaults | None = None,
) -> Plan:
    """The exact requests ``source``'s conversions need on ``backend``, in memory.

    With ``merge`` (and a ``client`` to ask), existing records are looked for first and the
    merge policy applied; ``defaults`` fill target fields the conversions leave unset. For
    input too large to hold, stream ``Pipeline(...).windows(...)``.
    """
    chosen = _backend(backend)
    pipeline = Pipeline(
        chosen,
        settings,
        mode=mode,
        merge=merge,
        client=client,
        workers=chosen.limits.max_concurrency,
        defaults=defaults,
    )
    # One window: the whole source is planned together, batched at the backend's limits.
    window = pipeline.plan_window(list(_records(source, fmt)))
    return Plan(chosen, window.plan, window.invalid, window.refused, dict(window.notes))


@frozen
class Session:
    """A client on a CRM (or on its emulator), with the settings it was made with."""

    backend: Backend
    client: Client
    settings: Mapping[str, str]
    #: The emulator the client talks to when no credentials were given, else ``None``.
    emulator: Emulator | None = None


def start_emulator(backend: Backend | str, *, seed: Path | None = None) -> Emulator:
    """``backend``'s emulator, started on 127.0.0.1 (stop it with ``stop()`` or ``with``)."""
    emulator = _backend(backend).emulator(seed=seed)
    emulator.start()
    return emulator


@contextlib.contextmanager
def connect(
    backend: Backend | str,
    *,
    credentials: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
    config: Path | None = None,
    seed: Path | None = None,
) -> Iterator[Session]:
    """A session on ``backend``'s CRM, closed on exit.

    Credentials are ``credentials``, else those of the environment and ``config`` (as the
    command line reads them). With none at all the backend's emulator is started and used, and
    the emulated org's own settings fill in what ``settings`` leaves unset; a backend that
    declares no credential names is connected with none. Raises ``ConfigurationError`` when
    credentials are needed and the backend ships no emulator.
    """
    chosen = _backend(backend)
    given = dict(credentials) if credentials else load_credentials(chosen, config)
    resolved = dict(settings) if settings is not None else resolve_settings(chosen, config=config)
    with contextlib.ExitStack() as stack:
        emulator: Emulator | None = None
        if not given and chosen.credential_names:
            try:
                emulator = chosen.emulator(seed=seed)
            except PluginError as exc:
                names = ", ".join(env_name(chosen, n) for n in chosen.credential_names)
                raise ConfigurationError(
                    f"no credentials given for {chosen.name!r}, and it ships no emulator to "
                    f"run on instead: set {names} (or give a config file)"
                ) from exc
            emulator.start()
            stack.callback(emulator.stop)
            given = dict(emulator.credentials())
            resolved = {**emulator.settings(), **resolved}
        client = chosen.connect(given, resolved)
        stack.callback(client.close)
        yield Session(chosen, client, resolved, emulator)


class _Callback:
    """A progress sink that calls a function with each lead's outcome."""

    def __init__(self, function: Callable[[Outcome], None]) -> None:
        self.function = function

    def advance(self, outcome: Outcome) -> None:
        self.function(outcome)


def convert(
    source: str | Path | Sequence[Conversion],
    session: Session,
    *,
    report: str | Path | None = None,
    journal: str | Path | None = None,
    options: RunOptions | None = None,
    progress: ProgressSink | Callable[[Outcome], None] | None = None,
    fmt: InputFormat | None = None,
) -> RunSummary:
    """Convert every lead of ``source`` through ``session``, journaled and resumable.

    The same call again with the same journal resumes: converted leads are reported, not
    re-sent; leads whose call was cut off are checked against the CRM first. On a session's own
    emulator (no credentials), whose state ends with the session, a journal that another such
    session wrote is started afresh instead. ``report`` and
    ``journal`` default to files next to ``source`` (required when ``source`` is not a file).
    ``options`` carries the mode, concurrency, ``--fail-fast`` and the merge policy;
    ``progress`` is called (or ``advance``d) with each lead's outcome.
    """
    if isinstance(source, str | Path):
        report_path, journal_path = default_paths(
            Path(source),
            Path(report) if report else None,
            Path(journal) if journal else None,
        )
    else:
        if report is None or journal is None:
            raise TypeError("give report= and journal= paths for conversions built in memory")
        report_path, journal_path = Path(report), Path(journal)
    sink: ProgressSink | None
    sink = _Callback(progress) if callable(progress) else progress
    return convert_file(
        session.backend,
        session.client,
        _records(source, fmt),
        report=report_path,
        journal=journal_path,
        settings=dict(session.settings),
        options=options,
        progress=sink,
        emulated=session.emulator is not None,
    )
