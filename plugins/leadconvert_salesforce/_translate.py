"""Neutral conversions to LeadConvert rows and back, the rules checked before any call, and the
follow-up update of the created Opportunity."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from leadconvert import (
    AttachOpportunity,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    NoOpportunity,
    Violation,
)
from leadconvert.backend import unsupported, violation

from ._ids import IdError, canonical_id
from ._options import SalesforceOptions
from ._wire import CONVERTED_STATUS_PLACEHOLDER, find_invalid_xml_char

__all__ = [
    "NAME",
    "OPPORTUNITY_NAME_MAX",
    "conversion_from_row",
    "follow_up_body",
    "row_for",
    "validate_conversion",
    "with_follow_up",
]

NAME = "salesforce"
OPPORTUNITY_NAME_MAX = 80
# Salesforce API names: a letter, then letters, digits and single underscores (custom: __c...).
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# The fields the typed follow-up values set; ``fields`` may not set them a second time.
_TYPED_FIELDS = {
    "Name": "name",
    "StageName": "stage",
    "CloseDate": "close_date",
    "Amount": "amount",
}


def _check_id(
    found: list[Violation], value: str | None, path: str, *objects: str, message: str = ""
) -> None:
    if value is None:
        return
    try:
        canonical_id(value, *objects)
    except IdError as exc:
        rule = "salesforce.id.wrong_object" if exc.wrong_object else "salesforce.id.malformed"
        found.append(violation(rule, path, message or str(exc), NAME))


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


def validate_conversion(conversion: Conversion) -> list[Violation]:
    """Every Salesforce rule ``conversion`` breaks, all at once (pure)."""
    found: list[Violation] = []
    _check_id(found, conversion.lead_id, "lead_id", "Lead")
    account = conversion.account
    contact = conversion.contact
    opportunity = conversion.opportunity
    if isinstance(account, MergeAccount | MergePersonAccount):
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
        if len(opportunity.name) > OPPORTUNITY_NAME_MAX:
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
            typed = _TYPED_FIELDS.get(key)
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
    _check_text(found, conversion.converted_status, "converted_status")
    if conversion.converted_status == CONVERTED_STATUS_PLACEHOLDER:
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


def _bool(value: bool) -> str:
    return "true" if value else "false"


def row_for(conversion: Conversion, default_status: str | None = None) -> dict[str, str]:
    """The LeadConvert row of a valid conversion.

    What Salesforce cannot express (lenient mode lets such conversions through) is not sent.
    """
    row: dict[str, str] = {"leadId": canonical_id(conversion.lead_id, "Lead")}
    account = conversion.account
    if isinstance(account, MergeAccount | MergePersonAccount):
        row["accountId"] = canonical_id(account.id, "Account")
    options = conversion.options_for(NAME)
    if isinstance(options, SalesforceOptions):
        if options.bypass_account_dedupe_check is not None:
            row["bypassAccountDedupeCheck"] = _bool(options.bypass_account_dedupe_check)
        if options.bypass_contact_dedupe_check is not None:
            row["bypassContactDedupeCheck"] = _bool(options.bypass_contact_dedupe_check)
    if isinstance(conversion.contact, MergeContact):
        row["contactId"] = canonical_id(conversion.contact.id, "Contact")
    row["convertedStatus"] = (
        conversion.converted_status or default_status or CONVERTED_STATUS_PLACEHOLDER
    )
    opportunity = conversion.opportunity
    row["doNotCreateOpportunity"] = _bool(isinstance(opportunity, NoOpportunity))
    if isinstance(opportunity, AttachOpportunity):
        row["opportunityId"] = canonical_id(opportunity.id, "Opportunity")
    elif isinstance(opportunity, CreateOpportunity):
        row["opportunityName"] = opportunity.name
    row["overwriteLeadSource"] = _bool(conversion.overwrite_lead_source)
    if conversion.owner_id is not None:
        row["ownerId"] = canonical_id(conversion.owner_id, "User")
    row["sendNotificationEmail"] = _bool(conversion.notify_new_owner)
    return row


def follow_up_body(conversion: Conversion) -> dict[str, Any] | None:
    """The Opportunity fields convertLead cannot carry, as a REST update body, if any."""
    opportunity = conversion.opportunity
    if not isinstance(opportunity, CreateOpportunity):
        return None
    body: dict[str, Any] = {}
    if opportunity.stage is not None:
        body["StageName"] = opportunity.stage
    if opportunity.close_date is not None:
        body["CloseDate"] = opportunity.close_date.isoformat()
    if opportunity.amount is not None:
        body["Amount"] = opportunity.amount
    body.update(opportunity.fields)
    return body or None


def with_follow_up(conversion: Conversion, body: Mapping[str, Any]) -> Conversion:
    """``conversion`` with the Opportunity fields of its follow-up update (``follow_up_body``)."""
    opportunity = conversion.opportunity
    if not isinstance(opportunity, CreateOpportunity):
        raise InputError(
            f"lead {conversion.lead_id}: an opportunity update follows a conversion that "
            "creates no opportunity"
        )
    data = dict(body)
    stage = data.pop("StageName", None)
    close = data.pop("CloseDate", None)
    amount = data.pop("Amount", None)
    try:
        return attrs.evolve(
            conversion,
            opportunity=attrs.evolve(
                opportunity,
                stage=stage,
                close_date=dt.date.fromisoformat(close) if close is not None else None,
                amount=amount,
                fields={**opportunity.fields, **data},
            ),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"lead {conversion.lead_id}: opportunity update: {exc}") from exc


def _flag(row: Mapping[str, Any], name: str) -> bool | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InputError(f"{name} must be true or false, got {value!r}")


def _text_of(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {value!r}")
    return value


def conversion_from_row(row: Mapping[str, Any]) -> Conversion:
    """The neutral conversion a LeadConvert row (from XML or JSON) expresses."""
    known = {
        "accountId",
        "bypassAccountDedupeCheck",
        "bypassContactDedupeCheck",
        "contactId",
        "convertedStatus",
        "doNotCreateOpportunity",
        "leadId",
        "opportunityId",
        "opportunityName",
        "overwriteLeadSource",
        "ownerId",
        "sendNotificationEmail",
    }
    unknown = set(row) - known
    if unknown:
        raise InputError(f"LeadConvert fields the neutral model cannot express: {sorted(unknown)}")
    lead_id = _text_of(row, "leadId")
    if not lead_id:
        raise InputError("a LeadConvert needs a leadId")
    where = f"LeadConvert of lead {lead_id}"
    account_id = _text_of(row, "accountId")
    contact_id = _text_of(row, "contactId")
    opportunity_id = _text_of(row, "opportunityId")
    opportunity_name = _text_of(row, "opportunityName")
    no_opportunity = _flag(row, "doNotCreateOpportunity")
    if opportunity_id and opportunity_name:
        raise InputError(f"{where}: opportunityId and opportunityName are mutually exclusive")
    if no_opportunity:
        if opportunity_id or opportunity_name:
            raise InputError(
                f"{where}: doNotCreateOpportunity=true forbids opportunityId and opportunityName"
            )
        opportunity: Any = NoOpportunity()
    elif opportunity_id:
        opportunity = AttachOpportunity(opportunity_id)
    elif opportunity_name:
        opportunity = CreateOpportunity(name=opportunity_name)
    else:
        raise InputError(
            f"{where}: Salesforce would create an opportunity named after the lead's company; "
            "the neutral form needs opportunityName (or doNotCreateOpportunity=true)"
        )
    status = _text_of(row, "convertedStatus")
    if status == CONVERTED_STATUS_PLACEHOLDER:
        status = None
    bypass_account = _flag(row, "bypassAccountDedupeCheck")
    bypass_contact = _flag(row, "bypassContactDedupeCheck")
    options: tuple[SalesforceOptions, ...] = ()
    if bypass_account is not None or bypass_contact is not None:
        options = (SalesforceOptions(bypass_account, bypass_contact),)
    try:
        return Conversion(
            lead_id=lead_id,
            account=MergeAccount(account_id) if account_id else CreateAccount(),
            contact=MergeContact(contact_id) if contact_id else CreateContact(),
            opportunity=opportunity,
            owner_id=_text_of(row, "ownerId"),
            notify_new_owner=bool(_flag(row, "sendNotificationEmail")),
            overwrite_lead_source=bool(_flag(row, "overwriteLeadSource")),
            converted_status=status or None,
            options=options,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from exc
