"""leadconvert: describe a lead conversion once, in CRM-neutral terms, and carry it out on any CRM.

Importable from here: the neutral model (``Conversion`` and its targets), its results, the
exception tree, the pipeline and plan document, and the Python API for everything the command
line does (``validate``, ``plan``, ``connect``, ``convert``, ``translate``, ``start_emulator``).
Backend authors also use ``leadconvert.backend``, ``leadconvert.hookspecs``,
``leadconvert.emulation`` and ``leadconvert.testing``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import hookspecs
    from ._api import Plan, Session, Validation, connect, convert, plan, start_emulator, validate
    from ._check import Checked, Mode, check
    from ._config import resolve_settings
    from ._defaults import DEFAULT_FIELDS, AppliedDefaults, Defaults
    from ._exceptions import (
        AuthenticationError,
        BackendError,
        ConfigurationError,
        DuplicateBackendError,
        EmptyInputError,
        InputError,
        LeadConvertError,
        LocalStateError,
        PluginError,
        ProtocolError,
        RateLimitedError,
        RequestTimeout,
        ServerError,
        TransportError,
        UnknownBackendError,
        UnreachableError,
        ValidationError,
    )
    from ._input import CSV_COLUMNS, InputFormat, InputRecord, read_records
    from ._json import NeutralConverter, dumps_json, loads_json
    from ._merge import OnAmbiguous, OnMatch
    from ._model import (
        AccountTarget,
        AttachOpportunity,
        BackendOptions,
        CarryOverTags,
        ContactTarget,
        Conversion,
        CreateAccount,
        CreateContact,
        CreateOpportunity,
        MergeAccount,
        MergeContact,
        MergePersonAccount,
        Module,
        NoOpportunity,
        OpportunityTarget,
    )
    from ._pipeline import (
        CheckedWindow,
        MergedWindow,
        MergePolicy,
        Pipeline,
        PlanWindow,
        Refusal,
        plan_records,
    )
    from ._plan_document import PlanDocument, plan_document, read_native, read_plan
    from ._plugins import Registry, load_registry, make_plugin_manager
    from ._results import (
        ConversionError,
        ConversionResult,
        ErrorCode,
        FollowUp,
        MatchCandidate,
        MatchedField,
        MatchReport,
        Outcome,
        Violation,
    )
    from ._runner import ProgressSink, RunOptions, RunSummary
    from ._schema import conversion_schema
    from ._translate import Translation, translate

    __version__: str

# Nothing is imported until it is used (PEP 562): ``import leadconvert`` and the plugins'
# ``from leadconvert import Conversion`` must not pull in the runner, the journal or rich, so
# that ``leadconvert --help`` and a plan of one backend start fast. Each public name is looked
# up in its submodule on first access, then kept in this module's namespace.
_SUBMODULE: dict[str, str] = {
    name: module
    for module, names in (
        ("_api", "Plan Session Validation connect convert plan start_emulator validate"),
        ("_check", "Checked Mode check"),
        ("_config", "resolve_settings"),
        ("_defaults", "DEFAULT_FIELDS AppliedDefaults Defaults"),
        (
            "_exceptions",
            "AuthenticationError BackendError ConfigurationError DuplicateBackendError "
            "EmptyInputError InputError LeadConvertError LocalStateError PluginError ProtocolError "
            "RateLimitedError RequestTimeout ServerError TransportError UnknownBackendError "
            "UnreachableError ValidationError",
        ),
        ("_input", "CSV_COLUMNS InputFormat InputRecord read_records"),
        ("_json", "NeutralConverter dumps_json loads_json"),
        ("_merge", "OnAmbiguous OnMatch"),
        (
            "_model",
            "AccountTarget AttachOpportunity BackendOptions CarryOverTags ContactTarget Conversion "
            "CreateAccount CreateContact CreateOpportunity MergeAccount MergeContact "
            "MergePersonAccount Module NoOpportunity OpportunityTarget",
        ),
        (
            "_pipeline",
            "CheckedWindow MergedWindow MergePolicy Pipeline PlanWindow Refusal plan_records",
        ),
        ("_plan_document", "PlanDocument plan_document read_native read_plan"),
        ("_plugins", "Registry load_registry make_plugin_manager"),
        (
            "_results",
            "ConversionError ConversionResult ErrorCode FollowUp MatchCandidate MatchedField "
            "MatchReport Outcome Violation",
        ),
        ("_runner", "ProgressSink RunOptions RunSummary"),
        ("_schema", "conversion_schema"),
        ("_translate", "Translation translate"),
    )
    for name in names.split()
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _SUBMODULE:
        value = getattr(importlib.import_module(f".{_SUBMODULE[name]}", __name__), name)
    elif name.isidentifier() and not name.startswith("__"):
        # A submodule (``leadconvert.backend``, ``leadconvert.hookspecs``...), as after an
        # eager ``import leadconvert``: imported on first access.
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leadconvert")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree never installed
        return "0+unknown"


__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_FIELDS",
    "AccountTarget",
    "AppliedDefaults",
    "AttachOpportunity",
    "AuthenticationError",
    "BackendError",
    "BackendOptions",
    "CarryOverTags",
    "Checked",
    "CheckedWindow",
    "ConfigurationError",
    "ContactTarget",
    "Conversion",
    "ConversionError",
    "ConversionResult",
    "CreateAccount",
    "CreateContact",
    "CreateOpportunity",
    "Defaults",
    "DuplicateBackendError",
    "EmptyInputError",
    "ErrorCode",
    "FollowUp",
    "InputError",
    "InputFormat",
    "InputRecord",
    "LeadConvertError",
    "LocalStateError",
    "MatchCandidate",
    "MatchReport",
    "MatchedField",
    "MergeAccount",
    "MergeContact",
    "MergePersonAccount",
    "MergePolicy",
    "MergedWindow",
    "Mode",
    "Module",
    "NeutralConverter",
    "NoOpportunity",
    "OnAmbiguous",
    "OnMatch",
    "OpportunityTarget",
    "Outcome",
    "Pipeline",
    "Plan",
    "PlanDocument",
    "PlanWindow",
    "PluginError",
    "ProgressSink",
    "ProtocolError",
    "RateLimitedError",
    "Refusal",
    "Registry",
    "RequestTimeout",
    "RunOptions",
    "RunSummary",
    "ServerError",
    "Session",
    "Translation",
    "TransportError",
    "UnknownBackendError",
    "UnreachableError",
    "Validation",
    "ValidationError",
    "Violation",
    "__version__",
    "check",
    "connect",
    "conversion_schema",
    "convert",
    "dumps_json",
    "hookspecs",
    "load_registry",
    "loads_json",
    "make_plugin_manager",
    "plan",
    "plan_document",
    "plan_records",
    "read_native",
    "read_plan",
    "read_records",
    "resolve_settings",
    "start_emulator",
    "translate",
    "validate",
]
