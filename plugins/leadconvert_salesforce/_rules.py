"""Salesforce's rules (pure): everything convertLead refuses, found before any call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from leadconvert import (
    AttachOpportunity,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Violation,
)
from leadconvert.backend import unsupported, violation

from ._ids import IdError, _prefixes, canonical_id, usual_full_id
from ._options import NAME
from ._wire import CONVERTED_STATUS_PLACEHOLDER, api_version, find_invalid_xml_char

__all__ = [
    "KEPT_IDS",
    "MERGED_ACCOUNTS",
    "OPPORTUNITY_NAME_MAX",
    "TYPED_FIELDS",
    "check_settings",
    "forget_ids",
    "validate",
]

OPPORTUNITY_NAME_MAX = 80
# Salesforce API names: a letter, then letters, digits and single underscores (custom: __c...).
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
# The fields the typed follow-up values set; ``fields`` may not set them a second time.
TYPED_FIELDS = {
    "Name": "name",
    "StageName": "stage",
    "CloseDate": "close_date",
    "Amount": "amount",
}


#: The 18-character form of each id ``validate`` found well formed, by the id as given:
#: ``plan``, which gets the same conversions next, takes it from here instead of working it out
#: again, then empties it (``forget_ids``). Emptied too when full, for callers that validate
#: without planning (a window of 5,000 leads holds at most 20,000 ids).
KEPT_IDS: dict[str, str] = {}
_KEPT_MAX = 1 << 15


def forget_ids() -> None:
    """Drop the ids ``validate`` kept (``plan`` does, once it has used them)."""
    KEPT_IDS.clear()


def _check_id(
    found: list[Violation], value: str | None, path: str, *objects: str, message: str = ""
) -> None:
    if value is None:
        return
    full = usual_full_id(value)
    if full is None or full[:3] not in _prefixes(objects):
        try:
            full = canonical_id(value, *objects)
        except IdError as exc:
            rule = "salesforce.id.malformed"
            if exc.wrong_object:
                rule = "salesforce.id.wrong_object"
            elif exc.wrong_suffix:
                rule = "salesforce.id.case_suffix"
            found.append(violation(rule, path, message or str(exc), NAME))
            return
    if len(KEPT_IDS) >= _KEPT_MAX:
        KEPT_IDS.clear()
    KEPT_IDS[value] = full


def _check_text(found: list[Violation], value: str | None, path: str) -> None:
    if value is None:
        return
    bad = find_invalid_xml_char(value)
    if bad is not None:
        found.append(
            violation(
                "salesforce.xml.invalid_character",
                path,
                f"holds U+{ord(bad):04X}, which XML 1.0 (and so the SOAP API) cannot carry",
                NAME,
            )
        )


#: The account targets that name an existing account. A tuple built once: ``A | B`` in an
#: ``isinstance`` builds its union again at each call, once or twice for every conversion.
MERGED_ACCOUNTS = (MergeAccount, MergePersonAccount)


def validate(conversion: Conversion) -> list[Violation]:
    """Every Salesforce rule ``conversion`` breaks, all at once (pure)."""
    found: list[Violation] = []
    _check_id(found, conversion.lead_id, "lead_id", "Lead")
    account = conversion.account
    contact = conversion.contact
    opportunity = conversion.opportunity
    if isinstance(account, MERGED_ACCOUNTS):
        _check_id(found, account.id, "account.id", "Account")
    if isinstance(contact, MergeContact):
        _check_id(found, contact.id, "contact.id", "Contact")
        if isinstance(account, MergePersonAccount):
            found.append(
                violation(
                    "salesforce.person_account.no_contact",
                    "contact.id",
                    "a lead merged into a person account takes only the account id: the "
                    "person account's contact cannot be named",
                    NAME,
                )
            )
        elif not isinstance(account, MergeAccount):
            found.append(
                violation(
                    "salesforce.contact.needs_account",
                    "contact.id",
                    "merging into an existing contact needs the id of the account it belongs to "
                    "(account.action merge)",
                    NAME,
                )
            )
    if isinstance(opportunity, AttachOpportunity):
        _check_id(found, opportunity.id, "opportunity.id", "Opportunity")
    if isinstance(opportunity, CreateOpportunity):
        # No name: Salesforce names the opportunity after the lead's company.
        if opportunity.name is not None and len(opportunity.name) > OPPORTUNITY_NAME_MAX:
            found.append(
                violation(
                    "salesforce.opportunity.name_too_long",
                    "opportunity.name",
                    f"is {len(opportunity.name)} characters; Salesforce takes at most "
                    f"{OPPORTUNITY_NAME_MAX}",
                    NAME,
                )
            )
        _check_text(found, opportunity.name, "opportunity.name")
        if opportunity.pipeline is not None:
            found.append(
                unsupported(
                    "salesforce.opportunity.pipeline",
                    "opportunity.pipeline",
                    "Salesforce opportunities have no pipeline (sales processes follow the "
                    "record type)",
                    NAME,
                )
            )
        if opportunity.contact_role is not None:
            found.append(
                unsupported(
                    "salesforce.opportunity.contact_role",
                    "opportunity.contact_role",
                    "convertLead makes the converted contact the primary contact role; another "
                    "role cannot be set",
                    NAME,
                )
            )
        for key, value in opportunity.fields.items():
            path = f"opportunity.fields.{key}"
            if not _API_NAME.match(key):
                found.append(
                    violation(
                        "salesforce.opportunity.field_name",
                        path,
                        "is not a Salesforce field API name",
                        NAME,
                    )
                )
            typed = TYPED_FIELDS.get(key)
            # Always, even when the typed field is unset: the update could not be read back
            # apart from it (one spelling per meaning, as Zoho's Deals keys).
            if typed is not None:
                found.append(
                    violation(
                        "salesforce.opportunity.field_conflict",
                        path,
                        f"is set by opportunity.{typed}, not by fields",
                        NAME,
                    )
                )
            if not (value is None or isinstance(value, str | bool | int | Decimal)):
                found.append(
                    violation(
                        "salesforce.opportunity.field_value",
                        path,
                        f"must be a string, number, boolean or null, not {type(value).__name__}",
                        NAME,
                    )
                )
    if conversion.owner_id is not None:
        _check_id(found, conversion.owner_id, "owner_id", "User", "Group")
        if conversion.owner_id.startswith("00G"):
            found.append(
                violation(
                    "salesforce.owner.must_be_user",
                    "owner_id",
                    "converted records can only be owned by users, not by a queue",
                    NAME,
                )
            )
    if conversion.overwrite_lead_source and not isinstance(contact, MergeContact):
        found.append(
            violation(
                "salesforce.overwrite_lead_source.needs_contact",
                "overwrite_lead_source",
                "overwriting the lead source needs an existing contact (contact.action merge)",
                NAME,
            )
        )
    status = conversion.converted_status
    if status is not None:
        _check_text(found, status, "converted_status")
        if status == CONVERTED_STATUS_PLACEHOLDER:
            found.append(
                violation(
                    "salesforce.converted_status.reserved",
                    "converted_status",
                    "is the placeholder the backend uses for a discovered status",
                    NAME,
                )
            )
    if conversion.notify_lead_owner:
        found.append(
            unsupported(
                "salesforce.notify_lead_owner",
                "notify_lead_owner",
                "convertLead can notify the new owner (notify_new_owner), not the lead owner",
                NAME,
            )
        )
    if conversion.overwrite_account_name:
        found.append(
            unsupported(
                "salesforce.overwrite_account_name",
                "overwrite_account_name",
                "convertLead never overwrites an existing account's name",
                NAME,
            )
        )
    if conversion.move_attachments_to is not None:
        found.append(
            unsupported(
                "salesforce.move_attachments_to",
                "move_attachments_to",
                "convertLead cannot choose where attachments go",
                NAME,
            )
        )
    if not conversion.carry_over_tags.is_empty():
        found.append(
            unsupported(
                "salesforce.carry_over_tags",
                "carry_over_tags",
                "Salesforce leads carry no tags that convertLead could move",
                NAME,
            )
        )
    return found


#: Numeric settings and the smallest value each takes.
_NUMBERS: Mapping[str, tuple[type[float] | type[int], float]] = {
    "timeout": (float, 0.001),
    "max_retries": (int, 0),
    "retry_base_delay": (float, 0.0),
}


def check_settings(settings: Mapping[str, str]) -> list[Violation]:
    """Every problem with ``settings`` (pure), before any record is read."""
    found: list[Violation] = []
    try:
        api_version(settings)
    except ConfigurationError as exc:
        found.append(violation("salesforce.settings.api_version", "api_version", str(exc), NAME))
    status = settings.get("converted_status")
    if status is not None:
        bad = find_invalid_xml_char(status)
        if not status.strip() or bad is not None or status == CONVERTED_STATUS_PLACEHOLDER:
            found.append(
                violation(
                    "salesforce.settings.converted_status",
                    "converted_status",
                    f"must be a LeadStatus name XML can carry, got {status!r}",
                    NAME,
                )
            )
    for name, (kind, least) in _NUMBERS.items():
        raw = settings.get(name)
        if raw is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or value < least:
            what = "a whole number" if kind is int else "a number"
            found.append(
                violation(
                    "salesforce.settings.number",
                    name,
                    f"must be {what} of at least {least:g}, got {raw!r}",
                    NAME,
                )
            )
    return found
