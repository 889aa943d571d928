"""Dynamics 365 rules a conversion must meet before any call (pure, every violation at once)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from leadconvert import (
    AttachOpportunity,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Violation,
)
from leadconvert.backend import unsupported, violation

from ._ids import is_guid
from ._options import DynamicsOptions

__all__ = [
    "MAX_BATCH_PARTS",
    "NAME",
    "NOT_QUALIFIED_STATUSES",
    "QUALIFIED_STATUS",
    "check_settings",
    "status_value",
    "validate_conversion",
]

NAME = "dynamics"
#: "Batch requests can contain up to 1000 individual requests"; a lead takes at most two.
MAX_BATCH_PARTS = 1000
#: The standard statuscode of the Qualified state (statecode 1).
QUALIFIED_STATUS = 3
#: The standard statuscodes of the Open (1, 2) and Disqualified (4-7) states, by number and by
#: their English label: none of them can qualify a lead.
NOT_QUALIFIED_STATUSES: Mapping[int, str] = {
    1: "New",
    2: "Contacted",
    4: "Lost",
    5: "Cannot Contact",
    6: "No Longer Interested",
    7: "Canceled",
}


_LOGICAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: Opportunity attributes the neutral form names itself, or that are not fields to set.
_RESERVED_FIELDS = frozenset(
    {"name", "estimatedclosedate", "estimatedvalue", "stepname", "opportunityid", "ownerid"}
)


_STATUS_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_NOT_QUALIFIED_LABELS = {
    label.casefold(): number for number, label in NOT_QUALIFIED_STATUSES.items()
}


def status_value(status: str) -> int | str:
    """A neutral status as QualifyLead's ``Status``: a number, or a name resolved when sent."""
    # Only a number spelt canonically is a number, so that it reads back as it was written.
    if _STATUS_NUMBER.fullmatch(status) and int(status) <= 2**31 - 1:
        return int(status)
    return status


def _status_violations(status: str, path: str) -> list[Violation]:
    value = status_value(status)
    labels = _NOT_QUALIFIED_LABELS
    if isinstance(value, int):
        if value in NOT_QUALIFIED_STATUSES:
            return [
                violation(
                    "dynamics.status_not_qualified",
                    path,
                    f"statuscode {value} is not a status of the Qualified state (standard: 3 "
                    "Qualified; custom Qualified statuses are numbered by the org)",
                    NAME,
                )
            ]
    elif value.casefold() in labels:
        return [
            violation(
                "dynamics.status_not_qualified",
                path,
                f"status {value!r} (statuscode {labels[value.casefold()]}) belongs to the Open "
                "or Disqualified state, not Qualified",
                NAME,
            )
        ]
    return []


def _guid(value: str, path: str, what: str) -> list[Violation]:
    if is_guid(value):
        return []
    return [_not_guid(value, path, what)]


def _not_guid(value: str, path: str, what: str) -> Violation:
    return violation(
        "dynamics.id_syntax",
        path,
        f"{what} must be a GUID (8-4-4-4-12 hexadecimal digits), got {value!r}",
        NAME,
    )


#: The flags QualifyLead has no parameter for, and what each would do.
_FLAGS = (
    ("notify_lead_owner", "notify the lead owner"),
    ("notify_new_owner", "notify the new owner"),
    ("overwrite_account_name", "overwrite the account name"),
    ("overwrite_lead_source", "overwrite the contact's lead source"),
)


def validate_conversion(conversion: Conversion) -> list[Violation]:
    """Every Dynamics 365 rule ``conversion`` breaks."""
    found: list[Violation] = []
    if not is_guid(conversion.lead_id):
        found.append(_not_guid(conversion.lead_id, "lead_id", "the lead id"))
    account, contact, opportunity = conversion.account, conversion.contact, conversion.opportunity
    if isinstance(account, MergePersonAccount):
        found.append(
            unsupported(
                "dynamics.person_account",
                "account",
                "Dynamics 365 has no person accounts: merge into a business account or a contact",
                NAME,
            )
        )
    elif isinstance(account, MergeAccount) and not is_guid(account.id):
        found.append(_not_guid(account.id, "account.id", "the account id"))
    if isinstance(contact, MergeContact) and not is_guid(contact.id):
        found.append(_not_guid(contact.id, "contact.id", "the contact id"))
    if isinstance(opportunity, CreateOpportunity):
        # QualifyLead makes an opportunity only for a customer: a created or merged account or
        # contact. The neutral model always has one unless the only account is a person
        # account, which is refused above; the rule is kept so that it stays true if the model
        # grows.
        has_customer = isinstance(account, CreateAccount | MergeAccount) or isinstance(
            contact, CreateContact | MergeContact
        )
        if not has_customer:
            found.append(
                violation(
                    "dynamics.opportunity_customer",
                    "opportunity",
                    "an opportunity needs a customer: create or merge an account or a contact",
                    NAME,
                )
            )
        if opportunity.pipeline is not None:
            found.append(
                unsupported(
                    "dynamics.pipeline",
                    "opportunity.pipeline",
                    "Dynamics 365 opportunities have no pipeline field (the sales stage goes in "
                    "stage)",
                    NAME,
                )
            )
        if opportunity.contact_role is not None:
            found.append(
                unsupported(
                    "dynamics.contact_role",
                    "opportunity.contact_role",
                    "QualifyLead cannot set an opportunity contact role",
                    NAME,
                )
            )
        for key in opportunity.fields:
            if not _LOGICAL_NAME.fullmatch(key):
                found.append(
                    violation(
                        "dynamics.opportunity_field_name",
                        f"opportunity.fields.{key}",
                        "Dataverse sets attributes by logical name: lower-case letters, digits "
                        f"and underscores (e.g. closeprobability, new_region), not {key!r}",
                        NAME,
                    )
                )
            elif key in _RESERVED_FIELDS:
                found.append(
                    violation(
                        "dynamics.opportunity_field",
                        f"opportunity.fields.{key}",
                        "opportunity fields are set by logical name; the name, close date, "
                        "amount and stage have their own neutral fields, and ids, owner and "
                        "binds are not fields",
                        NAME,
                    )
                )
    elif isinstance(opportunity, AttachOpportunity):
        found.append(
            unsupported(
                "dynamics.opportunity_attach",
                "opportunity",
                "QualifyLead cannot relate the lead to an existing opportunity",
                NAME,
            )
        )
    owner_id = conversion.owner_id
    if owner_id is not None and not is_guid(owner_id):
        found.append(_not_guid(owner_id, "owner_id", "the owner (systemuser) id"))
    if (
        conversion.notify_lead_owner
        or conversion.notify_new_owner
        or conversion.overwrite_account_name
        or conversion.overwrite_lead_source
    ):
        for flag, what in _FLAGS:
            if getattr(conversion, flag):
                found.append(
                    unsupported(f"dynamics.{flag}", flag, f"QualifyLead cannot {what}", NAME)
                )
    if conversion.move_attachments_to is not None:
        found.append(
            unsupported(
                "dynamics.move_attachments_to",
                "move_attachments_to",
                "QualifyLead cannot move attachments",
                NAME,
            )
        )
    if not conversion.carry_over_tags.is_empty():
        found.append(
            unsupported(
                "dynamics.carry_over_tags",
                "carry_over_tags",
                "Dynamics 365 leads have no tags to carry over",
                NAME,
            )
        )
    if conversion.converted_status is not None:
        found += _status_violations(conversion.converted_status, "converted_status")
    if conversion.options:
        options = conversion.options_for(NAME)
        if isinstance(options, DynamicsOptions):
            if options.currency_id is not None:
                found += _guid(
                    options.currency_id, "options.dynamics.currency_id", "the currency id"
                )
            if options.source_campaign_id is not None:
                found += _guid(
                    options.source_campaign_id,
                    "options.dynamics.source_campaign_id",
                    "the source campaign id",
                )
    return found


def check_settings(settings: Mapping[str, str]) -> list[Violation]:
    """Every problem with the Dynamics settings, before any record is read."""
    found: list[Violation] = []
    raw = settings.get("batch_size")
    if raw:
        try:
            size = int(raw)
        except ValueError:
            size = 0
        # Two parts a lead at most (bind + qualify): 500 leads fill Microsoft's 1000 parts.
        if not 1 <= size <= MAX_BATCH_PARTS // 2:
            found.append(
                violation(
                    "dynamics.settings.batch_size",
                    "settings.batch_size",
                    f"batch_size must be a whole number from 1 to {MAX_BATCH_PARTS // 2} "
                    f"(a $batch holds at most {MAX_BATCH_PARTS} requests), got {raw!r}",
                    NAME,
                )
            )
    version = settings.get("api_version")
    if version and not (version.startswith("v") and version[1:].replace(".", "").isdigit()):
        found.append(
            violation(
                "dynamics.settings.api_version",
                "settings.api_version",
                f"api_version looks like v9.2, got {version!r}",
                NAME,
            )
        )
    status = settings.get("status")
    if status:
        found += _status_violations(status, "settings.status")
    for name in ("timeout", "max_retries", "max_concurrency", "retry_base_delay", "doubt_wait"):
        value = settings.get(name)
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number < 0 or (name == "max_concurrency" and not 1 <= number < 52):
            found.append(
                violation(
                    f"dynamics.settings.{name}",
                    f"settings.{name}",
                    f"{name} must be a non-negative number"
                    + (
                        " below 52 (Microsoft's concurrent request limit)"
                        if name == "max_concurrency"
                        else ""
                    )
                    + f", got {value!r}",
                    NAME,
                )
            )
    return found
