"""Zoho's rules (pure): what one conversion may ask of single convert and of mass convert."""

from __future__ import annotations

import re
from collections.abc import Mapping

from leadconvert import (
    AttachOpportunity,
    CarryOverTags,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    NoOpportunity,
    OpportunityTarget,
    Violation,
)
from leadconvert.backend import unsupported, violation

from ._options import NAME, options_of
from ._wire import MODULE_ID_SETTINGS, api_version

__all__ = [
    "ZOHO_ID",
    "check_settings",
    "mass_only",
    "single_only",
    "tags_all",
    "tags_named",
    "validate",
]

#: Zoho record and user ids are numeric strings (e.g. ``3652397000000624046``).
ZOHO_ID = re.compile(r"^[0-9]{1,30}\Z")


def tags_all(tags: CarryOverTags) -> list[Module]:
    if not (tags.contacts or tags.accounts or tags.deals):
        return []
    return [m for m, sel in tags.by_module().items() if sel == "all"]


def tags_named(tags: CarryOverTags) -> list[Module]:
    if not (tags.contacts or tags.accounts or tags.deals):
        return []
    return [m for m, sel in tags.by_module().items() if sel != "all"]


# --- validation ---------------------------------------------------------------------------------


def single_only(conversion: Conversion) -> list[tuple[str, str]]:
    """(path, why) for each thing in ``conversion`` only single convert can express."""
    opts = options_of(conversion)
    out: list[tuple[str, str]] = []
    if isinstance(conversion.account, MergeAccount):
        out.append(("account", "per-lead Accounts target: mass convert cannot carry it"))
    if isinstance(conversion.contact, MergeContact):
        out.append(("contact", "per-lead Contacts target: mass convert cannot carry it"))
    if conversion.notify_lead_owner:
        out.append(("notify_lead_owner", "notify_lead_owner: mass convert has no such flag"))
    if conversion.notify_new_owner:
        out.append(("notify_new_owner", "notify_new_entity_owner: mass convert has no such flag"))
    if conversion.overwrite_account_name:
        out.append(("overwrite_account_name", "overwrite: mass convert has no such flag"))
    for module in tags_named(conversion.carry_over_tags):
        out.append(
            (
                f"carry_over_tags.{module.value}",
                "named tags: mass convert carries all of a lead's tags or none",
            )
        )
    if opts.add_to_existing_record:
        out.append(
            ("options.zoho.add_to_existing_record", "add_to_existing_record: single convert only")
        )
    if conversion.owner_id is None:
        out.append(("owner_id", "no owner_id: mass convert requires assign_to"))
    return out


def mass_only(conversion: Conversion) -> list[tuple[str, str]]:
    """(path, why) for each thing in ``conversion`` only mass convert can express."""
    opts = options_of(conversion)
    out: list[tuple[str, str]] = []
    for module in tags_all(conversion.carry_over_tags):
        out.append(
            (
                f"carry_over_tags.{module.value}",
                '"all" tags: only mass convert carries every tag of the lead',
            )
        )
    if opts.related_modules:
        out.append(("options.zoho.related_modules", "related_modules: mass convert only"))
    if opts.portal_user_type is not None:
        out.append(("options.zoho.portal_user_type", "portal_user_type: mass convert only"))
    if opts.apply_assignment_threshold is not None:
        out.append(
            ("options.zoho.apply_assignment_threshold", "apply_assignment_threshold: mass only")
        )
    return out


def _is_zoho_id(value: str) -> bool:
    """Whether ``value`` matches ``ZOHO_ID``; plain ASCII digits are told without the pattern."""
    if value.isdigit() and value.isascii() and len(value) <= 30:
        return True
    return ZOHO_ID.match(value) is not None


def _check_id(found: list[Violation], path: str, value: str | None, what: str) -> None:
    if value is not None and not _is_zoho_id(value):
        found.append(
            violation(
                "zoho.id.syntax",
                path,
                f"{what} must be a numeric Zoho id, got {value!r}",
                NAME,
            )
        )


#: Deals keys a deal's own fields set: ``fields`` may not name them.
_NAMED_DEAL_FIELDS = frozenset(
    {"Deal_Name", "Closing_Date", "Stage", "Amount", "Pipeline", "Contact_Role"}
)


def _deal_violations(opportunity: OpportunityTarget) -> tuple[Violation, ...]:
    """Every Zoho rule the opportunity of a conversion breaks (pure)."""
    found: list[Violation] = []
    if isinstance(opportunity, AttachOpportunity):
        found.append(
            unsupported(
                "zoho.opportunity.attach",
                "opportunity",
                "Zoho cannot attach an existing deal on conversion; it can only create one",
                NAME,
            )
        )
    elif isinstance(opportunity, CreateOpportunity) and opportunity.name is None:
        # Zoho cannot let the CRM name a deal: a whole meaning it lacks, so lenient mode drops
        # the deal (with a warning) rather than failing on its other mandatory fields.
        found.append(
            unsupported(
                "zoho.deal.name_required",
                "opportunity",
                "Zoho cannot create a deal without a name (Deals.Deal_Name is mandatory): give "
                "opportunity.name, or a default such as --default opportunity.name=... (with "
                "Stage, Closing_Date and Pipeline)",
                NAME,
            )
        )
    elif isinstance(opportunity, CreateOpportunity):
        for attr, key in (
            ("close_date", "Closing_Date"),
            ("stage", "Stage"),
            ("pipeline", "Pipeline"),
        ):
            if getattr(opportunity, attr) is None:
                found.append(
                    violation(
                        f"zoho.deal.{attr}_required",
                        f"opportunity.{attr}",
                        f"Zoho requires Deals.{key} to create a deal",
                        NAME,
                    )
                )
        _check_id(found, "opportunity.contact_role", opportunity.contact_role, "Contact_Role")
        for key in opportunity.fields:
            if key in _NAMED_DEAL_FIELDS:
                found.append(
                    violation(
                        "zoho.deal.field_conflict",
                        f"opportunity.fields.{key}",
                        f"{key} is set by the opportunity's own field, not by fields",
                        NAME,
                    )
                )
    return tuple(found)


#: Deals already checked, by identity (with the object, so an identity is never mistaken):
#: the core reads equal deals as one object. Bounded; cleared when full.
_CHECKED_DEALS: dict[int, tuple[OpportunityTarget, tuple[Violation, ...]]] = {}
_CHECKED_DEALS_MAX = 1024


def validate(conversion: Conversion) -> list[Violation]:
    """Every Zoho rule ``conversion`` breaks, all at once (pure)."""
    found: list[Violation] = []
    # Plain ASCII digits (nearly every id) are told here; _check_id tells the rest.
    lead_id = conversion.lead_id
    if not (lead_id.isdigit() and lead_id.isascii() and len(lead_id) <= 30):
        _check_id(found, "lead_id", lead_id, "the lead id")
    owner_id = conversion.owner_id
    if owner_id is not None and not (
        owner_id.isdigit() and owner_id.isascii() and len(owner_id) <= 30
    ):
        _check_id(found, "owner_id", owner_id, "assign_to (a user id)")
    account = conversion.account
    if isinstance(account, MergePersonAccount):
        found.append(
            unsupported(
                "zoho.account.person_account",
                "account",
                "Zoho has no person accounts: merge into a business account instead",
                NAME,
            )
        )
    elif isinstance(account, MergeAccount):
        _check_id(found, "account.id", account.id, "the account id")
    if isinstance(conversion.contact, MergeContact):
        _check_id(found, "contact.id", conversion.contact.id, "the contact id")
    opportunity = conversion.opportunity
    if not isinstance(opportunity, NoOpportunity):
        checked = _CHECKED_DEALS.get(id(opportunity))
        if checked is not None and checked[0] is opportunity:
            problems = checked[1]
        else:
            problems = _deal_violations(opportunity)
            if len(_CHECKED_DEALS) >= _CHECKED_DEALS_MAX:
                _CHECKED_DEALS.clear()
            _CHECKED_DEALS[id(opportunity)] = (opportunity, problems)
        found.extend(problems)
    if conversion.overwrite_lead_source:
        found.append(
            unsupported(
                "zoho.contact.overwrite_lead_source",
                "overwrite_lead_source",
                "Zoho cannot overwrite the contact's lead source on conversion",
                NAME,
            )
        )
    if (
        conversion.options
        and options_of(conversion).add_to_existing_record
        and not (isinstance(account, MergeAccount) or isinstance(conversion.contact, MergeContact))
    ):
        found.append(
            violation(
                "zoho.add_to_existing_record.needs_target",
                "options.zoho.add_to_existing_record",
                "add_to_existing_record needs an existing account or contact to add to",
                NAME,
            )
        )
    # Only Zoho options and "all" tags need mass convert: without either, nothing to look at.
    tags = conversion.carry_over_tags
    if not (conversion.options or tags.contacts or tags.accounts or tags.deals):
        return found
    mass = mass_only(conversion)
    if mass:
        single = single_only(conversion)
        if conversion.owner_id is None:
            found.append(
                violation(
                    "zoho.mass_convert.owner_required",
                    "owner_id",
                    f"{mass[0][1]}, and mass convert requires an owner (assign_to)",
                    NAME,
                )
            )
        blockers = [(p, why) for p, why in single if p != "owner_id"]
        if blockers:
            for path, why in mass:
                found.append(
                    unsupported(
                        "zoho.mass_convert.conflict",
                        path,
                        f"{why}, but this conversion also needs single convert ("
                        + "; ".join(w for _, w in blockers)
                        + "): no one Zoho call can express both",
                        NAME,
                    )
                )
    return found


#: Settings that are numbers of seconds or counts, never negative.
_NUMBERS = ("timeout", "max_retries", "backoff", "poll_interval", "poll_timeout", "doubt_wait")


def check_settings(settings: Mapping[str, str]) -> list[Violation]:
    """Every problem with ``settings`` that needs no connection (pure)."""
    found: list[Violation] = []
    try:
        api_version(settings)
    except ConfigurationError as exc:
        found.append(violation("zoho.settings.api_version", "api_version", str(exc), NAME))
    for setting in MODULE_ID_SETTINGS.values():
        value = settings.get(setting)
        if value is not None and not ZOHO_ID.match(value):
            found.append(
                violation(
                    "zoho.settings.module_id",
                    setting,
                    f"must be a numeric Zoho module id, got {value!r}",
                    NAME,
                )
            )
    for name in _NUMBERS:
        raw = settings.get(name)
        if raw is None:
            continue
        try:
            value_ok = float(raw) >= 0
        except ValueError:
            value_ok = False
        if not value_ok:
            found.append(
                violation(
                    "zoho.settings.number",
                    name,
                    f"must be a number of at least 0, got {raw!r}",
                    NAME,
                )
            )
    return found
