"""The same-work floor of ``leadconvert plan``: ``python -m benchmarks._floor BACKEND FILE``.

It does what ``leadconvert plan --backend BACKEND FILE`` does for the benchmark's workloads, from
the same input file to the same output, with the standard library's ``json`` and nothing else:
it reads the JSON Lines, takes them in windows of 5,000 as the pipeline does, groups the leads
the same way (Zoho: single or mass convert by the same rules and reasons, mass groups keyed by
their shared options, batches of 50; Salesforce: rows of 100, ids in their 18-character form,
XML text escaped, follow-up updates; Dynamics 365: ``$batch`` change sets of 10 with binds and
follow-ups, boundaries checked against the payload) and prints a plan document that the
benchmark checks JSON-equal to leadconvert's before it times anything.

What it leaves out is what a floor may leave out: it checks no rule (the workloads are valid),
knows only the shapes the workloads hold, and imports nothing from leadconvert.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import islice
from typing import Any, TextIO

WINDOW = 5000
_dumps = json.dumps


def _records(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8-sig") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)


def _windows(path: str) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    numbered = enumerate(_records(path), 1)
    while chunk := list(islice(numbered, WINDOW)):
        yield chunk


class _Document:
    """Writes the plan document as ``leadconvert plan`` lays it out."""

    def __init__(self, backend: str, out: TextIO) -> None:
        self.out = out
        self.calls = 0
        self.warnings: list[str] = []
        out.write(f'{{"backend": "{backend}",\n "requests": [')

    def request(self, request: dict[str, Any]) -> None:
        self.out.write(("\n  " if self.calls == 0 else ",\n  ") + _dumps(request))
        self.calls += 1

    def finish(self) -> None:
        self.out.write(f'\n ],\n "calls": {self.calls},\n "warnings": [')
        self.out.write(", ".join(self.warnings))
        self.out.write("]}\n")


# --- Zoho ---------------------------------------------------------------------------------------

_ZOHO_STATUS_WARNING = (
    ', "rule": "zoho.converted_status.ignored", "path": "converted_status", "message": "Zoho has '
    'no converted lead status: the value is ignored", "backend": "zoho"}'
)
_ALONE = "no other lead shares these options: single convert answers at once"


def _zoho_deal(opportunity: dict[str, Any] | None) -> dict[str, Any] | None:
    if opportunity is None or opportunity.get("action") != "create":
        return None
    deal: dict[str, Any] = {"Deal_Name": opportunity["name"]}
    if "close_date" in opportunity:
        deal["Closing_Date"] = opportunity["close_date"]
    if "stage" in opportunity:
        deal["Stage"] = opportunity["stage"]
    if "amount" in opportunity:
        deal["Amount"] = float(opportunity["amount"])
    if "pipeline" in opportunity:
        deal["Pipeline"] = opportunity["pipeline"]
    deal.update(opportunity.get("fields", ()))
    return deal


def _zoho_single_reasons(r: dict[str, Any]) -> list[str]:
    out = []
    if (r.get("account") or {}).get("action") == "merge":
        out.append("per-lead Accounts target: mass convert cannot carry it")
    if (r.get("contact") or {}).get("action") == "merge":
        out.append("per-lead Contacts target: mass convert cannot carry it")
    if r.get("notify_lead_owner"):
        out.append("notify_lead_owner: mass convert has no such flag")
    if r.get("notify_new_owner"):
        out.append("notify_new_entity_owner: mass convert has no such flag")
    if r.get("overwrite_account_name"):
        out.append("overwrite: mass convert has no such flag")
    tags = r.get("carry_over_tags") or {}
    for module in ("contacts", "accounts", "deals"):
        if tags.get(module) and tags[module] != "all":
            out.append("named tags: mass convert carries all of a lead's tags or none")
    if r.get("owner_id") is None:
        out.append("no owner_id: mass convert requires assign_to")
    return list(dict.fromkeys(out))


def _zoho_single(r: dict[str, Any], reason: str) -> dict[str, Any]:
    lead = r["lead_id"]
    data: dict[str, Any] = {}
    if r.get("overwrite_account_name"):
        data["overwrite"] = True
    if r.get("notify_lead_owner"):
        data["notify_lead_owner"] = True
    if r.get("notify_new_owner"):
        data["notify_new_entity_owner"] = True
    account, contact = r.get("account") or {}, r.get("contact") or {}
    if account.get("action") == "merge":
        data["Accounts"] = {"id": account["id"]}
    if contact.get("action") == "merge":
        data["Contacts"] = {"id": contact["id"]}
    if r.get("owner_id"):
        data["assign_to"] = {"id": r["owner_id"]}
    deal = _zoho_deal(r.get("opportunity"))
    if deal is not None:
        data["Deals"] = deal
    tags = r.get("carry_over_tags") or {}
    named = {k.capitalize(): list(v) for k, v in tags.items() if v and v != "all"}
    if named:
        data["carry_over_tags"] = named
    return {
        "method": "POST",
        "path": f"/crm/v8/Leads/{lead}/actions/convert",
        "query": {},
        "json": {"data": [data]},
        "kind": "convert",
        "leads": [lead],
        "reason": reason,
    }


def _zoho_key(r: dict[str, Any]) -> tuple[Any, ...]:
    opportunity = r.get("opportunity")
    if opportunity is not None:
        fields = opportunity.get("fields")
        opportunity = tuple(
            (k, tuple(v.items()) if k == "fields" else v)
            for k, v in opportunity.items()
            if k != "fields" or fields
        )
    return (r.get("owner_id"), opportunity)


def zoho(path: str, out: TextIO) -> None:
    doc = _Document("zoho", out)
    for window in _windows(path):
        order: list[Any] = []
        groups: dict[tuple[Any, ...], tuple[dict[str, Any], list[str]]] = {}
        for line, r in window:
            if r.get("converted_status") is not None:
                doc.warnings.append(
                    f'{{"line": {line}, "lead_id": "{r["lead_id"]}"' + _ZOHO_STATUS_WARNING
                )
            reasons = _zoho_single_reasons(r)
            if reasons:
                order.append((r, "; ".join(reasons)))
                continue
            key = _zoho_key(r)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (r, [])
                order.append(group)
            group[1].append(r["lead_id"])
        for first, entry in order:
            if isinstance(entry, str):
                doc.request(_zoho_single(first, entry))
                continue
            if len(entry) == 1:
                doc.request(_zoho_single(first, _ALONE))
                continue
            shared: dict[str, Any] = {}
            deal = _zoho_deal(first.get("opportunity"))
            if deal is not None:
                shared["Deals"] = deal
            if first.get("owner_id"):
                shared["assign_to"] = {"id": first["owner_id"]}
            chunks = [entry[i : i + 50] for i in range(0, len(entry), 50)]
            for index, chunk in enumerate(chunks, 1):
                doc.request(
                    {
                        "method": "POST",
                        "path": "/crm/v8/Leads/actions/mass_convert",
                        "query": {},
                        "json": {"ids": chunk, **shared},
                        "kind": "mass_convert",
                        "leads": chunk,
                        "reason": f"{len(entry)} lead(s) share these options and need nothing "
                        f"mass convert lacks: batch {index} of {len(chunks)} (at most 50 ids)",
                    }
                )
    doc.finish()


# --- Salesforce ---------------------------------------------------------------------------------

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def to_18(record_id: str) -> str:
    """A Salesforce id in its 18-character form (the checksum of case over three blocks)."""
    if len(record_id) == 18:
        return record_id
    suffix = ""
    for block in (record_id[0:5], record_id[5:10], record_id[10:15]):
        bits = sum(1 << i for i, c in enumerate(block) if c in _UPPER)
        suffix += _SUFFIX[bits]
    return record_id + suffix


def _xml(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


_SF_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
    "<soapenv:Header><SessionHeader><sessionId>{{SALESFORCE_SESSION_ID}}</sessionId>"
    "</SessionHeader></soapenv:Header><soapenv:Body><convertLead>"
)
_SF_TAIL = "</convertLead></soapenv:Body></soapenv:Envelope>"
_DISCOVERED = "{{DISCOVERED_CONVERTED_STATUS}}"
_SF_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}


def _sf_row(r: dict[str, Any]) -> str:
    account, contact = r.get("account") or {}, r.get("contact") or {}
    opportunity = r.get("opportunity") or {}
    options = (r.get("options") or {}).get("salesforce") or {}
    parts = ["<leadConverts>"]
    if account.get("action") == "merge":
        parts.append(f"<accountId>{to_18(account['id'])}</accountId>")
    if "bypass_account_dedupe_check" in options:
        value = "true" if options["bypass_account_dedupe_check"] else "false"
        parts.append(f"<bypassAccountDedupeCheck>{value}</bypassAccountDedupeCheck>")
    if contact.get("action") == "merge":
        parts.append(f"<contactId>{to_18(contact['id'])}</contactId>")
    status = r.get("converted_status")
    parts.append(f"<convertedStatus>{_xml(status) if status else _DISCOVERED}</convertedStatus>")
    create = opportunity.get("action") == "create"
    no_opportunity = "false" if create else "true"
    parts.append(f"<doNotCreateOpportunity>{no_opportunity}</doNotCreateOpportunity>")
    parts.append(f"<leadId>{to_18(r['lead_id'])}</leadId>")
    if create:
        parts.append(f"<opportunityName>{_xml(opportunity['name'])}</opportunityName>")
    overwrite = "true" if r.get("overwrite_lead_source") else "false"
    parts.append(f"<overwriteLeadSource>{overwrite}</overwriteLeadSource>")
    if r.get("owner_id"):
        parts.append(f"<ownerId>{to_18(r['owner_id'])}</ownerId>")
    notify = "true" if r.get("notify_new_owner") else "false"
    parts.append(f"<sendNotificationEmail>{notify}</sendNotificationEmail></leadConverts>")
    return "".join(parts)


def _sf_follow_up(r: dict[str, Any]) -> dict[str, Any] | None:
    opportunity = r.get("opportunity") or {}
    if opportunity.get("action") != "create":
        return None
    body: dict[str, Any] = {}
    if "stage" in opportunity:
        body["StageName"] = opportunity["stage"]
    if "close_date" in opportunity:
        body["CloseDate"] = opportunity["close_date"]
    if "amount" in opportunity:
        body["Amount"] = float(opportunity["amount"])
    body.update(opportunity.get("fields", ()))
    return body or None


def salesforce(path: str, out: TextIO) -> None:
    doc = _Document("salesforce", out)
    for window in _windows(path):
        for start in range(0, len(window), 100):
            chunk = [r for _, r in window[start : start + 100]]
            discovered = sum(1 for r in chunk if not r.get("converted_status"))
            reason = f"{len(chunk)} lead(s) in one convertLead call (at most 100 a call)"
            if discovered:
                reason += (
                    f"; convertedStatus of {discovered} lead(s) is discovered from the org's "
                    "converted LeadStatus when sending"
                )
            index = doc.calls
            leads = [r["lead_id"] for r in chunk]
            doc.request(
                {
                    "method": "POST",
                    "path": "/services/Soap/u/59.0",
                    "query": {},
                    "headers": _SF_HEADERS,
                    "body": _SF_HEAD + "".join([_sf_row(r) for r in chunk]) + _SF_TAIL,
                    "kind": "convertLead",
                    "leads": leads,
                    "reason": reason,
                }
            )
            for r in chunk:
                body = _sf_follow_up(r)
                if body is None:
                    continue
                doc.request(
                    {
                        "method": "PATCH",
                        "path": "/services/data/v59.0/sobjects/Opportunity/"
                        "{convertedOpportunityId}",
                        "query": {},
                        "json": body,
                        "kind": "opportunityUpdate",
                        "leads": [r["lead_id"]],
                        "reason": "follow-up: convertLead cannot set "
                        + ", ".join(body)
                        + f"; they are set on the Opportunity created for lead {r['lead_id']}",
                        "after": index,
                    }
                )
    doc.finish()


# --- Dynamics 365 -------------------------------------------------------------------------------

_API = "/api/data/v9.2/"
_CRLF = "\r\n"
_PART = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: "


def _batch_headers(boundary: str) -> dict[str, str]:
    return {
        "Content-Type": f"multipart/mixed; boundary={boundary}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Prefer": "odata.continue-on-error",
    }


def _dyn_part(content_id: int, method: str, url: str, body: str) -> str:
    # Every PATCH says If-Match: *, as leadconvert's do (an update, never an upsert).
    match = "If-Match: *\r\n" if method == "PATCH" else ""
    return (
        f"{_PART}{content_id}\r\n\r\n{method} {url} HTTP/1.1\r\n{match}"
        f"Content-Type: application/json\r\n\r\n{body}"
    )


def _unique(base: str, text: str) -> str:
    boundary, n = base, 0
    while boundary in text:
        n += 1
        boundary = f"{base}_{n}"
    return boundary


def _dyn_qualify(r: dict[str, Any]) -> tuple[str | None, str, bool]:
    """(bind JSON or None, QualifyLead JSON, whether the status is a number) of one lead."""
    account, contact = r.get("account") or {}, r.get("contact") or {}
    merge_account = account.get("action") == "merge"
    merge_contact = contact.get("action") == "merge"
    bind = None
    if merge_account or merge_contact:
        binds = {}
        if merge_account:
            binds["parentaccountid@odata.bind"] = f"/accounts({account['id']})"
        if merge_contact:
            binds["parentcontactid@odata.bind"] = f"/contacts({contact['id']})"
        bind = _dumps(binds)
    create_opportunity = (r.get("opportunity") or {}).get("action") == "create"
    status: Any = r.get("converted_status")
    numeric = status is not None and status.isdigit() and status[0] != "0"
    if numeric:
        status = int(status)
    qualify: dict[str, Any] = {
        "CreateAccount": account.get("action", "create") == "create",
        "CreateContact": contact.get("action", "create") == "create",
        "CreateOpportunity": create_opportunity,
        "Status": status,
    }
    if create_opportunity and merge_account:
        qualify["OpportunityCustomerId"] = {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "accountid": account["id"],
        }
    return bind, _dumps(qualify), numeric


def _dyn_steps(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(URL, JSON) of each follow-up update of one lead."""
    lead = r["lead_id"]
    owner = r.get("owner_id")
    owner_bind = {"ownerid@odata.bind": f"/systemusers({owner})"} if owner else {}
    steps = []
    if owner and (r.get("account") or {}).get("action", "create") == "create":
        steps.append((f"{_API}accounts({{account of lead {lead}}})", _dumps(owner_bind)))
    if owner and (r.get("contact") or {}).get("action", "create") == "create":
        steps.append((f"{_API}contacts({{contact of lead {lead}}})", _dumps(owner_bind)))
    opportunity = r.get("opportunity") or {}
    if opportunity.get("action") == "create":
        body = f'{{"name": {_dumps(opportunity["name"])}'
        if "close_date" in opportunity:
            body += f', "estimatedclosedate": "{opportunity["close_date"]}"'
        if "amount" in opportunity:  # written as the input spells it, as leadconvert does
            body += f', "estimatedvalue": {opportunity["amount"]}'
        if "stage" in opportunity:
            body += f', "stepname": {_dumps(opportunity["stage"])}'
        for key, value in {**opportunity.get("fields", {}), **owner_bind}.items():
            body += f", {_dumps(key)}: {_dumps(value)}"
        steps.append((f"{_API}opportunities({{opportunity of lead {lead}}})", body + "}"))
    return steps


def dynamics(path: str, out: TextIO) -> None:
    doc = _Document("dynamics", out)
    for window in _windows(path):
        number = 0  # requests in this window's plan (boundaries count them, per window)
        for start in range(0, len(window), 10):
            chunk = [r for _, r in window[start : start + 10]]
            leads = [_dyn_qualify(r) for r in chunk]
            payload = "".join((bind or "") + qualify for bind, qualify, _ in leads)
            number += 1
            boundary = _unique(f"batch_lc{number}", payload)
            pieces = []
            for n, (r, (bind, qualify, _)) in enumerate(zip(chunk, leads, strict=True), 1):
                changeset = _unique(f"changeset_lc{number}_{n}", payload)
                url = f"{_API}leads({r['lead_id']})"
                parts = []
                if bind is not None:
                    parts.append(_dyn_part(1, "PATCH", url, bind))
                parts.append(
                    _dyn_part(len(parts) + 1, "POST", f"{url}/Microsoft.Dynamics.CRM.QualifyLead",
                              qualify)
                )  # fmt: skip
                pieces.append(
                    f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
                    + "".join(f"--{changeset}\r\n{p}\r\n" for p in parts)
                    + f"--{changeset}--\r\n\r\n"
                )
            binds = any(bind is not None for bind, _, _ in leads)
            resolved = sum(1 for _, _, numeric in leads if not numeric)
            reason = (
                f"{len(chunk)} lead(s) in one $batch (batch_size 10), each lead's "
                + ("parent bind and " if binds else "")
                + "QualifyLead in a change set of its own, continue-on-error"
            )
            if resolved:
                reason += (
                    f"; Status of {resolved} lead(s) is read from the org's lead statuscode "
                    "metadata when sending (null: the default Qualified status; a name: its value)"
                )
            index = doc.calls
            doc.request(
                {
                    "method": "POST",
                    "path": f"{_API}$batch",
                    "query": {},
                    "headers": _batch_headers(boundary),
                    "body": "".join(pieces) + f"--{boundary}--\r\n",
                    "kind": "qualify_batch",
                    "leads": [r["lead_id"] for r in chunk],
                    "reason": reason,
                }
            )
            roles: set[str] = set()
            steps: list[tuple[str, str]] = []
            followed: list[str] = []
            for r in chunk:
                found = _dyn_steps(r)
                if found:
                    followed.append(r["lead_id"])
                    steps.extend(found)
                    roles.update(url[len(_API) :].split("(", 1)[0] for url, _ in found)
            if not steps:
                continue
            number += 1
            boundary = _unique(f"batch_lc{number}", "".join(body for _, body in steps))
            parts = [
                f"--{boundary}\r\n{_dyn_part(n, 'PATCH', url, body)}\r\n"
                for n, (url, body) in enumerate(steps, 1)
            ]
            what = sorted(
                {"accounts": "account", "contacts": "contact", "opportunities": "opportunity"}[r]
                for r in roles
            )
            doc.request(
                {
                    "method": "POST",
                    "path": f"{_API}$batch",
                    "query": {},
                    "headers": _batch_headers(boundary),
                    "body": "".join(parts) + f"--{boundary}--\r\n",
                    "kind": "follow_up_batch",
                    "leads": followed,
                    "reason": f"follow-up: QualifyLead cannot set the {', '.join(what)} fields "
                    f"or owner; {len(steps)} update(s) of the records it created for "
                    f"{len(followed)} lead(s), one request each, continue-on-error, reported "
                    "per lead",
                    "after": index,
                }
            )
    doc.finish()


def main() -> None:
    backend, path = sys.argv[1], sys.argv[2]
    {"zoho": zoho, "salesforce": salesforce, "dynamics": dynamics}[backend](path, sys.stdout)


if __name__ == "__main__":
    main()
