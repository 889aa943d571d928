"""The contract between the core and a backend (built-in or third-party).

A backend is a ``Backend`` subclass registered through the ``leadconvert_register_backends``
hook. The core hands it validated neutral conversions and asks it for:

* its declared **limits** and **capabilities** (the capability matrix is generated from them);
* ``validate``: pure, every violation of one conversion at once;
* ``plan``: pure, the exact native requests, batched at the CRM's limits;
* ``read_answer``: pure, a CRM answer read back into neutral results;
* ``parse_native``: a native payload parsed back into neutral conversions;
* ``connect``: a ``Client`` that executes planned calls over the real transport;
* ``emulator``: a local, stateful stand-in for the CRM.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar

from attrs import field, frozen

from ._exceptions import PluginError
from ._model import BackendOptions, Conversion
from ._results import ConversionResult, MatchReport, Violation
from ._retry import backoff_delay, retry_after


def _frozen_strings(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


def _frozen_capabilities(mapping: Mapping[str, Capability]) -> Mapping[str, Capability]:
    return MappingProxyType(dict(mapping))


__all__ = [
    "MEANINGS",
    "Backend",
    "BackendPlan",
    "Capability",
    "CapabilityColumn",
    "Client",
    "Emulator",
    "Limits",
    "NativeAnswer",
    "NativeRequest",
    "PlanItem",
    "PlanWarning",
    "PlannedCall",
    "Secret",
    "Support",
    "backoff_delay",
    "retry_after",
    "unsupported",
    "violation",
]

#: The meanings of ``mapping.md``, in its order: the rows of the capability matrix.
MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "lead": "lead to convert",
        "account.merge": "account: merge into existing id",
        "account.create": "account: create from the lead (default)",
        "contact.merge": "contact: merge into existing id",
        "contact.create": "contact: create from the lead (default)",
        "account.person": "person account (merge into)",
        "opportunity.none": "opportunity: none (default)",
        "opportunity.create": "opportunity: create, with name",
        "opportunity.attach": "opportunity: attach existing id",
        "owner": "owner of new records",
        "notify_lead_owner": "notify the lead owner",
        "notify_new_owner": "notify the new owner",
        "overwrite_account_name": "overwrite the account name with the lead's company",
        "overwrite_lead_source": "overwrite the contact's lead source",
        "converted_status": "converted lead status",
        "move_attachments_to": "move attachments to Contacts, Accounts or Deals",
        "carry_over_tags": "carry tags over to Contacts / Accounts / Deals",
        "options": "backend-only options",
    }
)


class Support(enum.Enum):
    """How a backend expresses one meaning."""

    #: Sent in the conversion call itself.
    NATIVE = "native"
    #: The CRM does it by default when the option is left out.
    DEFAULT = "default"
    #: Applied by a further call after the conversion, reported per lead.
    FOLLOW_UP = "follow-up"
    #: Has no meaning on this CRM; accepted and ignored (documented, and warned in the plan).
    IGNORED = "ignored"
    #: Cannot be expressed: a violation in strict mode, a warning in lenient mode.
    REJECTED = "reject"


@frozen
class Capability:
    """How one column of a backend expresses one meaning."""

    support: Support
    #: The wire key(s) or a short phrase, e.g. ``Accounts: {id}``.
    wire: str = ""
    note: str = ""


@frozen
class CapabilityColumn:
    """One way a backend converts (e.g. Zoho single convert) and what it can express."""

    title: str
    entries: Mapping[str, Capability] = field(converter=_frozen_capabilities)

    def __attrs_post_init__(self) -> None:
        unknown = set(self.entries) - set(MEANINGS)
        if unknown:
            raise PluginError(f"capability column {self.title!r} names unknown meanings {unknown}")


@frozen
class Limits:
    """What a backend's CRM allows per call and at once."""

    #: Most leads one call carries.
    max_batch: int
    #: Most calls in flight at once that the CRM tolerates for conversions.
    max_concurrency: int
    notes: tuple[str, ...] = ()


@frozen(repr=False)
class Secret:
    """A credential: its value never appears in a repr, a log line, an error or a plan."""

    _value: str = field(alias="value")

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@frozen
class NativeRequest:
    """One exact request to a CRM, relative to its API base.

    ``json`` holds a JSON-ready body (amounts as ``Decimal``, written as exact numbers);
    ``body`` holds a text body (XML). Exactly one or neither is set.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(factory=dict, converter=_frozen_strings)
    json: Any = None
    body: str | None = None
    headers: Mapping[str, str] = field(factory=dict, converter=_frozen_strings)

    def __attrs_post_init__(self) -> None:
        if self.json is not None and self.body is not None:
            raise ValueError("a request carries a JSON body or a text body, not both")

    def to_dict(self) -> dict[str, Any]:
        """The plan's JSON form of the request."""
        out: dict[str, Any] = {"method": self.method, "path": self.path, "query": dict(self.query)}
        if self.json is not None:
            out["json"] = self.json
        if self.body is not None:
            out["body"] = self.body
        return out


@frozen
class PlanItem:
    """A valid conversion handed to ``plan``, with the input line it came from."""

    conversion: Conversion
    line: int | None = None


@frozen
class PlannedCall:
    """One call of a plan: the request, the leads it carries, and why it was planned so."""

    request: NativeRequest
    lead_ids: tuple[str, ...]
    #: The backend's name for the kind of call, e.g. ``mass_convert`` or ``convertLead``.
    kind: str
    reason: str = ""
    #: Index, in the same plan, of the call this one must follow (e.g. a follow-up update of
    #: the records a conversion created). It runs only for the leads that call converted, and
    #: its outcome is folded into theirs as ``follow_ups``.
    after: int | None = None


@frozen
class PlanWarning:
    """Something the plan will not do as asked, recorded against the lead it concerns."""

    lead_id: str
    violation: Violation
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan's JSON form of the warning."""
        return {
            "line": self.line,
            "lead_id": self.lead_id,
            "rule": self.violation.rule,
            "path": self.violation.path,
            "message": self.violation.message,
            "backend": self.violation.backend,
        }


@frozen
class BackendPlan:
    """What ``Backend.plan`` returns: the calls in order, and the backend's own warnings."""

    calls: tuple[PlannedCall, ...]
    warnings: tuple[PlanWarning, ...] = ()


@frozen
class NativeAnswer:
    """A CRM's answer to one request, as received."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(factory=dict, converter=_frozen_strings)


class Client(abc.ABC):
    """A connection to one CRM that carries out planned calls.

    Clients never let their transport's exceptions escape: they raise ``BackendError``
    subclasses, or record the failure in the lead's ``ConversionResult``.
    """

    @abc.abstractmethod
    def execute(
        self, call: PlannedCall, *, call_index: int | None = None
    ) -> list[ConversionResult]:
        """Send one planned call and return one result per lead it carried, in order."""

    @abc.abstractmethod
    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        """Establish from the CRM's own state whether each lead is converted, and into what.

        One result per id, in order: ``CONVERTED`` or ``ALREADY_CONVERTED`` with the record ids
        when the CRM shows the lead converted; ``NOT_ATTEMPTED`` when it shows the lead not
        converted (so it is safe to send); ``FAILED`` when the lead does not exist; ``UNKNOWN``
        when the CRM cannot tell. The runner relies on this before re-sending anything.
        """

    @abc.abstractmethod
    def match(self, lead_id: str) -> MatchReport:
        """The existing records that match a lead, as the CRM ranks them."""

    def job_status(self, job_id: str) -> Mapping[str, Any]:
        """The state of an asynchronous CRM job (a Zoho mass convert), as the CRM reports it."""
        raise PluginError(f"{type(self).__name__} has no asynchronous jobs")

    def close(self) -> None:  # noqa: B027 - optional for clients that hold nothing
        """Release connections."""

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Emulator(abc.ABC):
    """A stateful stand-in for a CRM, served on 127.0.0.1."""

    @property
    @abc.abstractmethod
    def base_url(self) -> str:
        """Where the emulator listens, e.g. ``https://127.0.0.1:8443``."""

    @abc.abstractmethod
    def credentials(self) -> Mapping[str, str]:
        """Credentials that ``Backend.connect`` accepts for this emulator."""

    def settings(self) -> Mapping[str, str]:
        """Settings this emulated CRM needs beyond the defaults (e.g. its module ids)."""
        return {}

    @abc.abstractmethod
    def start(self) -> None:
        """Start serving in a background thread."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop serving."""

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Backend(abc.ABC):
    """A CRM that leadconvert can convert leads on."""

    #: The name users pass to ``--backend`` and use under ``options.<name>``.
    name: ClassVar[str]
    #: A one-line description for ``leadconvert backends``.
    description: ClassVar[str] = ""
    limits: ClassVar[Limits]
    capabilities: ClassVar[tuple[CapabilityColumn, ...]]
    #: The typed options this backend accepts under ``options.<name>``, if any.
    options_type: ClassVar[type[BackendOptions] | None] = None
    #: Settings ``plan`` and ``connect`` accept (e.g. the API version), name -> description.
    settings: ClassVar[Mapping[str, str]] = MappingProxyType({})
    #: Credential names ``connect`` reads, name -> description (env vars are upper-cased and
    #: prefixed with ``LEADCONVERT_<NAME>_``).
    credential_names: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def canonical_lead_id(self, lead_id: str) -> str:
        """The one spelling of a lead id, so the journal sees ``x`` and its alias as one lead.

        Salesforce, for instance, accepts a 15- and an 18-character form of the same id.
        """
        return lead_id

    def options_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of ``options.<name>``, for ``leadconvert schema``."""
        return None

    @abc.abstractmethod
    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every rule of this CRM the conversion breaks (pure)."""

    @abc.abstractmethod
    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """The exact native requests for valid conversions, batched at this CRM's limits (pure)."""

    @abc.abstractmethod
    def read_answer(self, call: PlannedCall, answer: NativeAnswer) -> list[ConversionResult]:
        """One neutral result per lead of ``call``, read from the CRM's answer (pure)."""

    @abc.abstractmethod
    def parse_native(self, payload: str) -> list[Conversion]:
        """The neutral conversions a native request payload expresses."""

    @abc.abstractmethod
    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client for a real (or emulated) CRM."""

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A local emulator of this CRM, seeded from a JSON fixture."""
        raise PluginError(f"backend {self.name!r} ships no emulator")

    def capability(self, meaning: str) -> Iterator[tuple[str, Capability]]:
        """This backend's support for ``meaning`` in each of its columns."""
        for column in self.capabilities:
            if meaning in column.entries:
                yield column.title, column.entries[meaning]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend {self.name!r}>"


def unsupported(rule: str, path: str, message: str, backend: str) -> Violation:
    """A violation for an option ``backend`` cannot express (strict rejects, lenient warns)."""
    return Violation(rule=rule, path=path, message=message, backend=backend, unsupported=True)


def violation(rule: str, path: str, message: str, backend: str) -> Violation:
    """A violation of a rule of ``backend``'s CRM."""
    return Violation(rule=rule, path=path, message=message, backend=backend)
