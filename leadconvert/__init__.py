"""leadconvert: describe a lead conversion once, in CRM-neutral terms, and carry it out on any CRM.

The neutral model (``Conversion`` and its targets), its results, the exception tree, and the
functions to read, check and plan conversions are importable from here. Backend authors also
use ``leadconvert.backend`` and ``leadconvert.hookspecs``.
"""

from . import hookspecs
from ._exceptions import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    DuplicateBackendError,
    InputError,
    LeadConvertError,
    PluginError,
    ProtocolError,
    RateLimitedError,
    RequestTimeout,
    ServerError,
    TransportError,
    UnknownBackendError,
    ValidationError,
)
from ._input import CSV_COLUMNS, InputFormat, InputRecord, read_records
from ._json import NeutralConverter, dumps_json, loads_json
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
from ._planner import Checked, Mode, PlanWindow, check, plan_records
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
from ._schema import conversion_schema
from ._translate import Translation, translate

__version__ = "0.1.0"

__all__ = [
    "CSV_COLUMNS",
    "AccountTarget",
    "AttachOpportunity",
    "AuthenticationError",
    "BackendError",
    "BackendOptions",
    "CarryOverTags",
    "Checked",
    "ConfigurationError",
    "ContactTarget",
    "Conversion",
    "ConversionError",
    "ConversionResult",
    "CreateAccount",
    "CreateContact",
    "CreateOpportunity",
    "DuplicateBackendError",
    "ErrorCode",
    "FollowUp",
    "InputError",
    "InputFormat",
    "InputRecord",
    "LeadConvertError",
    "MatchCandidate",
    "MatchReport",
    "MatchedField",
    "MergeAccount",
    "MergeContact",
    "MergePersonAccount",
    "Mode",
    "Module",
    "NeutralConverter",
    "NoOpportunity",
    "OpportunityTarget",
    "Outcome",
    "PlanWindow",
    "PluginError",
    "ProtocolError",
    "RateLimitedError",
    "Registry",
    "RequestTimeout",
    "ServerError",
    "Translation",
    "TransportError",
    "UnknownBackendError",
    "ValidationError",
    "Violation",
    "__version__",
    "check",
    "conversion_schema",
    "dumps_json",
    "hookspecs",
    "load_registry",
    "loads_json",
    "make_plugin_manager",
    "plan_records",
    "read_records",
    "translate",
]
