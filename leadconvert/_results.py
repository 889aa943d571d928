"""Neutral results: what became of each lead, why a conversion is invalid, what matched.

These are the result and error types of ``shared/design/mapping.md``; every backend reads its
CRM's answers into them, so a report means the same thing whichever CRM produced it.
"""

from __future__ import annotations

import enum

from attrs import frozen

from ._model import Module

__all__ = [
    "ConversionError",
    "ConversionResult",
    "ErrorCode",
    "FollowUp",
    "MatchCandidate",
    "MatchReport",
    "MatchedField",
    "Outcome",
    "Violation",
]


class Outcome(enum.Enum):
    """What became of one lead."""

    CONVERTED = "converted"
    FAILED = "failed"
    #: Accepted by the CRM into an asynchronous job whose per-lead result is not known yet.
    SCHEDULED = "scheduled"
    ALREADY_CONVERTED = "already_converted"
    #: Never sent: invalid, skipped, or stopped before its turn.
    NOT_ATTEMPTED = "not_attempted"
    #: Sent, but no answer proves what happened (a dropped connection, a job that ended in doubt).
    UNKNOWN = "unknown"

    # Members are singletons compared by identity: hashed by identity too, in C, where Enum's
    # own hash is a Python call (outcomes key a run's counters, once or twice per lead).
    __hash__ = object.__hash__


class ErrorCode(enum.Enum):
    """The neutral reason a conversion failed; the backend's own code travels beside it."""

    DUPLICATE = "duplicate"
    ALREADY_CONVERTED = "already_converted"
    INVALID_REFERENCE = "invalid_reference"
    INVALID_STATUS = "invalid_status"
    INVALID_DATA = "invalid_data"
    REQUIRED_FIELD_MISSING = "required_field_missing"
    LOCKED = "locked"
    NOT_APPROVED = "not_approved"
    PERMISSION_DENIED = "permission_denied"
    #: The org lacks what the conversion needs (Dynamics 365 without the Sales app, say).
    NOT_SUPPORTED = "not_supported"
    LIMIT_EXCEEDED = "limit_exceeded"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    SERVER_ERROR = "server_error"
    NETWORK_ERROR = "network_error"
    UNKNOWN = "unknown"


@frozen
class ConversionError:
    """Why one lead failed, in neutral terms and in the backend's own."""

    code: ErrorCode
    message: str
    backend_code: str | None = None
    fields: tuple[str, ...] = ()
    retryable: bool = False
    #: Existing records the CRM's duplicate rules matched (Salesforce's DUPLICATES_DETECTED
    #: duplicateResult), so the lead can be merged into one of them.
    matched_ids: tuple[str, ...] = ()


@frozen
class FollowUp:
    """A step a backend ran after the conversion itself (e.g. Salesforce's opportunity update)."""

    action: str
    succeeded: bool
    error: ConversionError | None = None


@frozen
class ConversionResult:
    """The recorded outcome of one lead: where it ended, or why it did not."""

    lead_id: str
    outcome: Outcome
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    error: ConversionError | None = None
    #: Index of the plan's call that carried the lead, when it was sent.
    call: int | None = None
    #: The CRM's asynchronous job, for outcomes that come from one (Zoho mass convert).
    job_id: str | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    #: What the merge policy did with the lead and why (which records, which fields matched).
    merge: str | None = None


@frozen
class Violation:
    """One rule a conversion breaks.

    ``unsupported`` marks an option the backend cannot express: strict mode (the default) keeps
    it a violation, lenient mode turns it into a warning recorded in the plan.
    """

    rule: str
    path: str
    message: str
    backend: str | None = None
    unsupported: bool = False

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.rule}]"


@frozen
class MatchedField:
    """A field of an existing record that holds the same value as the lead."""

    field: str
    lead_value: str


@frozen
class MatchCandidate:
    """An existing record the lead could be merged into."""

    module: Module
    id: str
    name: str | None = None
    matched_fields: tuple[MatchedField, ...] = ()
    #: For a contact: the account it belongs to, which a merge brings along.
    account_id: str | None = None
    editable: bool = True
    locked: bool = False
    approved: bool = True
    #: Where its best matched field stands in the CRM's order of preference (0 = first), so
    #: a phone match on a unique field outranks an email match, as Zoho ranks them.
    rank: int = 0

    @property
    def usable(self) -> bool:
        """Whether the CRM would let the lead be merged into this record."""
        return self.editable and not self.locked and self.approved


@frozen
class MatchReport:
    """The existing records that match a lead, best module first."""

    lead_id: str
    preferred_module: Module | None = None
    contacts: tuple[MatchCandidate, ...] = ()
    accounts: tuple[MatchCandidate, ...] = ()
    deals: tuple[MatchCandidate, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing matched."""
        return not (self.contacts or self.accounts or self.deals)
