"""Native Dynamics 365 requests -> neutral conversions (pure).

Reads what ``plan`` shows: a qualify ``$batch`` (each lead's optional parent bind and its
QualifyLead), its follow-up ``$batch`` (the opportunity's name and fields, the owner of the new
records), or a single QualifyLead request as a Dataverse client sends it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from leadconvert import (
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
)
from leadconvert.backend import PlannedCall

from ._ids import IdError, canonical_guid
from ._options import DynamicsOptions
from ._wire import (
    DEFAULT_API_VERSION,
    FOLLOW_UP_KIND,
    PLACEHOLDER,
    QUALIFY_ACTION,
    QUALIFY_KIND,
    ChangeSet,
    FollowUpBatch,
    FollowUpStep,
    LeadBind,
    LeadQualify,
    Part,
    QualifyBatch,
    QualifyLeadBody,
    bind_from_wire,
    parse_batch_request,
    qualify_from_wire,
)

__all__ = [
    "conversion_from",
    "parse_calls",
    "parse_follow_up_batch",
    "parse_native",
    "parse_qualify_batch",
    "with_follow_up",
]

_LEAD_URL = re.compile(r"(?:^|/)leads\(([^()]+)\)(/Microsoft\.Dynamics\.CRM\.QualifyLead)?$")
_RECORD_URL = re.compile(r"(?:^|/)(accounts|contacts|opportunities)\(([^()]+)\)$")
_ROLES = {"accounts": "account", "contacts": "contact", "opportunities": "opportunity"}
_OWNER = re.compile(r"^/systemusers\(([^()]+)\)$")


def _key(lead_id: str) -> str:
    try:
        return canonical_guid(lead_id)
    except IdError:
        return lead_id


def conversion_from(lead: LeadQualify) -> Conversion:
    """The neutral conversion one lead's bind and QualifyLead express.

    With ``CreateOpportunity`` the opportunity is ``NoOpportunity`` here: its name and fields
    come from the follow-up update (``with_follow_up``); without one, ``parse_calls`` makes it
    an opportunity named by Dynamics.
    """
    where = f"lead {lead.lead_id}"
    q, bind = lead.qualify, lead.bind or LeadBind()
    customer = q.opportunity_customer
    account_id = bind.parent_account_id
    contact_id = bind.parent_contact_id
    if customer is not None and customer.entity not in ("account", "contact"):
        raise InputError(f"{where}: OpportunityCustomerId is an account or a contact")
    # The documented route without a bind: OpportunityCustomerId names the existing customer.
    if customer is not None and customer.entity == "account" and account_id is None:
        account_id = customer.id
    if customer is not None and customer.entity == "contact" and contact_id is None:
        contact_id = customer.id
    if q.create_account and bind.parent_account_id is not None:
        raise InputError(f"{where}: CreateAccount is true but the lead is bound to an account")
    if q.create_contact and bind.parent_contact_id is not None:
        raise InputError(f"{where}: CreateContact is true but the lead is bound to a contact")
    if not q.create_account and account_id is None:
        raise InputError(
            f"{where}: CreateAccount is false and no existing account is named; the neutral "
            "form always creates or merges an account"
        )
    if not q.create_contact and contact_id is None:
        raise InputError(
            f"{where}: CreateContact is false and no existing contact is named; the neutral "
            "form always creates or merges a contact"
        )
    options = None
    if (
        q.opportunity_currency is not None
        or q.source_campaign is not None
        or q.suppress_duplicate_detection
    ):
        options = DynamicsOptions(
            currency_id=q.opportunity_currency.id if q.opportunity_currency else None,
            source_campaign_id=q.source_campaign.id if q.source_campaign else None,
            suppress_duplicate_detection=True if q.suppress_duplicate_detection else None,
        )
    status = q.status
    try:
        conversion = Conversion(
            lead_id=lead.lead_id,
            account=CreateAccount() if q.create_account else MergeAccount(str(account_id)),
            contact=CreateContact() if q.create_contact else MergeContact(str(contact_id)),
            converted_status=None if status is None else str(status),
            options=(options,) if options is not None else (),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from exc
    return conversion


def with_follow_up(
    conversion: Conversion, step: FollowUpStep, *, creates_opportunity: bool
) -> Conversion:
    """``conversion`` with what one follow-up update says (opportunity fields, owner)."""
    where = f"lead {conversion.lead_id}"
    body = dict(step.body)
    owner_bind = body.pop("ownerid@odata.bind", None)
    changes: dict[str, Any] = {}
    if owner_bind is not None:
        match = _OWNER.match(owner_bind) if isinstance(owner_bind, str) else None
        if match is None:
            raise InputError(f"{where}: ownerid@odata.bind is /systemusers(<id>)")
        if conversion.owner_id is not None and conversion.owner_id != match.group(1):
            raise InputError(f"{where}: the follow-ups name two owners")
        changes["owner_id"] = match.group(1)
    if step.role == "opportunity":
        if not creates_opportunity or isinstance(conversion.opportunity, CreateOpportunity):
            raise InputError(
                f"{where}: an opportunity update, but QualifyLead creates none (or it was "
                "updated twice)"
            )
        name = body.pop("name", None)
        if name is not None and not isinstance(name, str):
            raise InputError(f"{where}: the opportunity's name is text")
        close = body.pop("estimatedclosedate", None)
        amount = body.pop("estimatedvalue", None)
        stage = body.pop("stepname", None)
        try:
            changes["opportunity"] = CreateOpportunity(
                name=name,
                close_date=dt.date.fromisoformat(close) if close is not None else None,
                amount=Decimal(amount) if isinstance(amount, int | str) else amount,
                stage=stage,
                fields=body,
            )
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise InputError(f"{where}: opportunity update: {exc}") from exc
    elif body:
        raise InputError(
            f"{where}: an update of the created {step.role} sets only its owner, not "
            + ", ".join(sorted(body))
        )
    try:
        return attrs.evolve(conversion, **changes)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from exc


def _qualify_leads(items: Sequence[Part | ChangeSet], where: str) -> list[LeadQualify]:
    out: list[LeadQualify] = []
    for number, item in enumerate(items, 1):
        parts = item.parts if isinstance(item, ChangeSet) else (item,)
        bind: LeadBind | None = None
        qualify: QualifyLeadBody | None = None
        lead: str | None = None
        for part in parts:
            match = _LEAD_URL.search(part.url)
            if match is None:
                raise InputError(f"{where}, part {number}: {part.url} is not a lead or QualifyLead")
            if lead is not None and _key(match.group(1)) != _key(lead):
                raise InputError(f"{where}, part {number}: a change set names two leads")
            lead = match.group(1)
            try:
                if match.group(2) and part.method == "POST":
                    if qualify is not None:
                        raise InputError(f"{where}, part {number}: QualifyLead twice")
                    qualify = qualify_from_wire(part.json)
                elif not match.group(2) and part.method == "PATCH" and qualify is None:
                    bind = bind_from_wire(part.json)
                else:
                    raise InputError(
                        f"{where}, part {number}: expected PATCH leads(<id>) then POST "
                        f"leads(<id>)/{QUALIFY_ACTION}, got {part.method} {part.url}"
                    )
            except ValueError as exc:
                raise InputError(f"{where}, part {number}: {exc}") from exc
        if qualify is None or lead is None:
            raise InputError(f"{where}, part {number}: a lead's bind without its QualifyLead")
        out.append(LeadQualify(lead, qualify, bind))
    return out


def _follow_steps(items: Sequence[Part | ChangeSet], where: str) -> list[FollowUpStep]:
    parts = [p for item in items for p in (item.parts if isinstance(item, ChangeSet) else (item,))]
    steps: list[FollowUpStep] = []
    for number, part in enumerate(parts, 1):
        match = _RECORD_URL.search(part.url)
        placeholder = PLACEHOLDER.fullmatch(match.group(2)) if match else None
        if (
            part.method != "PATCH"
            or match is None
            or placeholder is None
            or _ROLES[match.group(1)] != placeholder.group(1)
            or not isinstance(part.json, Mapping)
        ):
            raise InputError(
                f"{where}, part {number}: a follow-up is PATCH <entity set>({{<role> of lead "
                "<id>}}) of a record the qualify created, with a JSON body"
            )
        steps.append(FollowUpStep(placeholder.group(2), placeholder.group(1), part.json))
    return steps


def _all_records(items: Sequence[Part | ChangeSet]) -> bool:
    parts = [p for item in items for p in (item.parts if isinstance(item, ChangeSet) else (item,))]
    return bool(parts) and all(_RECORD_URL.search(p.url) for p in parts)


def _batch_items(call: PlannedCall, where: str) -> list[Part | ChangeSet]:
    body = call.request.body
    if body is None:
        raise InputError(f"{where}: a $batch request carries its multipart body as body")
    content_type = next(
        (v for k, v in call.request.headers.items() if k.lower() == "content-type"), ""
    )
    if "boundary=" not in content_type:
        # A plan shows no headers: the body's first line is its boundary.
        first = body.lstrip("\r\n").split("\r\n", 1)[0].split("\n", 1)[0]
        if not first.startswith("--"):
            raise InputError(f"{where}: the body is not multipart (no --boundary line)")
        content_type = f"multipart/mixed; boundary={first[2:].strip()}"
    try:
        return parse_batch_request(body, content_type)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from exc


def parse_calls(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """Conversions from the calls of a plan: qualify batches, then their follow-ups."""
    conversions: list[Conversion] = []
    by_lead: dict[str, int] = {}
    # Leads whose QualifyLead creates an opportunity not (yet) updated by a follow-up.
    unnamed: set[int] = set()
    for number, call in enumerate(calls, 1):
        where = f"request {number}"
        content = call.request.content
        items = (
            _batch_items(call, where) if content is None and call.request.body is not None else None
        )
        is_follow = (
            call.kind == FOLLOW_UP_KIND
            or isinstance(content, FollowUpBatch)
            or (not call.kind and items is not None and _all_records(items))
        )
        if is_follow:
            if isinstance(content, FollowUpBatch):
                steps = list(content.steps)
            else:
                steps = _follow_steps(items or [], where)
            for step in steps:
                index = by_lead.get(_key(step.lead_id))
                if index is None:
                    raise InputError(
                        f"{where}: a follow-up names lead {step.lead_id}, not qualified before it"
                    )
                conversions[index] = with_follow_up(
                    conversions[index], step, creates_opportunity=index in unnamed
                )
                if step.role == "opportunity":
                    unnamed.discard(index)
            continue
        if isinstance(content, QualifyBatch):
            leads = list(content.leads)
        elif items is not None:
            leads = _qualify_leads(items, where)
        elif call.request.json is not None:
            leads = [_single(call, where)]
        else:
            raise InputError(f"{where}: neither a $batch body nor a QualifyLead JSON body")
        if call.kind and call.kind != QUALIFY_KIND and not leads:
            raise InputError(f"{where}: unknown kind {call.kind!r}")
        for lead in leads:
            if lead.qualify.create_opportunity:
                unnamed.add(len(conversions))
            by_lead[_key(lead.lead_id)] = len(conversions)
            conversions.append(conversion_from(lead))
    for index in sorted(unnamed):
        # No follow-up for it: Dynamics names the opportunity after the lead's topic.
        conversions[index] = attrs.evolve(conversions[index], opportunity=CreateOpportunity())
    return conversions


def _single(call: PlannedCall, where: str) -> LeadQualify:
    match = _LEAD_URL.search(call.request.path)
    if match is None or not match.group(2):
        raise InputError(
            f"{where}: a QualifyLead body alone does not name its lead: give the request with "
            f"its path, leads(<id>)/{QUALIFY_ACTION}"
        )
    try:
        return LeadQualify(match.group(1), qualify_from_wire(call.request.json))
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from exc


def _number(call: PlannedCall) -> int:
    found = re.search(r"batch_lc(\d+)", call.request.body or "")
    return int(found.group(1)) if found else 1


def parse_qualify_batch(call: PlannedCall) -> QualifyBatch:
    """The structured form of a qualify ``$batch`` read from its body (a plan read back)."""
    match = re.search(r"/api/data/(v[\d.]+)/", call.request.path)
    version = match.group(1) if match else DEFAULT_API_VERSION
    leads = _qualify_leads(_batch_items(call, "the $batch"), "the $batch")
    return QualifyBatch(version, _number(call), tuple(leads))


def parse_follow_up_batch(call: PlannedCall) -> FollowUpBatch:
    """The structured form of a follow-up ``$batch`` read from its body."""
    match = re.search(r"/api/data/(v[\d.]+)/", call.request.path)
    version = match.group(1) if match else DEFAULT_API_VERSION
    steps = _follow_steps(_batch_items(call, "the $batch"), "the $batch")
    return FollowUpBatch(version, _number(call), tuple(steps))


def parse_native(calls: Sequence[PlannedCall]) -> list[Conversion]:
    """Conversions from a plan's calls, one request of a plan, or a bare native body."""
    if not calls:
        return []
    return parse_calls(calls)
