"""The emulated Zoho CRM org: its records and Zoho's rules for converting leads. No HTTP here.

Rules answer with Zoho's documented error documents (``ZohoError`` carries one and the HTTP
status Zoho sends it with); ``_server.py`` only reads requests and writes answers.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import define

from leadconvert import InputError

__all__ = ["DEAL_MANDATORY", "Job", "ZohoError", "ZohoOrg", "error"]

#: Deal fields a conversion that creates a deal must give (Pipeline: in orgs with pipelines).
DEAL_MANDATORY = ("Deal_Name", "Closing_Date", "Stage", "Pipeline")
_FIELD_ID_BASE = 4876876000000002000


def error(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One Zoho error document."""
    return {"code": code, "details": dict(details or {}), "message": message, "status": "error"}


class ZohoError(Exception):
    """A rule the request breaks: Zoho's error ``document`` and the HTTP ``status`` it comes with.

    ``wrap``: whether Zoho puts the document in ``{"data": [...]}`` (per-record errors of a
    convert) or answers it bare (request-level errors).
    """

    def __init__(self, document: dict[str, Any], status: int = 400, *, wrap: bool = False):
        super().__init__(document["code"])
        self.document = document
        self.status = status
        self.wrap = wrap

    def body(self) -> dict[str, Any]:
        """The answer's JSON body."""
        return {"data": [self.document]} if self.wrap else self.document


def _invalid(details: Mapping[str, Any], message: str = "invalid data") -> ZohoError:
    return ZohoError(error("INVALID_DATA", message, details))


@define
class Job:
    """One mass-convert job; it runs once ``due`` (``time.monotonic``) has passed."""

    id: str
    ids: list[str]
    body: dict[str, Any]
    due: float
    status: str = "SCHEDULED"
    converted: int = 0
    failed: int = 0


# Standard fields of the modules a conversion touches: (api_name, data_type, mandatory).
# Mandatory follows Zoho's standard layouts (Last_Name of Leads and Contacts, Account_Name,
# the deal fields of ``DEAL_MANDATORY``); the fields a seed's records carry beyond these are
# added as text fields, so the metadata always describes the org's own records.
_STANDARD_FIELDS: Mapping[str, tuple[tuple[str, str, bool], ...]] = {
    "Leads": (
        ("Owner", "ownerlookup", False),
        ("First_Name", "text", False),
        ("Last_Name", "text", True),
        ("Full_Name", "text", False),
        ("Email", "email", False),
        ("Phone", "phone", False),
        ("Company", "text", False),
        ("Lead_Status", "picklist", False),
        ("Lead_Source", "picklist", False),
        ("Tag", "text", False),
    ),
    "Contacts": (
        ("Owner", "ownerlookup", False),
        ("First_Name", "text", False),
        ("Last_Name", "text", True),
        ("Full_Name", "text", False),
        ("Email", "email", False),
        ("Phone", "phone", False),
        ("Account_Name", "lookup", False),
        ("Lead_Source", "picklist", False),
        ("Tag", "text", False),
    ),
    "Accounts": (
        ("Owner", "ownerlookup", False),
        ("Account_Name", "text", True),
        ("Phone", "phone", False),
        ("Website", "website", False),
        ("Tag", "text", False),
    ),
    "Deals": (
        ("Owner", "ownerlookup", False),
        ("Deal_Name", "text", True),
        ("Amount", "currency", False),
        ("Closing_Date", "date", True),
        ("Pipeline", "picklist", True),
        ("Stage", "picklist", True),
        ("Account_Name", "lookup", False),
        ("Contact_Name", "lookup", False),
        ("Description", "textarea", False),
        ("Lead_Source", "picklist", False),
        ("Tag", "text", False),
    ),
}
_JSON_TYPES = {
    "currency": "double",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "boolean": "boolean",
}
_LOOKUP_MODULES = {"Account_Name": "Accounts", "Contact_Name": "Contacts"}
_HIDDEN = {"id", "Locked__s", "$approval_state", "$converted", "$converted_detail"}


class ZohoOrg:
    """Leads, contacts, accounts, deals, users, pipelines, mass-convert jobs: one org's state.

    Not thread-safe on its own: the server calls it under the emulator's lock.
    """

    def __init__(self, seed: Mapping[str, Any]) -> None:
        seed = copy.deepcopy(dict(seed))
        self.client_id = str(seed["client_id"])
        self.client_secret = str(seed["client_secret"])
        self.refresh_token = str(seed["refresh_token"])
        self.token_lifetime = float(seed.get("token_lifetime", 3600))
        self.org_id = str(seed.get("org_id", "4876876000000000001"))
        self.company_name = str(seed.get("company_name", "Emulated Org"))
        self.users: dict[str, dict[str, Any]] = {}
        for user in seed.get("users", []):
            self.users[str(user["id"])] = dict(user)
        if not self.users:
            raise InputError("the Zoho seed names no user: conversions need an owner")
        self.pipelines: dict[str, list[str]] = {
            str(name): [str(stage) for stage in stages]
            for name, stages in dict(seed.get("pipelines", {})).items()
        }
        self.unique: dict[str, list[str]] = {
            str(module): [str(f) for f in names]
            for module, names in dict(seed.get("unique_fields", {})).items()
        }
        self.modules: dict[str, str] = {
            str(k): str(v) for k, v in dict(seed.get("modules", {})).items()
        }
        self.leads: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        # Scheduled jobs by due time: advancing looks at the next one due, never at history.
        self._due: list[tuple[float, str]] = []
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        for lead in seed.get("leads", []):
            self.leads[str(lead["id"])] = {
                "Locked__s": False,
                "$approval_state": "approved",
                **lead,
                "id": str(lead["id"]),
            }
        generated = seed.get("generated_leads") or {}
        first = int(generated.get("first_id", 5000000000000001000))
        for n in range(int(generated.get("count", 0))):
            lead_id = str(first + n)
            self.leads[lead_id] = {
                "id": lead_id,
                "First_Name": "Lead",
                "Last_Name": f"Number {n}",
                "Email": f"lead{n}@bulk.example",
                "Phone": f"7{n:09d}",
                "Company": f"Bulk Company {n}",
                "Locked__s": False,
                "$approval_state": "approved",
            }
        for contact in seed.get("contacts", []):
            self.contacts[str(contact["id"])] = {
                "Locked__s": False,
                **contact,
                "id": str(contact["id"]),
            }
        for account in seed.get("accounts", []):
            self.accounts[str(account["id"])] = {
                "Locked__s": False,
                **account,
                "id": str(account["id"]),
            }
        for deal in seed.get("deals", []):
            self.deals[str(deal["id"])] = {**deal, "id": str(deal["id"])}
        # (unique field, value) -> the first contact holding it: the duplicate check looks a
        # value up instead of scanning every contact for every lead.
        self._unique_contacts: dict[tuple[str, Any], str] = {}
        for contact in self.contacts.values():
            self._index_contact(contact)

    def _index_contact(self, contact: Mapping[str, Any]) -> None:
        for name in self.unique.get("Contacts", []):
            value = contact.get(name)
            if value not in (None, "") and _hashable(value):
                self._unique_contacts.setdefault((name, value), str(contact["id"]))

    # --- records ------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh 19-digit record id."""
        return str(next(self._ids))

    def add_lead(self, fields: Mapping[str, Any]) -> str:
        """A new unconverted lead (``Last_Name`` and ``Company`` filled in when left out)."""
        fields = dict(fields)
        lead_id = str(fields.pop("id", None) or self.new_id())
        self.leads[lead_id] = {
            "id": lead_id,
            "Last_Name": "Emulated",
            "Company": "Emulated Co",
            "Locked__s": False,
            "$approval_state": "approved",
            **fields,
        }
        return lead_id

    def state(self) -> dict[str, Any]:
        """Every record and job, JSON-ready."""
        return copy.deepcopy(
            {
                "leads": list(self.leads.values()),
                "contacts": list(self.contacts.values()),
                "accounts": list(self.accounts.values()),
                "deals": list(self.deals.values()),
                "users": list(self.users.values()),
                "pipelines": self.pipelines,
                "jobs": [
                    {
                        "id": j.id,
                        "ids": j.ids,
                        "status": j.status,
                        "converted": j.converted,
                        "failed": j.failed,
                    }
                    for j in self.jobs.values()
                ],
            }
        )

    def lead(self, lead_id: str) -> dict[str, Any]:
        """The lead, or Zoho's error for an id it does not know."""
        lead = self.leads.get(lead_id)
        if lead is None:
            raise _invalid({"resource_path_index": 1})
        return lead

    def table(self, module: str) -> dict[str, dict[str, Any]]:
        """The records of one module."""
        tables = {
            "Leads": self.leads,
            "Contacts": self.contacts,
            "Accounts": self.accounts,
            "Deals": self.deals,
        }
        return tables[module]

    # --- rules --------------------------------------------------------------------------------

    def record_error(self, lead: Mapping[str, Any]) -> dict[str, Any] | None:
        """Why a lead cannot be converted at all (locked, awaiting approval), if it cannot."""
        if lead.get("Locked__s"):
            return error(
                "RECORD_LOCKED", "You cannot perform this operation as the record is locked."
            )
        if lead.get("$approval_state", "approved") != "approved":
            return error("NOT_APPROVED", "cannot convert record that is not approved yet")
        return None

    def deal_error(self, deals: Any, prefix: str) -> dict[str, Any] | None:
        """What is wrong with the deal a conversion asks for, if anything."""
        if not isinstance(deals, Mapping):
            return error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "Deals", "json_path": prefix, "expected_data_type": "jsonobject"},
            )
        for key in DEAL_MANDATORY:
            if deals.get(key) in (None, ""):
                return error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": key, "json_path": f"{prefix}.{key}"},
                )
        stages = self.pipelines.get(str(_picklist(deals["Pipeline"])))
        if stages is None:
            return error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "Pipeline", "json_path": f"{prefix}.Pipeline"},
            )
        if _picklist(deals["Stage"]) not in stages:
            return error(
                "MAPPING_MISMATCH",
                "Pipeline doesn`t contain the Stage",
                {"mapped_field": "Pipeline", "api_name": "Stage", "json_path": f"{prefix}.Stage"},
            )
        return None

    def user_error(self, assign_to: Any, path: str) -> dict[str, Any] | None:
        """Zoho's error for an ``assign_to`` that names no user of the org."""
        user_id = assign_to.get("id") if isinstance(assign_to, Mapping) else None
        if str(user_id) not in self.users:
            return error(
                "INVALID_DATA", "invalid data", {"api_name": "assign_to", "json_path": path}
            )
        return None

    def duplicate(self, lead: Mapping[str, Any]) -> dict[str, Any] | None:
        """DUPLICATE_DATA when a new contact would repeat a unique field of an existing one."""
        for field_name in self.unique.get("Contacts", []):
            value = lead.get(field_name)
            if value in (None, ""):
                continue
            if _hashable(value):
                contact_id = self._unique_contacts.get((field_name, value))
            else:
                contact_id = next(
                    (c["id"] for c in self.contacts.values() if c.get(field_name) == value), None
                )
            if contact_id is not None:
                return error(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    {
                        "api_name": field_name,
                        "json_path": "$.data[0]",
                        "duplicate_record": {"id": contact_id, "module": {"api_name": "Contacts"}},
                    },
                )
        return None

    def _apply(
        self,
        lead: dict[str, Any],
        *,
        account_id: str | None,
        contact_id: str | None,
        deals: Mapping[str, Any] | None,
        overwrite: bool,
        owner: str | None = None,
    ) -> dict[str, Any]:
        if contact_id is None:
            contact_id = self.new_id()
            first, last = lead.get("First_Name"), lead.get("Last_Name")
            self.contacts[contact_id] = {
                "id": contact_id,
                "First_Name": first,
                "Last_Name": last,
                "Full_Name": " ".join(p for p in (first, last) if p),
                "Email": lead.get("Email"),
                "Phone": lead.get("Phone"),
                "Account_Name": None,
                "Locked__s": False,
            }
            self._index_contact(self.contacts[contact_id])
        contact = self.contacts[contact_id]
        if account_id is None and isinstance(contact.get("Account_Name"), Mapping):
            # A contact linked to an account brings that account.
            account_id = contact["Account_Name"]["id"]
        company = lead.get("Company")
        if account_id is None and company:
            # An account is created only when the lead has a Company.
            account_id = self.new_id()
            self.accounts[account_id] = {
                "id": account_id,
                "Account_Name": company,
                "Locked__s": False,
            }
        if account_id is not None:
            account = self.accounts[account_id]
            if overwrite and company:
                account["Account_Name"] = company
            if contact.get("Account_Name") is None:
                contact["Account_Name"] = {"id": account_id, "name": account["Account_Name"]}
        deal_id = None
        if deals is not None:
            deal_id = self.new_id()
            # Lookups as Zoho returns them: {"name", "id"} (None when there is no account).
            self.deals[deal_id] = {
                "id": deal_id,
                **{k: _picklist(v) for k, v in deals.items()},
                "Account_Name": None
                if account_id is None
                else {"name": self.accounts[account_id].get("Account_Name"), "id": account_id},
                "Contact_Name": {"name": contact.get("Full_Name"), "id": contact_id},
            }
        if owner is not None:
            for rid, table in ((contact_id, self.contacts), (account_id, self.accounts)):
                if rid is not None:
                    table[rid]["Owner"] = {"id": owner, "name": self.users[owner].get("full_name")}
            if deal_id is not None:
                self.deals[deal_id]["Owner"] = {
                    "id": owner,
                    "name": self.users[owner].get("full_name"),
                }
        lead["$converted"] = True
        lead["$converted_detail"] = {
            "account": account_id,
            "contact": contact_id,
            "deal": deal_id,
            "convert_date": time.strftime("%Y-%m-%d"),
        }

        def ref(table: dict[str, dict[str, Any]], rid: str | None, key: str) -> Any:
            return None if rid is None else {"name": table[rid].get(key), "id": rid}

        return {
            "Contacts": ref(self.contacts, contact_id, "Full_Name"),
            "Deals": ref(self.deals, deal_id, "Deal_Name"),
            "Accounts": ref(self.accounts, account_id, "Account_Name"),
        }

    def check_unconverted(self, lead: Mapping[str, Any]) -> None:
        """ID_ALREADY_CONVERTED for a lead converted before (checked before the body is read)."""
        if lead.get("$converted"):
            raise ZohoError(
                error("ID_ALREADY_CONVERTED", "id already converted", {"resource_path_index": 1})
            )

    def convert(self, lead: dict[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """Convert one lead as ``POST /Leads/{id}/actions/convert`` asks; the success details."""
        self.check_unconverted(lead)

        def fail(document: dict[str, Any]) -> ZohoError:
            return ZohoError(document, wrap=True)

        if (problem := self.record_error(lead)) is not None:
            raise fail(problem)
        account_id = _ref_id(item.get("Accounts"))
        contact_id = _ref_id(item.get("Contacts"))
        for key, rid, table in (
            ("Accounts", account_id, self.accounts),
            ("Contacts", contact_id, self.contacts),
        ):
            if rid is None:
                continue
            if rid not in table:
                raise fail(
                    error(
                        "INVALID_DATA",
                        "invalid data",
                        {"api_name": key, "json_path": f"$.data[0].{key}"},
                    )
                )
            if table[rid].get("Locked__s"):
                raise fail(
                    error(
                        "RECORD_LOCKED",
                        "You cannot perform this operation as the record is locked.",
                    )
                )
        if contact_id is not None and account_id is not None:
            linked = self.contacts[contact_id].get("Account_Name")
            if not isinstance(linked, Mapping) or linked.get("id") != account_id:
                raise fail(
                    error(
                        "INVALID_DATA",
                        "the contact is not associated with the given account",
                        {"api_name": "Contacts", "json_path": "$.data[0].Contacts"},
                    )
                )
        owner = None
        if "assign_to" in item:
            if (problem := self.user_error(item["assign_to"], "$.data[0].assign_to")) is not None:
                raise fail(problem)
            owner = str(item["assign_to"]["id"])
        deals = item.get("Deals")
        if deals is not None and (problem := self.deal_error(deals, "$.data[0].Deals")):
            raise fail(problem)
        if contact_id is None and (problem := self.duplicate(lead)) is not None:
            raise fail(problem)
        return self._apply(
            lead,
            account_id=account_id,
            contact_id=contact_id,
            deals=deals,
            overwrite=item.get("overwrite") is True,
            owner=owner,
        )

    def mass_convert_ids(self, body: Any) -> list[str]:
        """The lead ids a mass-convert body names (what is checked before they are counted)."""
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or not body["ids"]:
            raise ZohoError(
                error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "ids", "json_path": "$.ids"},
                )
            )
        return [str(i) for i in body["ids"]]

    def schedule_mass_convert(self, body: dict[str, Any], ids: list[str], due: float) -> Job:
        """Check a mass convert as Zoho does when it accepts it, then schedule its job."""
        if len(ids) > 50:
            raise ZohoError(
                error(
                    "LIMIT_EXCEEDED", "you are trying to convert more than 50 leads.", {"limit": 50}
                )
            )
        if any(i not in self.leads for i in ids):
            raise _invalid({"api_name": "ids", "json_path": "$.ids"})
        if "assign_to" not in body:
            raise ZohoError(
                error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "assign_to", "json_path": "$.assign_to"},
                )
            )
        if (problem := self.user_error(body["assign_to"], "$.assign_to")) is not None:
            raise ZohoError(problem)
        if "Deals" in body and (problem := self.deal_error(body["Deals"], "$.Deals")):
            raise ZohoError(problem)
        for ref in [*(body.get("related_modules") or []), *(body.get("carry_over_tags") or [])]:
            if not isinstance(ref, Mapping) or self.modules.get(str(ref.get("api_name"))) != str(
                ref.get("id")
            ):
                raise ZohoError(
                    error(
                        "AMBIGUITY_DURING_PROCESSING",
                        "the api_name and id do not belong to each other",
                    )
                )
        job = Job(self.new_id(), ids, body, due)
        self.jobs[job.id] = job
        heapq.heappush(self._due, (due, job.id))
        return job

    def advance_jobs(self, now: float) -> None:
        """Run every scheduled job that is due (only those: history is never walked)."""
        while self._due and self._due[0][0] <= now:
            _, job_id = heapq.heappop(self._due)
            job = self.jobs[job_id]
            owner = _ref_id(job.body.get("assign_to"))
            for lead_id in job.ids:
                lead = self.leads[lead_id]
                if lead.get("$converted") or self.record_error(lead) or self.duplicate(lead):
                    job.failed += 1
                    continue
                self._apply(
                    lead,
                    account_id=None,
                    contact_id=None,
                    deals=job.body.get("Deals"),
                    overwrite=False,
                    owner=owner if owner in self.users else None,
                )
                job.converted += 1
            job.status = "COMPLETED"

    def job_status(self, job_id: str) -> dict[str, Any]:
        """The documented status record of one mass-convert job."""
        job = self.jobs.get(job_id)
        if job is None:
            raise _invalid({"param_name": "job_id"})
        total = len(job.ids)
        return {
            "Status": job.status,
            "Total_Count": total,
            "Converted_Count": job.converted,
            "Not_Converted_Count": total - job.converted - job.failed,
            "Failed_Count": job.failed,
        }

    # --- matching -----------------------------------------------------------------------------

    def conversion_options(self, lead: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``__conversion_options`` of a lead; None when nothing matches (Zoho: 204)."""
        if (problem := self.record_error(lead)) is not None:
            raise ZohoError(problem)
        contacts: dict[str, dict[str, Any]] = {}
        contact_matches: list[dict[str, Any]] = []
        # Order of preference: unique fields, then Email; name only when nothing is unique.
        keys = [*self.unique.get("Contacts", []), "Email"]
        if not self.unique.get("Contacts"):
            keys.append("Full_Name")
        lead_name = " ".join(p for p in (lead.get("First_Name"), lead.get("Last_Name")) if p)
        for key in keys:
            value = lead_name if key == "Full_Name" else lead.get(key)
            if value in (None, ""):
                continue
            hits = [c for c in self.contacts.values() if c.get(key) == value]
            if hits:
                contact_matches.append(
                    {
                        "field": {"api_name": key, "id": field_id(key)},
                        "matched_lead_value": value,
                    }
                )
            for c in hits:
                contacts.setdefault(c["id"], c)
        accounts: dict[str, dict[str, Any]] = {}
        account_matches: list[dict[str, Any]] = []
        for key in [*self.unique.get("Accounts", []), "Account_Name"]:
            value = lead.get("Company") if key == "Account_Name" else lead.get(key)
            if value in (None, ""):
                continue
            hits = [a for a in self.accounts.values() if a.get(key) == value]
            if hits:
                account_matches.append(
                    {
                        "field": {"api_name": key, "id": field_id(key)},
                        "matched_lead_value": value,
                    }
                )
            for a in hits:
                accounts.setdefault(a["id"], a)
        if not contacts and not accounts:
            return None
        preference = "Contacts" if contacts else "Accounts"

        def shape(record: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in record.items() if k not in {"First_Name", "Last_Name"}}
            out.update(
                {
                    "$editable": True,
                    "$approval_state": "approved",
                    "Locked__s": bool(record.get("Locked__s")),
                }
            )
            return out

        return {
            "module_preference": {"api_name": preference, "id": self.modules.get(preference, "")},
            "Contacts": [shape(c) for c in contacts.values()] or None,
            "preference_field_matched_value": {
                "Contacts": contact_matches or None,
                "Accounts": account_matches or None,
            },
            "Accounts": [
                {"Layout": {"name": "Standard", "id": "1"}, **shape(a)} for a in accounts.values()
            ]
            or None,
        }

    # --- metadata -----------------------------------------------------------------------------

    def current_user(self) -> dict[str, Any]:
        """The first seeded user: the one the emulator's OAuth client acts as."""
        user = next(iter(self.users.values()))
        name = str(user.get("full_name", "Emulated User"))
        first, _, last = name.rpartition(" ")
        return {
            "id": user["id"],
            "full_name": name,
            "first_name": first or None,
            "last_name": last,
            "email": user.get("email", f"{last.lower() or 'user'}@emulated.example"),
            "status": "active",
            "confirm": True,
            "role": {"name": "CEO", "id": "4876876000000026005"},
            "profile": {"name": "Administrator", "id": "4876876000000026011"},
            "time_zone": "Etc/UTC",
            "locale": "en_US",
            "language": "en_US",
            "country": "US",
            "zuid": str(user.get("zuid", "700000001")),
        }

    def org_info(self) -> dict[str, Any]:
        """The org's details, as ``GET /org`` documents them."""
        return {
            "id": self.org_id,
            "company_name": self.company_name,
            "zgid": self.org_id,
            "domain_name": f"org{self.org_id}",
            "primary_email": self.current_user()["email"],
            "currency": "US Dollar - USD",
            "iso_code": "USD",
            "currency_symbol": "$",
            "currency_locale": "en_US",
            "time_zone": "Etc/UTC",
            "country_code": "US",
            "type": "sandbox",
            "mc_status": False,
            "gapps_enabled": False,
            "privacy_settings": False,
        }

    def field_names(self, module: str) -> Iterator[tuple[str, str, bool]]:
        """(api_name, data_type, mandatory) of every field of ``module``, standard ones first."""
        seen = set()
        for spec in _STANDARD_FIELDS[module]:
            seen.add(spec[0])
            yield spec
        for record in self.table(module).values():
            for key in record:
                if key not in seen and key not in _HIDDEN and not key.startswith("$"):
                    seen.add(key)
                    yield key, "text", False

    def fields(self, module: str) -> list[dict[str, Any]]:
        """The field metadata of ``module`` (``GET /settings/fields?module=``), from this org."""
        out = []
        for api_name, data_type, mandatory in self.field_names(module):
            field: dict[str, Any] = {
                "api_name": api_name,
                "id": field_id(f"{module}.{api_name}"),
                "field_label": api_name.replace("_", " "),
                "display_label": api_name.replace("_", " "),
                "data_type": data_type,
                "json_type": _JSON_TYPES.get(data_type, "string"),
                "system_mandatory": mandatory,
                "custom_field": False,
                "read_only": api_name == "Full_Name",
                "field_read_only": api_name == "Full_Name",
                "visible": True,
                "length": 120,
                "pick_list_values": [],
                "lookup": {},
            }
            if data_type == "picklist":
                field["pick_list_values"] = [
                    {
                        "display_value": value,
                        "actual_value": value,
                        "id": field_id(f"{module}.{api_name}.{value}"),
                        "sequence_number": n,
                        "type": "used",
                    }
                    for n, value in enumerate(self._picklist_values(module, api_name), 1)
                ]
            if api_name in _LOOKUP_MODULES:
                target = _LOOKUP_MODULES[api_name]
                field["lookup"] = {
                    "module": {"api_name": target, "id": self.modules.get(target, "")},
                    "api_name": api_name,
                    "display_label": target,
                }
            out.append(field)
        return out

    def _picklist_values(self, module: str, api_name: str) -> list[str]:
        if module == "Deals" and api_name == "Pipeline":
            return list(self.pipelines)
        if module == "Deals" and api_name == "Stage":
            return list(dict.fromkeys(s for stages in self.pipelines.values() for s in stages))
        values = {
            str(r[api_name]) for r in self.table(module).values() if r.get(api_name) is not None
        }
        return sorted(values)


def field_id(name: str) -> str:
    """A stable id for a field (or a picklist value)."""
    return str(_FIELD_ID_BASE + sum(map(ord, name)))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _ref_id(value: Any) -> str | None:
    if isinstance(value, Mapping) and value.get("id") is not None:
        return str(value["id"])
    return None


def _picklist(value: Any) -> Any:
    # Zoho's SDKs send a picklist as its value; accept {"name"/"actual_value": ...} too.
    if isinstance(value, Mapping):
        return value.get("actual_value", value.get("name"))
    return value
