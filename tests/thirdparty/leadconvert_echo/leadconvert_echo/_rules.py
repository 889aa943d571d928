"""Echo CRM's rules (pure): every one a conversion breaks, at once."""

from __future__ import annotations

from leadconvert import (
    AttachOpportunity,
    CarryOverTags,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Violation,
)
from leadconvert.backend import unsupported, violation

from ._wire import PREFIXES

__all__ = ["NAME", "check_id", "validate"]

NAME = "echo"


def check_id(found: list[Violation], role: str, path: str, value: str | None) -> None:
    """An id of ``role``: its letter, then 1 to 12 digits."""
    if value is None:
        return
    prefix = PREFIXES[role]
    if not (value[:1] == prefix and value[1:].isdigit() and 1 <= len(value) - 1 <= 12):
        found.append(
            violation(
                "echo.id", path, f"{value!r} is not an Echo {role} id ({prefix}<digits>)", NAME
            )
        )


def validate(conversion: Conversion) -> list[Violation]:
    """Every Echo CRM rule ``conversion`` breaks."""
    found: list[Violation] = []
    check_id(found, "lead", "lead_id", conversion.lead_id)
    check_id(found, "user", "owner_id", conversion.owner_id)
    account = conversion.account
    if isinstance(account, MergePersonAccount):
        found.append(
            unsupported("echo.person_account", "account", "echo has no person accounts", NAME)
        )
    elif isinstance(account, MergeAccount):
        check_id(found, "account", "account.id", account.id)
    contact = conversion.contact
    if isinstance(contact, MergeContact):
        check_id(found, "contact", "contact.id", contact.id)
        if not isinstance(account, MergeAccount):
            found.append(
                violation(
                    "echo.contact_needs_account",
                    "contact",
                    "Echo CRM merges into a contact only together with its account",
                    NAME,
                )
            )
    opportunity = conversion.opportunity
    if isinstance(opportunity, AttachOpportunity):
        found.append(
            unsupported("echo.attach_opportunity", "opportunity", "echo cannot attach a deal", NAME)
        )
    elif isinstance(opportunity, CreateOpportunity):
        if opportunity.name is None:
            found.append(
                unsupported(
                    "echo.deal_name",
                    "opportunity.name",
                    "Echo CRM does not name deals itself: give the deal a name",
                    NAME,
                )
            )
        for name in ("stage", "close_date", "pipeline", "contact_role"):
            if getattr(opportunity, name) is not None:
                found.append(
                    unsupported(
                        f"echo.deal_{name}",
                        f"opportunity.{name}",
                        f"an Echo deal has no {name}",
                        NAME,
                    )
                )
        if opportunity.fields:
            found.append(
                unsupported(
                    "echo.deal_fields", "opportunity.fields", "an Echo deal has no fields", NAME
                )
            )
    for name in (
        "notify_lead_owner",
        "notify_new_owner",
        "overwrite_account_name",
        "overwrite_lead_source",
    ):
        if getattr(conversion, name):
            found.append(unsupported(f"echo.{name}", name, f"Echo CRM has no {name}", NAME))
    if conversion.converted_status is not None:
        found.append(
            unsupported(
                "echo.converted_status", "converted_status", "Echo leads have no status", NAME
            )
        )
    if conversion.move_attachments_to is not None:
        found.append(
            unsupported(
                "echo.attachments", "move_attachments_to", "Echo CRM has no attachments", NAME
            )
        )
    if conversion.carry_over_tags != CarryOverTags():
        found.append(unsupported("echo.tags", "carry_over_tags", "Echo CRM has no tags", NAME))
    return found
