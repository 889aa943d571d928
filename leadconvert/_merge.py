"""The merge policy: a conversion plus its match report becomes one that targets existing records.

The rules, the same on every CRM:

* the best usable contact merges, and brings the account it belongs to (Salesforce requires the
  contact to belong to the account; Zoho links a contact's account by itself);
* with no usable contact, the best usable account merges and a contact is created;
* "best" is the candidate whose matched field ranks first in the CRM's own order of preference
  (Zoho: unique fields, then email; account name; lead name); two candidates sharing the top rank
  are ambiguous, and so is a contact whose account is not the account the company matched, and
  matches none of which is usable (locked, read-only, awaiting approval);
* ambiguous matches are never guessed: they follow the user's choice (create, skip, fail), and the
  reason is reported;
* targets the user set explicitly are kept as they are;
* the merged conversion is checked against the backend's rules: a merge the CRM cannot express
  (a Salesforce contact without an account) is ambiguous too.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from attrs import evolve, frozen

from ._check import Mode, check
from ._model import (
    Conversion,
    CreateAccount,
    CreateContact,
    MergeAccount,
    MergeContact,
)
from ._results import ConversionError, ErrorCode, MatchCandidate, MatchReport
from .backend import Backend

__all__ = ["MergeDecision", "OnAmbiguous", "OnMatch", "decide"]


class OnMatch(enum.Enum):
    """What to do with a lead that matches existing records."""

    #: Merge into the matched records when the match is unambiguous.
    MERGE = "merge"
    #: Convert as asked, creating new records anyway (matches are only reported).
    CREATE = "create"
    #: Leave the lead unconverted.
    SKIP = "skip"
    #: Record the lead as failed (a duplicate).
    FAIL = "fail"


class OnAmbiguous(enum.Enum):
    """What to do when ``merge`` cannot tell which record to merge into."""

    CREATE = "create"
    SKIP = "skip"
    FAIL = "fail"


class Action(enum.Enum):
    """What the policy decided."""

    MERGED = "merged"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


@frozen
class MergeDecision:
    """The policy's verdict on one lead: the conversion to send (if any) and why."""

    action: Action
    reason: str
    conversion: Conversion | None
    #: The error to record when the lead is skipped or failed.
    error: ConversionError | None = None


def _describe(candidate: MatchCandidate) -> str:
    fields = ", ".join(f"{m.field}={m.lead_value!r}" for m in candidate.matched_fields)
    name = f" {candidate.name!r}" if candidate.name else ""
    matched = f" (matched on {fields})" if fields else ""
    return f"{candidate.module.value[:-1]} {candidate.id}{name}{matched}"


def _unusable(candidate: MatchCandidate) -> str:
    why = [
        text
        for flag, text in (
            (candidate.locked, "locked"),
            (not candidate.editable, "not editable"),
            (not candidate.approved, "not approved"),
        )
        if flag
    ]
    return f"{_describe(candidate)} is {' and '.join(why)}"


def _best(candidates: Sequence[MatchCandidate]) -> tuple[MatchCandidate | None, str | None]:
    """The single best usable candidate, or why there is none to pick."""
    usable = [c for c in candidates if c.usable]
    if not usable:
        if candidates:
            return None, "; ".join(_unusable(c) for c in candidates)
        return None, None
    top = min(c.rank for c in usable)
    best = [c for c in usable if c.rank == top]
    if len(best) > 1:
        return None, "several records match equally well: " + "; ".join(_describe(c) for c in best)
    return best[0], None


def decide(
    conversion: Conversion,
    report: MatchReport,
    backend: Backend,
    on_match: OnMatch = OnMatch.MERGE,
    on_ambiguous: OnAmbiguous = OnAmbiguous.FAIL,
    mode: Mode = Mode.STRICT,
) -> MergeDecision:
    """Apply the merge policy to ``conversion`` given the CRM's ``report`` (pure)."""
    explicit = not (
        isinstance(conversion.account, CreateAccount)
        and isinstance(conversion.contact, CreateContact)
    )
    if explicit:
        return MergeDecision(Action.UNCHANGED, "targets given explicitly", conversion)
    if report.empty:
        return MergeDecision(Action.UNCHANGED, "no existing record matches", conversion)
    everything = "; ".join(_describe(c) for c in (*report.contacts, *report.accounts))
    if on_match is OnMatch.CREATE:
        return MergeDecision(
            Action.UNCHANGED, f"matches ignored (--on-match create): {everything}", conversion
        )
    if on_match is OnMatch.SKIP:
        return _refuse(Action.SKIPPED, f"matches existing records: {everything}")
    if on_match is OnMatch.FAIL:
        return _refuse(Action.FAILED, f"matches existing records: {everything}")

    contact, contact_problem = _best(report.contacts)
    account, account_problem = _best(report.accounts)
    problem: str | None = None
    merged = conversion
    if contact is not None and contact.account_id:
        if account is not None and account.id != contact.account_id:
            problem = (
                f"{_describe(contact)} belongs to account {contact.account_id}, but the lead's "
                f"company matches {_describe(account)}"
            )
        else:
            merged = evolve(
                conversion,
                contact=MergeContact(contact.id),
                account=MergeAccount(contact.account_id),
            )
    elif contact is not None:
        if account is not None:
            problem = (
                f"{_describe(contact)} belongs to no account, but the lead's company matches "
                f"{_describe(account)}"
            )
        elif account_problem:
            problem = f"{_describe(contact)} belongs to no account, and {account_problem}"
        else:
            merged = evolve(conversion, contact=MergeContact(contact.id))
    elif contact_problem:
        problem = contact_problem
    elif account is not None:
        merged = evolve(conversion, account=MergeAccount(account.id))
    elif account_problem:
        problem = account_problem
    else:
        return MergeDecision(
            Action.UNCHANGED, f"no contact or account to merge into: {everything}", conversion
        )
    if problem is None:
        checked = check(backend, merged, mode)
        if checked.errors:
            problem = "the merge cannot be expressed: " + "; ".join(str(v) for v in checked.errors)
    if problem is not None:
        return _ambiguous(conversion, problem, on_ambiguous)
    parts = []
    if contact is not None:
        parts.append(f"into {_describe(contact)}")
        parts.append(f"and its account {contact.account_id}" if contact.account_id else "")
    elif account is not None:
        parts.append(f"into {_describe(account)}, creating the contact")
    return MergeDecision(Action.MERGED, "merged " + " ".join(p for p in parts if p), merged)


def _ambiguous(conversion: Conversion, problem: str, choice: OnAmbiguous) -> MergeDecision:
    if choice is OnAmbiguous.CREATE:
        return MergeDecision(
            Action.UNCHANGED,
            f"ambiguous, created new records (--on-ambiguous create): {problem}",
            conversion,
        )
    action = Action.SKIPPED if choice is OnAmbiguous.SKIP else Action.FAILED
    return _refuse(action, f"ambiguous match, not guessed: {problem}")


def _refuse(action: Action, reason: str) -> MergeDecision:
    return MergeDecision(
        action,
        reason,
        None,
        ConversionError(ErrorCode.DUPLICATE, reason, backend_code=f"match_{action.value}"),
    )
