"""Generated conversions of realistic variety, and the same payloads built by hand.

Each generated lead has a *kind*; the hand-built payloads are written from the kinds alone,
without leadconvert, and are checked equal to leadconvert's before anything is timed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from leadconvert_salesforce import SalesforceOptions, to_18

from leadconvert import (
    CarryOverTags,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
)

# --- Zoho ---------------------------------------------------------------------------------------

ZOHO_FIRST_LEAD = 5000000000000001000
ZOHO_USERS = ("4876876000000225013", "4876876000000225015")
ZOHO_ACCOUNT = "4876876000007421010"
ZOHO_CONTACT = "4876876000007421001"
ZOHO_PIPELINE = "Standard (Standard)"
WINDOW = 5000

#: Deal templates shared by many leads (what mass convert can carry).
_TEMPLATES = {
    "A": {"name": "Spring campaign", "stage": "Needs Analysis", "amount": "1500.00"},
    "B": {"name": "Renewals", "stage": "Qualification", "amount": "990.00"},
}
#: Twenty leads in a row, by kind: 13 can share a mass convert, 7 need single convert.
ZOHO_MIX = (
    "mass_A", "mass_A", "mass_A", "mass_A", "mass_A", "mass_A", "mass_A_status", "mass_A",
    "mass_B", "mass_B", "mass_B", "mass_plain", "mass_plain",
    "single_merge", "single_merge", "single_no_owner", "single_own_deal", "single_own_deal",
    "single_tags", "single_contact",
)  # fmt: skip


def zoho_lead_id(i: int) -> str:
    return str(ZOHO_FIRST_LEAD + i)


def _zoho_deal(template: str) -> CreateOpportunity:
    t = _TEMPLATES[template]
    return CreateOpportunity(
        name=t["name"],
        stage=t["stage"],
        close_date=dt.date(2026, 12, 31),
        pipeline=ZOHO_PIPELINE,
        amount=Decimal(t["amount"]),
    )


def zoho_conversion(i: int, kind: str) -> Conversion:
    """The conversion of lead ``i`` of ``kind`` (see ``ZOHO_MIX``)."""
    lead = zoho_lead_id(i)
    if kind in ("mass_A", "mass_A_status"):
        status = "Qualified" if kind == "mass_A_status" else None
        return Conversion(
            lead, owner_id=ZOHO_USERS[0], opportunity=_zoho_deal("A"), converted_status=status
        )
    if kind == "mass_B":
        return Conversion(lead, owner_id=ZOHO_USERS[1], opportunity=_zoho_deal("B"))
    if kind == "mass_plain":
        return Conversion(lead, owner_id=ZOHO_USERS[0])
    if kind == "single_merge":
        return Conversion(
            lead, owner_id=ZOHO_USERS[0], account=MergeAccount(ZOHO_ACCOUNT), notify_lead_owner=True
        )
    if kind == "single_no_owner":
        return Conversion(lead)
    if kind == "single_own_deal":
        return Conversion(
            lead,
            owner_id=ZOHO_USERS[1],
            opportunity=CreateOpportunity(
                name=f"Deal for lead {i}",
                stage="Needs Analysis",
                close_date=dt.date(2026, 1 + i % 12, 1 + i % 28),
                pipeline=ZOHO_PIPELINE,
                amount=Decimal(f"{100 + i % 9000}.{i % 100:02d}"),
                fields={"Description": f"imported from line {i + 1}"},
            ),
        )
    if kind == "single_tags":
        return Conversion(
            lead,
            owner_id=ZOHO_USERS[0],
            carry_over_tags=CarryOverTags(contacts=("vip", "trade-show")),
            overwrite_account_name=True,
        )
    if kind == "single_contact":
        return Conversion(
            lead,
            owner_id=ZOHO_USERS[0],
            account=MergeAccount(ZOHO_ACCOUNT),
            contact=MergeContact(ZOHO_CONTACT),
            notify_new_owner=True,
        )
    raise ValueError(kind)


def zoho_mixed(n: int) -> list[tuple[str, Conversion]]:
    kinds = (ZOHO_MIX[i % len(ZOHO_MIX)] for i in range(n))
    return [(kind, zoho_conversion(i, kind)) for i, kind in enumerate(kinds)]


def zoho_homogeneous(n: int) -> list[tuple[str, Conversion]]:
    return [("mass_A", zoho_conversion(i, "mass_A")) for i in range(n)]


def _hand_deal(template: str) -> dict[str, Any]:
    t = _TEMPLATES[template]
    return {
        "Deal_Name": t["name"],
        "Closing_Date": "2026-12-31",
        "Stage": t["stage"],
        "Amount": float(t["amount"]),
        "Pipeline": ZOHO_PIPELINE,
    }


def _hand_single(i: int, kind: str) -> dict[str, Any]:
    """Single convert's ``data[0]`` for lead ``i``, written by hand."""
    if kind == "single_merge":
        return {
            "notify_lead_owner": True,
            "Accounts": {"id": ZOHO_ACCOUNT},
            "assign_to": {"id": ZOHO_USERS[0]},
        }
    if kind == "single_no_owner":
        return {}
    if kind == "single_own_deal":
        return {
            "assign_to": {"id": ZOHO_USERS[1]},
            "Deals": {
                "Deal_Name": f"Deal for lead {i}",
                "Closing_Date": dt.date(2026, 1 + i % 12, 1 + i % 28).isoformat(),
                "Stage": "Needs Analysis",
                "Amount": float(f"{100 + i % 9000}.{i % 100:02d}"),
                "Pipeline": ZOHO_PIPELINE,
                "Description": f"imported from line {i + 1}",
            },
        }
    if kind == "single_tags":
        return {
            "overwrite": True,
            "assign_to": {"id": ZOHO_USERS[0]},
            "carry_over_tags": {"Contacts": ["vip", "trade-show"]},
        }
    if kind == "single_contact":
        return {
            "notify_new_entity_owner": True,
            "Accounts": {"id": ZOHO_ACCOUNT},
            "Contacts": {"id": ZOHO_CONTACT},
            "assign_to": {"id": ZOHO_USERS[0]},
        }
    raise ValueError(kind)


def _hand_mass(ids: list[str], group: str) -> dict[str, Any]:
    if group == "A":
        return {"ids": ids, "Deals": _hand_deal("A"), "assign_to": {"id": ZOHO_USERS[0]}}
    if group == "B":
        return {"ids": ids, "Deals": _hand_deal("B"), "assign_to": {"id": ZOHO_USERS[1]}}
    return {"ids": ids, "assign_to": {"id": ZOHO_USERS[0]}}


def zoho_hand_payloads(kinds: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every call, by hand: per window, groups of up to 50 in first-seen order.

    A lead that can go mass but shares its options with no other lead goes single convert.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(kinds), WINDOW):
        order: list[Any] = []
        groups: dict[str, list[int]] = {}
        for i in range(start, min(start + WINDOW, len(kinds))):
            kind = kinds[i]
            group = {"mass_A": "A", "mass_A_status": "A", "mass_B": "B", "mass_plain": "P"}.get(
                kind, f"own:{i}" if kind == "single_own_deal" else None
            )
            if group is None:
                order.append(i)
                continue
            if group not in groups:
                groups[group] = []
                order.append(group)
            groups[group].append(i)
        for entry in order:
            members = [entry] if isinstance(entry, int) else groups[entry]
            if isinstance(entry, int) or len(members) == 1:
                i = members[0]
                out.append(
                    (
                        f"/crm/v8/Leads/{zoho_lead_id(i)}/actions/convert",
                        {"data": [_hand_single(i, kinds[i])]},
                    )
                )
                continue
            for at in range(0, len(members), 50):
                ids = [zoho_lead_id(i) for i in members[at : at + 50]]
                out.append(("/crm/v8/Leads/actions/mass_convert", _hand_mass(ids, entry)))
    return out


# --- Salesforce ---------------------------------------------------------------------------------

SF_ACCOUNT = "001000000000002"
SF_CONTACT = "003000000000002"
SF_USER = "005000000000002"
SF_STATUS_PLACEHOLDER = "{{DISCOVERED_CONVERTED_STATUS}}"
SF_MIX = (
    "plain", "plain", "plain", "plain", "plain", "plain", "plain", "plain",
    "named", "named", "named", "named", "follow_up", "follow_up",
    "merge", "merge", "owner", "owner", "status", "status",
)  # fmt: skip


def sf_lead_id(i: int) -> str:
    return to_18(f"00QB{i:011d}")


def sf_conversion(i: int, kind: str) -> Conversion:
    """The conversion of lead ``i`` of ``kind`` (see ``SF_MIX``)."""
    lead = sf_lead_id(i)
    if kind == "plain":
        return Conversion(lead)
    if kind == "named":
        return Conversion(lead, opportunity=CreateOpportunity(name=f"Bulk deal {i}"))
    if kind == "follow_up":
        return Conversion(
            lead,
            opportunity=CreateOpportunity(
                name=f"Bulk deal {i}",
                stage="Prospecting",
                close_date=dt.date(2026, 12, 31),
                amount=Decimal("250.00"),
            ),
        )
    if kind == "merge":
        return Conversion(
            lead,
            account=MergeAccount(SF_ACCOUNT),
            contact=MergeContact(SF_CONTACT),
            overwrite_lead_source=True,
        )
    if kind == "owner":
        return Conversion(lead, owner_id=SF_USER, notify_new_owner=True)
    if kind == "status":
        return Conversion(
            lead,
            converted_status="Closed - Converted",
            options=(SalesforceOptions(bypass_account_dedupe_check=True),),
        )
    raise ValueError(kind)


def sf_mixed(n: int) -> list[tuple[str, Conversion]]:
    return [(SF_MIX[i % len(SF_MIX)], sf_conversion(i, SF_MIX[i % len(SF_MIX)])) for i in range(n)]


def sf_homogeneous(n: int) -> list[tuple[str, Conversion]]:
    return [("plain", sf_conversion(i, "plain")) for i in range(n)]


def _sf_row(i: int, kind: str) -> tuple[tuple[str, str], ...]:
    """One LeadConvert's (element, text) pairs in WSDL order, by hand (no text needs escaping)."""
    lead = sf_lead_id(i)
    if kind == "plain":
        pairs = [("convertedStatus", SF_STATUS_PLACEHOLDER), ("doNotCreateOpportunity", "true"),
                 ("leadId", lead), ("overwriteLeadSource", "false"),
                 ("sendNotificationEmail", "false")]  # fmt: skip
    elif kind in ("named", "follow_up"):
        pairs = [("convertedStatus", SF_STATUS_PLACEHOLDER), ("doNotCreateOpportunity", "false"),
                 ("leadId", lead), ("opportunityName", f"Bulk deal {i}"),
                 ("overwriteLeadSource", "false"), ("sendNotificationEmail", "false")]  # fmt: skip
    elif kind == "merge":
        pairs = [("accountId", to_18(SF_ACCOUNT)), ("contactId", to_18(SF_CONTACT)),
                 ("convertedStatus", SF_STATUS_PLACEHOLDER), ("doNotCreateOpportunity", "true"),
                 ("leadId", lead), ("overwriteLeadSource", "true"),
                 ("sendNotificationEmail", "false")]  # fmt: skip
    elif kind == "owner":
        pairs = [("convertedStatus", SF_STATUS_PLACEHOLDER), ("doNotCreateOpportunity", "true"),
                 ("leadId", lead), ("overwriteLeadSource", "false"), ("ownerId", to_18(SF_USER)),
                 ("sendNotificationEmail", "true")]  # fmt: skip
    elif kind == "status":
        pairs = [("bypassAccountDedupeCheck", "true"), ("convertedStatus", "Closed - Converted"),
                 ("doNotCreateOpportunity", "true"), ("leadId", lead),
                 ("overwriteLeadSource", "false"), ("sendNotificationEmail", "false")]  # fmt: skip
    else:
        raise ValueError(kind)
    return tuple(pairs)


SF_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
    "<soapenv:Header><SessionHeader><sessionId>{{SALESFORCE_SESSION_ID}}</sessionId>"
    "</SessionHeader></soapenv:Header><soapenv:Body><convertLead>"
)
SF_TAIL = "</convertLead></soapenv:Body></soapenv:Envelope>"


def sf_hand_payloads(kinds: list[str]) -> list[Any]:
    """Per call, by hand: a tuple of rows (convertLead) or a dict (the opportunity update)."""
    out: list[Any] = []
    for start in range(0, len(kinds), 100):
        chunk = range(start, min(start + 100, len(kinds)))
        out.append(tuple(_sf_row(i, kinds[i]) for i in chunk))
        for i in chunk:
            if kinds[i] == "follow_up":
                out.append({"StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 250.0})
    return out


def sf_floor(payloads: list[Any]) -> list[str]:
    """The floor: a plain string join (XML) or ``json.dumps`` (updates) of prepared payloads."""
    out = []
    for payload in payloads:
        if isinstance(payload, dict):
            out.append(json.dumps(payload))
        else:
            out.append(
                SF_HEAD
                + "".join(
                    "<leadConverts>"
                    + "".join([f"<{name}>{text}</{name}>" for name, text in row])
                    + "</leadConverts>"
                    for row in payload
                )
                + SF_TAIL
            )
    return out


# --- Dynamics 365 -------------------------------------------------------------------------------

DYN_ACCOUNT = "00000002-0000-4000-8000-000000000000"
DYN_CONTACT = "00000003-0000-4000-8000-000000000000"
DYN_USER = "00000005-0000-4000-8000-000000000001"
#: Twenty leads in a row: 8 plain, 4 with a named opportunity (a follow-up sets its name), 2
#: with an opportunity of stage, date and amount and an owner (follow-ups of all three records),
#: 2 merged into an account and a contact (a bind in the change set), 2 with an owner, 2 with a
#: statuscode.
DYN_MIX = (
    "plain", "plain", "plain", "plain", "plain", "plain", "plain", "plain",
    "named", "named", "named", "named", "follow_up", "follow_up",
    "merge", "merge", "owner", "owner", "status", "status",
)  # fmt: skip


def dyn_lead_id(i: int) -> str:
    """The id of the ``i``-th lead the Dynamics emulator generates from its seed."""
    return f"{0x1EAD:08x}-0000-4000-8000-{i:012x}"


# --- files and seeds ----------------------------------------------------------------------------

#: The workloads: (backend, kinds of twenty leads in a row, line of lead ``i`` of a kind).
WORKLOADS = ("zoho_homogeneous", "zoho_mixed", "salesforce_mixed", "dynamics_mixed")
BACKEND = {
    "zoho_homogeneous": "zoho",
    "zoho_mixed": "zoho",
    "salesforce_mixed": "salesforce",
    "dynamics_mixed": "dynamics",
}


def _zoho_line(i: int, kind: str) -> str:
    lead = zoho_lead_id(i)
    if kind in ("mass_A", "mass_A_status", "mass_B"):
        t = _TEMPLATES["B" if kind == "mass_B" else "A"]
        owner = ZOHO_USERS[1 if kind == "mass_B" else 0]
        status = ', "converted_status": "Qualified"' if kind == "mass_A_status" else ""
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", "name": "{t["name"]}", '
            f'"stage": "{t["stage"]}", "close_date": "2026-12-31", "pipeline": "{ZOHO_PIPELINE}", '
            f'"amount": "{t["amount"]}"}}, "owner_id": "{owner}"{status}}}\n'
        )
    if kind == "mass_plain":
        return f'{{"lead_id": "{lead}", "owner_id": "{ZOHO_USERS[0]}"}}\n'
    if kind == "single_merge":
        return (
            f'{{"lead_id": "{lead}", "account": {{"action": "merge", "id": "{ZOHO_ACCOUNT}"}}, '
            f'"owner_id": "{ZOHO_USERS[0]}", "notify_lead_owner": true}}\n'
        )
    if kind == "single_no_owner":
        return f'{{"lead_id": "{lead}"}}\n'
    if kind == "single_own_deal":
        close = dt.date(2026, 1 + i % 12, 1 + i % 28).isoformat()
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", '
            f'"name": "Deal for lead {i}", "stage": "Needs Analysis", "close_date": "{close}", '
            f'"pipeline": "{ZOHO_PIPELINE}", "amount": "{100 + i % 9000}.{i % 100:02d}", '
            f'"fields": {{"Description": "imported from line {i + 1}"}}}}, '
            f'"owner_id": "{ZOHO_USERS[1]}"}}\n'
        )
    if kind == "single_tags":
        return (
            f'{{"lead_id": "{lead}", "owner_id": "{ZOHO_USERS[0]}", '
            '"overwrite_account_name": true, "carry_over_tags": {"contacts": ["vip", '
            '"trade-show"]}}\n'
        )
    if kind == "single_contact":
        return (
            f'{{"lead_id": "{lead}", "account": {{"action": "merge", "id": "{ZOHO_ACCOUNT}"}}, '
            f'"contact": {{"action": "merge", "id": "{ZOHO_CONTACT}"}}, '
            f'"owner_id": "{ZOHO_USERS[0]}", "notify_new_owner": true}}\n'
        )
    raise ValueError(kind)


def _sf_line(i: int, kind: str) -> str:
    lead = sf_lead_id(i)
    if kind == "plain":
        return f'{{"lead_id": "{lead}"}}\n'
    if kind == "named":
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", '
            f'"name": "Bulk deal {i}"}}}}\n'
        )
    if kind == "follow_up":
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", "name": "Bulk deal {i}", '
            '"stage": "Prospecting", "close_date": "2026-12-31", "amount": "250.00"}}\n'
        )
    if kind == "merge":
        return (
            f'{{"lead_id": "{lead}", "account": {{"action": "merge", "id": "{SF_ACCOUNT}"}}, '
            f'"contact": {{"action": "merge", "id": "{SF_CONTACT}"}}, '
            '"overwrite_lead_source": true}\n'
        )
    if kind == "owner":
        return f'{{"lead_id": "{lead}", "owner_id": "{SF_USER}", "notify_new_owner": true}}\n'
    if kind == "status":
        return (
            f'{{"lead_id": "{lead}", "converted_status": "Closed - Converted", '
            '"options": {"salesforce": {"bypass_account_dedupe_check": true}}}\n'
        )
    raise ValueError(kind)


def _dyn_line(i: int, kind: str) -> str:
    lead = dyn_lead_id(i)
    if kind == "plain":
        return f'{{"lead_id": "{lead}"}}\n'
    if kind == "named":
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", "name": "Deal {i}"}}}}\n'
        )
    if kind == "follow_up":
        return (
            f'{{"lead_id": "{lead}", "opportunity": {{"action": "create", "name": "Deal {i}", '
            '"stage": "Propose", "close_date": "2026-12-31", "amount": "250.00"}, '
            f'"owner_id": "{DYN_USER}"}}\n'
        )
    if kind == "merge":
        return (
            f'{{"lead_id": "{lead}", "account": {{"action": "merge", "id": "{DYN_ACCOUNT}"}}, '
            f'"contact": {{"action": "merge", "id": "{DYN_CONTACT}"}}}}\n'
        )
    if kind == "owner":
        return f'{{"lead_id": "{lead}", "owner_id": "{DYN_USER}"}}\n'
    if kind == "status":
        return f'{{"lead_id": "{lead}", "converted_status": "3"}}\n'
    raise ValueError(kind)


def jsonl_lines(workload: str, n: int) -> Iterator[str]:
    """The ``n`` lines of a workload's JSON Lines input, as users write them (the neutral form,
    documented in docs/json-form.md)."""
    if workload == "zoho_homogeneous":
        for i in range(n):
            yield _zoho_line(i, "mass_A")
    elif workload == "zoho_mixed":
        for i in range(n):
            yield _zoho_line(i, ZOHO_MIX[i % len(ZOHO_MIX)])
    elif workload == "salesforce_mixed":
        for i in range(n):
            yield _sf_line(i, SF_MIX[i % len(SF_MIX)])
    elif workload == "dynamics_mixed":
        for i in range(n):
            yield _dyn_line(i, DYN_MIX[i % len(DYN_MIX)])
    else:
        raise ValueError(workload)
