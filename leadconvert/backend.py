"""The contract between the core and a backend (built-in or third-party).

A backend is a ``Backend`` subclass registered through the ``leadconvert_register_backends``
hook. The core hands it validated neutral conversions and asks it for:

* its declared **limits** and **capabilities** (the capability matrix is generated from them);
* ``validate``: pure, every violation of one conversion at once;
* ``plan``: pure, the native requests, batched at the CRM's limits, as structured payloads;
* ``render``: pure, a planned request with its text body written out, for showing it;
* ``parse_native``: one native request (what ``plan`` shows for one call) parsed back into
  neutral conversions;
* ``canonical_id`` and ``example_id``: the CRM's id syntax, so the core never guesses it;
* ``check_settings``: settings problems, found before any record is read;
* ``connect``: a ``Client`` that executes planned calls over the real transport and reads the
  CRM's answers into neutral results;
* ``emulator`` (optional): a local, stateful stand-in for the CRM.

Everything here is called by the core; docs/plugins.md says when, and what happens when an
optional part is left out.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Self

from attrs import field, frozen

from ._exceptions import ConfigurationError, PluginError
from ._logging import remember_secret
from ._model import BackendOptions, Conversion, trusted_constructor
from ._results import ConversionResult, FollowUp, MatchReport, Violation
from ._retry import backoff_delay, retry_after

_NO_STRINGS: Mapping[str, str] = MappingProxyType({})


def _frozen_strings(mapping: Mapping[str, str]) -> Mapping[str, str]:
    # Most requests have no query or headers: they share one empty, read-only mapping.
    return MappingProxyType(dict(mapping)) if mapping else _NO_STRINGS


def _frozen_capabilities(mapping: Mapping[str, Capability]) -> Mapping[str, Capability]:
    return MappingProxyType(dict(mapping))


__all__ = [
    "ID_ROLES",
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
    "StepRecorder",
    "Support",
    "backoff_delay",
    "retry_after",
    "trusted_constructor",
    "unsupported",
    "violation",
]

#: The kinds of record a conversion names by id.
ID_ROLES: tuple[str, ...] = ("lead", "account", "contact", "opportunity", "user")

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
        "opportunity.create_unnamed": "opportunity: create, named by the CRM (no name given)",
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

    def __attrs_post_init__(self) -> None:
        # Known to the one redaction of logs, reports, the journal and error messages.
        remember_secret(self._value)

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
    ``body`` holds a text body (XML, multipart). At most one of them is set.

    ``content`` is the backend's own structured form of a body it renders as text (Salesforce's
    LeadConvert rows, say): planned once, read by the backend's client when it sends, and turned
    into ``body`` by ``Backend.render`` only when the plan is shown. It is never shown itself.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(factory=dict, converter=_frozen_strings)
    json: Any = None
    body: str | None = None
    headers: Mapping[str, str] = field(factory=dict, converter=_frozen_strings)
    content: Any = field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.json is not None and self.body is not None:
            raise ValueError("a request carries a JSON body or a text body, not both")

    def to_dict(self) -> dict[str, Any]:
        """The plan's JSON form of the request."""
        out: dict[str, Any] = {"method": self.method, "path": self.path, "query": dict(self.query)}
        if self.headers:
            # Shown because they change what is sent (a $batch boundary, a Prefer header).
            out["headers"] = dict(self.headers)
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


class StepRecorder:
    """The runner's journal, as a client sees it while it carries out one call.

    A client calls ``job_scheduled`` as soon as the CRM names the job that will convert the
    call's leads, before it polls the job: the id is in the journal when the method returns
    (written, and fsync'd with the run's next mark), so a run killed while the job runs polls
    that job on resume instead of sending its leads again (a power cut before that fsync
    leaves the leads in doubt: the resumed run asks the CRM about them).
    ``stopping`` turns true when the run is interrupted (Ctrl-C, SIGTERM): a client polling a
    journaled job then returns at once with the leads ``SCHEDULED`` (and the job id), and the
    next run picks the job up with ``Client.resume_job``. Thread-safe. This base class records
    nothing (for calls made outside a run).
    """

    def job_scheduled(self, job_id: str, lead_ids: Sequence[str]) -> None:
        """The CRM scheduled job ``job_id`` to convert ``lead_ids`` (journaled at once)."""

    @property
    def stopping(self) -> bool:
        """The run is stopping: do not wait for a journaled job to end."""
        return False

    def converted(self, lead_id: str) -> ConversionResult | None:
        """The result of the conversion a follow-up call follows, for one of its leads.

        The runner holds it until the lead's follow-ups are done (the records the conversion
        created, e.g. the opportunity to update), so a client keeps no copy of its own.
        ``None`` outside a run, or for a lead the run does not hold: read the CRM instead
        (``lookup``).
        """
        return None


class Client(abc.ABC):
    """A connection to one CRM that carries out planned calls.

    Clients never let their transport's exceptions escape: they raise ``BackendError``
    subclasses, or record the failure in the lead's ``ConversionResult``.

    What a resumable run needs from a client (see docs/plugins.md, "Journaled steps"):

    * ``org_identity``: which org and API host it talks to; a journal belongs to one.
    * ``execute(..., steps=...)``: a ``StepRecorder`` to journal a scheduled job's id before
      polling it.
    * ``resume_job``: finish a journaled job (poll it to its end, bounded) and read its leads.
    * ``resolve_in_doubt``: the state of leads whose call may still take effect, waiting at
      most the bound the backend documents before calling a lead safe to send again.
    * ``check_follow_up``: whether a follow-up whose send was cut off was applied.
    """

    def org_identity(self) -> str:
        """Which org this client talks to: the CRM's org or instance id and the API host
        (an emulator included, e.g. ``00D...@127.0.0.1:8443``). A journal records it and
        refuses to be used against another; runs on one org from one machine are serialised
        by it. The default, ``""``, means "cannot tell": the journal is then bound to the
        backend only, and no org lock is taken. Called once per run, after connecting.
        """
        return ""

    @abc.abstractmethod
    def execute(
        self,
        call: PlannedCall,
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Send one planned call and return one result per lead it carried, in order.

        ``call_index`` is the run-wide number the runner gave this call (``None`` outside a
        run): put it in each result's ``call`` so the report and the journal name the call.
        The client renders the request (``Backend.render`` or its own writer) and reads the
        CRM's answer into neutral results; a lead the call never reached is ``NOT_ATTEMPTED``.

        ``steps`` (given by the runner; optional in the signature for older clients) journals
        what the call starts beyond its own answer: a client whose CRM schedules a job calls
        ``steps.job_scheduled(job_id, lead_ids)`` before polling it. After a read timeout or a
        dropped connection the client must not send the call again until the CRM shows the
        leads not converted past the bound it documents (``resolve_in_doubt``).
        """

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

    def resolve_in_doubt(
        self, lead_ids: Sequence[str], *, call_kind: str | None, sent_at: float | None
    ) -> list[ConversionResult]:
        """The state of leads whose last call (of ``call_kind``, which left at ``sent_at``, a
        ``time.time()``, at the latest) may have converted them or may still do so.

        Same answers as ``lookup``; ``NOT_ATTEMPTED`` tells the runner to send the lead again,
        so a backend whose CRM can act on a request after its answer was lost (a job not yet
        run, a request still executing after a read timeout) re-reads until the leads show
        converted or the bound it documents has passed since ``sent_at``. The default reads
        once (``lookup``): right for a CRM that acts within the request.
        """
        return self.lookup(lead_ids)

    def resume_job(
        self,
        job_id: str,
        lead_ids: Sequence[str],
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Finish a job journaled by an earlier run: poll it to its end (bounded by the
        backend's documented poll timeout, and returning early when ``steps.stopping``), then
        one result per lead, in order, as ``execute`` would have returned them. A lead whose
        job has not ended is ``SCHEDULED`` with the job id (the next run polls it again).
        Only backends whose ``execute`` reports jobs need it; the default reads the leads.
        """
        return self.lookup(lead_ids)

    def check_follow_up(
        self, call: PlannedCall, *, sent_at: float | None = None
    ) -> FollowUp | None:
        """Whether the follow-up ``call``, whose send was cut off (it left at ``sent_at``, a
        ``time.time()``, at the latest), was applied.

        A ``FollowUp`` that succeeded when the CRM shows its effect for every lead the call
        carries (the runner records it for each of them), ``None`` when it shows
        the step not applied past the backend's documented bound since ``sent_at`` (the runner
        sends it again); raise ``BackendError`` when it cannot tell. The default cannot tell
        (``NotImplementedError``): the runner then reports the step unknown rather than send
        it twice.
        """
        raise NotImplementedError

    def job_status(self, job_id: str) -> Mapping[str, Any]:
        """The state of an asynchronous CRM job (a Zoho mass convert), as the CRM reports it.

        Optional: a CRM without asynchronous jobs leaves it out, and ``leadconvert status``
        then says so and exits 2.
        """
        raise ConfigurationError(
            f"this CRM has no asynchronous jobs ({type(self).__name__}): `leadconvert status` "
            "is for backends that schedule them"
        )

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
    """A stateful stand-in for a CRM, served on 127.0.0.1.

    Build one on ``leadconvert.emulation.HttpEmulator``: it implements everything here but
    ``credentials`` and ``add_lead``, and adds faults, TLS and the admin API every emulator shares.
    """

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

    @abc.abstractmethod
    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """Make an unconverted lead in the emulated org; its id.

        ``fields`` (and ``more``) use the CRM's own field names (Zoho ``Last_Name``, Salesforce
        ``LastName``); what the CRM requires and they leave out (a last name, a company, a status,
        an owner) is filled in, so ``add_lead()`` alone makes a convertible lead.
        """

    @abc.abstractmethod
    def counts(self, lead_id: str) -> Mapping[str, int]:
        """How many requests named ``lead_id`` so far, by kind.

        At least ``"convert"`` (convert requests, single or batched, that reached the org; a
        request a fault stopped before the org acted is not counted) and ``"follow_up"``
        (requests on records its conversion made, e.g. Salesforce's Opportunity update); 0 for a
        lead never named. Tests assert exact numbers with it: each lead sent once, not twice.
        """

    def close(self) -> None:
        """Stop, and release what ``start`` alone does not (files such as a CA bundle).

        Called when a ``with`` block or a test session ends; the default only stops.
        """
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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

    def canonical_id(self, record_id: str, role: str = "lead") -> str:
        """The one spelling of a record id, so the journal never sees one lead as two.

        ``role`` is one of ``ID_ROLES``, or ``""`` for an id of any kind of record. Salesforce,
        for instance, accepts a 15- and an 18-character form of the same id; the default keeps
        the id as given. Never raises: an id that is not valid comes back as given.
        """
        return record_id

    @abc.abstractmethod
    def example_id(self, role: str, n: int) -> str:
        """A valid id of this CRM's syntax for the ``n``-th record (``n >= 0``) of ``role``.

        Deterministic and distinct for distinct ``(role, n)``: ``leadconvert.testing``
        builds conversions from these, so the core never hard-codes a CRM's id shapes.
        """

    def options_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of ``options.<name>``, for ``leadconvert schema``."""
        return None

    def check_settings(self, settings: Mapping[str, str]) -> list[Violation]:
        """Every problem with ``settings`` (pure), found before any record is read.

        Called once per command by the pipeline (``validate`` included), so a setting ``plan``
        would refuse is reported up front. The default finds none.
        """
        return []

    @abc.abstractmethod
    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every rule of this CRM the conversion breaks (pure)."""

    @abc.abstractmethod
    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """The native requests for valid conversions, batched at this CRM's limits (pure).

        Requests may carry their body as structured ``NativeRequest.content``; ``render``
        writes it out when the plan is shown, the client when it sends.
        """

    def render(self, request: NativeRequest) -> NativeRequest:
        """``request`` as it is shown and sent: its text body written from ``content`` (pure).

        The default returns the request unchanged (a JSON body needs no rendering).
        """
        return request

    @abc.abstractmethod
    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        """The neutral conversions that native requests express.

        ``calls`` are either the calls of a plan, in order, exactly as ``plan`` built them or
        as the core read them back from a plan document (so a follow-up can be folded into the
        conversion of the call it follows), or one bare native body read from a file: a single
        call whose request has ``path`` ``""``, no ``lead_ids`` and ``json`` (decoded with exact
        integers and ``Decimal`` amounts) or ``body`` (text). Raises ``InputError`` naming the
        call when one cannot be read.
        """

    @abc.abstractmethod
    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client for a real (or emulated) CRM."""

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """A local emulator of this CRM, seeded from a JSON fixture."""
        raise PluginError(f"backend {self.name!r} ships no emulator")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend {self.name!r}>"


def unsupported(rule: str, path: str, message: str, backend: str) -> Violation:
    """A violation for an option ``backend`` cannot express (strict rejects, lenient warns)."""
    return Violation(rule=rule, path=path, message=message, backend=backend, unsupported=True)


def violation(rule: str, path: str, message: str, backend: str) -> Violation:
    """A violation of a rule of ``backend``'s CRM."""
    return Violation(rule=rule, path=path, message=message, backend=backend)
