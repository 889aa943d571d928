"""The emulated Salesforce org: records, SOQL, and Salesforce's convertLead rules. No HTTP here.

Rules answer with Salesforce's documented status codes (``INVALID_STATUS``,
``INVALID_CROSS_REFERENCE_KEY``...); ``_server.py`` writes them as SOAP or REST.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define, field

from leadconvert import InputError

from .._ids import IdError, canonical_id, to_18

__all__ = [
    "ConvertResult",
    "RestError",
    "SalesforceOrg",
    "SoqlError",
    "canon",
    "parse_soql",
]

PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
#: SOQL object name -> seed key.
OBJECTS = {
    "Lead": "leads",
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "opportunities",
    "User": "users",
    "Group": "queues",
    "LeadStatus": "lead_statuses",
}
# Fields a REST PATCH may set, beyond custom ``__c`` fields: Salesforce's standard updatable
# fields of the records a conversion makes or touches.
_UPDATABLE: Mapping[str, frozenset[str]] = {
    "Opportunity": frozenset(
        {
            "Name", "StageName", "CloseDate", "Amount", "Description", "NextStep",
            "Probability", "LeadSource", "Type", "ForecastCategoryName", "OwnerId",
        }
    ),
    "Account": frozenset(
        {
            "Name", "Phone", "Website", "Industry", "Type", "Description", "OwnerId",
            "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
            "NumberOfEmployees", "AnnualRevenue",
        }
    ),
    "Contact": frozenset(
        {
            "FirstName", "LastName", "Email", "Phone", "MobilePhone", "Title", "Department",
            "LeadSource", "Description", "OwnerId", "AccountId",
        }
    ),
    "Lead": frozenset(
        {
            "FirstName", "LastName", "Company", "Email", "Phone", "Status", "LeadSource",
            "Title", "Industry", "Website", "Description", "OwnerId",
        }
    ),
}  # fmt: skip
# Field types for ``describe`` (anything else a record holds is a string).
_TYPES = {
    "Id": "id",
    "OwnerId": "reference",
    "AccountId": "reference",
    "ConvertedAccountId": "reference",
    "ConvertedContactId": "reference",
    "ConvertedOpportunityId": "reference",
    "IsConverted": "boolean",
    "Email": "email",
    "Phone": "phone",
    "Website": "url",
    "Status": "picklist",
    "LeadSource": "picklist",
    "StageName": "picklist",
    "CloseDate": "date",
    "ConvertedDate": "date",
    "Amount": "currency",
}
_LEAD_FIELDS = (
    "Id", "FirstName", "LastName", "Name", "Company", "Email", "Phone", "Website", "Status",
    "LeadSource", "OwnerId", "IsConverted", "ConvertedDate", "ConvertedAccountId",
    "ConvertedContactId", "ConvertedOpportunityId",
)  # fmt: skip
_REQUIRED = {"Lead": {"LastName", "Company", "Status"}}


class SoqlError(ValueError):
    """A query the emulator does not understand."""


@define
class RestError(Exception):
    """A REST error: ``errorCode``, ``message`` and the HTTP status Salesforce sends."""

    code: str
    message: str
    status: int = 400
    fields: list[str] = field(factory=list)


@define
class ConvertResult:
    """One LeadConvertResult."""

    lead_id: str | None
    success: bool
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    #: (statusCode, message, fields)
    errors: list[tuple[str, str, list[str]]] = field(factory=list)


def canon(value: Any) -> Any:
    """An id in its 18-character form; anything else as it is."""
    if isinstance(value, str) and len(value) in (15, 18):
        try:
            return canonical_id(value)
        except IdError:
            return value
    return value


def _canon_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: canon(v) if k == "Id" or k.endswith("Id") else v for k, v in raw.items()}


class SalesforceOrg:
    """An org's records, LeadStatus values and stages; the server calls it under its lock."""

    def __init__(self, seed: Mapping[str, Any]) -> None:
        seed = copy.deepcopy(dict(seed))
        settings = dict(seed.get("settings", {}))
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        for obj, key in OBJECTS.items():
            if obj == "LeadStatus":
                continue
            records: dict[str, dict[str, Any]] = {}
            for raw in seed.get(key, []):
                record = _canon_record(raw)
                records[record["Id"]] = record
            self.data[obj] = records
        bulk = seed.get("bulk_leads")
        if bulk:
            prefix = str(bulk["id_prefix"])
            for i in range(int(bulk["count"])):
                lead_id = to_18(f"{prefix}{i:0{15 - len(prefix)}d}")
                self.data["Lead"][lead_id] = {
                    "Id": lead_id,
                    "FirstName": "Bulk",
                    "LastName": f"Lead {i}",
                    "Company": f"{bulk['company']} {i}",
                    "Email": f"bulk{i}@bulk.example",
                    "Status": bulk["status"],
                    "OwnerId": canon(bulk["owner"]),
                    "LeadSource": "Web",
                }
        for lead in self.data["Lead"].values():
            self._lead_defaults(lead)
        for contact in self.data["Contact"].values():
            contact.setdefault(
                "Name", f"{contact.get('FirstName') or ''} {contact.get('LastName') or ''}".strip()
            )
        self.lead_statuses = [dict(s) for s in seed.get("lead_statuses", [])]
        self.stages = [str(s) for s in seed.get("opportunity_stages", ["Prospecting"])]
        self.users = self.data["User"]
        if not self.users:
            raise InputError("the Salesforce seed names no user: nobody could log in")
        self.org_id = to_18(str(settings.get("org_id", "00D000000000001")))
        self.session_lifetime = float(settings.get("session_lifetime_seconds", 7200))
        self.status_has_api_name = bool(settings.get("lead_status_has_api_name", True))
        self.counter = 0
        #: Record id -> the lead whose conversion made or used it (follow-ups are counted so).
        self.converted_from: dict[str, str] = {}
        for lead in self.data["Lead"].values():
            self._index_conversion(lead)

    @staticmethod
    def _lead_defaults(lead: dict[str, Any]) -> None:
        lead.setdefault("IsConverted", False)
        for name in ("ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"):
            lead.setdefault(name, None)
        lead.setdefault(
            "Name", f"{lead.get('FirstName') or ''} {lead.get('LastName') or ''}".strip()
        )

    def _index_conversion(self, lead: Mapping[str, Any]) -> None:
        for name in ("ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"):
            if lead.get(name):
                self.converted_from[lead[name]] = lead["Id"]

    def new_id(self, obj: str) -> str:
        """A fresh 18-character id of ``obj``."""
        self.counter += 1
        return to_18(f"{PREFIX[obj]}EM{self.counter:010d}")

    def state(self) -> dict[str, Any]:
        """Every record, LeadStatus and stage, JSON-ready (users without their passwords)."""
        out: dict[str, Any] = {
            key: list(self.data[obj].values())
            for obj, key in OBJECTS.items()
            if obj in self.data and obj != "User"
        }
        out["users"] = [
            {k: v for k, v in u.items() if k not in {"Password", "SecurityToken"}}
            for u in self.users.values()
        ]
        out["lead_statuses"] = self.lead_statuses
        out["opportunity_stages"] = self.stages
        return copy.deepcopy(out)

    def record(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """One record by id (15 or 18 characters), or None."""
        table = self.data.get(obj)
        if table is None:
            return None
        try:
            return table.get(canonical_id(record_id))
        except IdError:
            return None

    def insert(self, obj: str, record: Mapping[str, Any]) -> str:
        """Add a record; its 18-character id."""
        if obj not in self.data:
            raise RestError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        data = _canon_record(record)
        data.setdefault("Id", self.new_id(obj))
        if obj == "Lead":
            self._lead_defaults(data)
        if obj == "Contact":
            # Contact.Name is a compound field Salesforce derives from the name parts.
            data.setdefault(
                "Name", f"{data.get('FirstName') or ''} {data.get('LastName') or ''}".strip()
            )
        self.data[obj][data["Id"]] = data
        return str(data["Id"])

    def add_lead(self, fields: Mapping[str, Any]) -> str:
        """A new open lead; last name, company, status and owner filled in when left out."""
        open_status = next(
            (s.get("ApiName") or s.get("MasterLabel") for s in self.lead_statuses
             if not s.get("IsConverted")),
            "Open - Not Contacted",
        )  # fmt: skip
        return self.insert(
            "Lead",
            {
                "LastName": "Emulated",
                "Company": "Emulated Co",
                "Status": open_status,
                "OwnerId": next(iter(self.users)),
                **fields,
            },
        )

    # --- REST reads and writes ---------------------------------------------------------------

    def update(self, obj: str, record_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """A REST PATCH, with Salesforce's field and picklist checks; the updated record."""
        if obj not in _UPDATABLE:
            raise RestError("NOT_FOUND", f"the emulator does not update {obj} records", 404)
        record = self.record(obj, record_id)
        if record is None:
            raise RestError("NOT_FOUND", "The requested resource does not exist", 404)
        if obj == "Lead" and record.get("IsConverted"):
            raise RestError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        for key, value in changes.items():
            if key not in _UPDATABLE[obj] and not key.endswith("__c"):
                raise RestError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}", 400, [key]
                )
            if obj == "Opportunity" and key == "StageName" and value not in self.stages:
                raise RestError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"Stage: bad value for restricted picklist field: {value}",
                    400,
                    [key],
                )
            if key == "OwnerId" and canon(value) not in self.users:
                raise RestError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {value}",
                    400,
                    [key],
                )
        record.update(_canon_record(changes))
        return record

    def describe(self, obj: str) -> dict[str, Any]:
        """``GET /sobjects/{obj}/describe``: the object's fields, derived from this org."""
        if obj != "Lead":
            raise RestError("NOT_FOUND", f"the emulator describes only Lead, not {obj}", 404)
        names = list(_LEAD_FIELDS)
        for record in self.data["Lead"].values():
            names.extend(k for k in record if k not in names)
        fields = []
        for name in names:
            kind = _TYPES.get(name, "string")
            described: dict[str, Any] = {
                "name": name,
                "label": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.removesuffix("Id") or name),
                "type": kind,
                "length": 0 if kind in ("id", "reference", "boolean", "date") else 255,
                "nillable": name not in _REQUIRED["Lead"] and kind != "boolean" and name != "Id",
                "createable": name not in ("Id", "Name", "IsConverted") and "Converted" not in name,
                "updateable": name in _UPDATABLE["Lead"] or name.endswith("__c"),
                "custom": name.endswith("__c"),
                "defaultedOnCreate": name in ("Id", "IsConverted", "OwnerId", "Status"),
                "picklistValues": [],
                "referenceTo": [],
            }
            if name == "Status":
                described["picklistValues"] = [
                    {
                        "active": True,
                        "defaultValue": n == 0,
                        "label": s.get("MasterLabel"),
                        "value": s.get("ApiName") or s.get("MasterLabel"),
                        "validFor": None,
                    }
                    for n, s in enumerate(self.lead_statuses)
                ]
            if kind == "reference":
                described["referenceTo"] = {
                    "OwnerId": ["Group", "User"],
                    "ConvertedAccountId": ["Account"],
                    "ConvertedContactId": ["Contact"],
                    "ConvertedOpportunityId": ["Opportunity"],
                }.get(name, [])
            fields.append(described)
        return {
            "name": "Lead",
            "label": "Lead",
            "labelPlural": "Leads",
            "keyPrefix": PREFIX["Lead"],
            "createable": True,
            "updateable": True,
            "queryable": True,
            "custom": False,
            "fields": fields,
            "urls": {"sobject": "/services/data/v59.0/sobjects/Lead"},
        }

    def query(self, text: str) -> list[dict[str, Any]]:
        """The records a SOQL query selects (fields, filters, ORDER BY, LIMIT)."""
        fields, obj, filters, order, limit = parse_soql(text)
        if obj == "LeadStatus":
            if "ApiName" in fields and not self.status_has_api_name:
                raise RestError("INVALID_FIELD", "No such column 'ApiName' on entity 'LeadStatus'.")
            source: Iterable[dict[str, Any]] = self.lead_statuses
        elif obj in self.data:
            table = self.data[obj]
            by_id = next((f for f in filters if f[0] == "Id" and f[1] == "="), None)
            # WHERE Id = / IN (...): look the ids up rather than scan every record.
            source = (
                [table[k] for k in dict.fromkeys(map(canon, by_id[2])) if k in table]
                if by_id is not None
                else table.values()
            )
        else:
            raise RestError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        chosen = [r for r in source if all(_matches(r, *f) for f in filters)]
        for name, descending in reversed(order):
            chosen.sort(
                key=lambda r: (r.get(name) is None, str(r.get(name) or "")), reverse=descending
            )
        if limit is not None:
            chosen = chosen[:limit]
        return [{"attributes": {"type": obj}, **{f: r.get(f) for f in fields}} for r in chosen]

    # --- convertLead --------------------------------------------------------------------------

    def converted_statuses(self) -> set[str]:
        """The LeadStatus values (API names and labels) a conversion may set."""
        converted = [s for s in self.lead_statuses if s.get("IsConverted")]
        return {str(s.get(k)) for s in converted for k in ("ApiName", "MasterLabel") if s.get(k)}

    def convert(self, row: Mapping[str, str]) -> ConvertResult:
        """Convert one LeadConvert row as Salesforce does; every error of the row at once."""
        errors: list[tuple[str, str, list[str]]] = []
        data = self.data

        def ref(name: str, obj: str) -> dict[str, Any] | None:
            value = row.get(name)
            if value is None:
                return None
            try:
                key = canonical_id(value)
            except IdError:
                errors.append(
                    ("MALFORMED_ID", f"{name}: id value of incorrect type: {value}", [name])
                )
                return None
            record = data[obj].get(key)
            if record is None:
                errors.append(
                    ("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name])
                )
            return record

        lead = ref("leadId", "Lead")
        account = ref("accountId", "Account")
        contact = ref("contactId", "Contact")
        opportunity = ref("opportunityId", "Opportunity")
        owner = row.get("ownerId")
        if owner is not None and canon(owner) not in self.users:
            errors.append(
                ("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {owner}", ["ownerId"])
            )
        lead_id = lead["Id"] if lead else row.get("leadId")
        if lead is not None and lead.get("IsConverted"):
            errors.append(("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []))
        status = row.get("convertedStatus", "")
        if status not in self.converted_statuses():
            errors.append(
                ("INVALID_STATUS", f"invalid convertedStatus: {status}", ["convertedStatus"])
            )
        no_opportunity = row.get("doNotCreateOpportunity") == "true"
        name = row.get("opportunityName")
        if row.get("opportunityId") and name:
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "opportunityId and opportunityName are mutually exclusive",
                    ["opportunityId", "opportunityName"],
                )
            )
        if no_opportunity and (row.get("opportunityId") or name):
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "doNotCreateOpportunity is true: opportunityId and opportunityName "
                    "must be left blank",
                    ["doNotCreateOpportunity"],
                )
            )
        if name is not None and len(name) > 80:
            errors.append(
                ("STRING_TOO_LONG", "Opportunity Name: data value too large", ["opportunityName"])
            )
        if row.get("contactId") and not row.get("accountId"):
            errors.append(("REQUIRED_FIELD_MISSING", "contactId requires accountId", ["accountId"]))
        if contact is not None and account is not None:
            if account.get("IsPersonAccount"):
                errors.append(
                    (
                        "FIELD_INTEGRITY_EXCEPTION",
                        "a lead converted into a person account takes no contactId",
                        ["contactId"],
                    )
                )
            elif contact.get("AccountId") != account["Id"]:
                errors.append(
                    (
                        "INVALID_CROSS_REFERENCE_KEY",
                        "The contact isn't associated with the specified account.",
                        ["contactId"],
                    )
                )
        if row.get("overwriteLeadSource") == "true" and not row.get("contactId"):
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "overwriteLeadSource requires contactId",
                    ["overwriteLeadSource"],
                )
            )
        if lead is not None and str(lead.get("OwnerId", "")).startswith("00G") and not owner:
            errors.append(
                (
                    "REQUIRED_FIELD_MISSING",
                    "Converted objects can only be owned by users.  If the lead is not "
                    "owned by a user, you must specify a user for the Owner field.",
                    ["ownerId"],
                )
            )
        if errors or lead is None:
            return ConvertResult(lead_id, False, errors=errors)
        return self._apply(lead, row, account, contact, opportunity, owner, status)

    def _apply(
        self,
        lead: dict[str, Any],
        row: Mapping[str, str],
        account: dict[str, Any] | None,
        contact: dict[str, Any] | None,
        opportunity: dict[str, Any] | None,
        owner: str | None,
        status: str,
    ) -> ConvertResult:
        data = self.data
        new_owner = canon(owner) if owner else lead.get("OwnerId")
        company = lead.get("Company") or f"{lead.get('FirstName') or ''} {lead['LastName']}".strip()
        if account is None:
            account = {
                "Id": self.new_id("Account"),
                "Name": company,
                "Phone": lead.get("Phone"),
                "Website": lead.get("Website"),
                "OwnerId": new_owner,
            }
            data["Account"][account["Id"]] = account
        else:
            for key, value in (("Phone", lead.get("Phone")), ("Website", lead.get("Website"))):
                if account.get(key) in (None, "") and value:
                    account[key] = value
        if account.get("IsPersonAccount"):
            contact_id = account.get("PersonContactId")
        elif contact is None:
            contact = {
                "Id": self.new_id("Contact"),
                "FirstName": lead.get("FirstName"),
                "LastName": lead.get("LastName"),
                "Email": lead.get("Email"),
                "Phone": lead.get("Phone"),
                "LeadSource": lead.get("LeadSource"),
                "AccountId": account["Id"],
                "OwnerId": new_owner,
            }
            contact["Name"] = f"{contact['FirstName'] or ''} {contact['LastName']}".strip()
            data["Contact"][contact["Id"]] = contact
            contact_id = contact["Id"]
        else:
            for key in ("Email", "Phone", "FirstName", "LeadSource"):
                if contact.get(key) in (None, "") and lead.get(key):
                    contact[key] = lead[key]
            if row.get("overwriteLeadSource") == "true":
                contact["LeadSource"] = lead.get("LeadSource")
            contact_id = contact["Id"]
        opportunity_id: str | None = None
        if opportunity is not None:
            opportunity_id = opportunity["Id"]
            if not opportunity.get("AccountId"):
                opportunity["AccountId"] = account["Id"]
        elif row.get("doNotCreateOpportunity") != "true":
            close = dt.date.today() + dt.timedelta(days=30)
            record = {
                "Id": self.new_id("Opportunity"),
                "Name": row.get("opportunityName") or company,
                "StageName": self.stages[0],
                "CloseDate": close.isoformat(),
                "Amount": None,
                "AccountId": account["Id"],
                "OwnerId": new_owner,
                "LeadSource": lead.get("LeadSource"),
            }
            data["Opportunity"][record["Id"]] = record
            opportunity_id = record["Id"]
        lead.update(
            IsConverted=True,
            Status=status,
            ConvertedDate=dt.date.today().isoformat(),
            ConvertedAccountId=account["Id"],
            ConvertedContactId=contact_id,
            ConvertedOpportunityId=opportunity_id,
        )
        self._index_conversion(lead)
        return ConvertResult(lead["Id"], True, account["Id"], contact_id, opportunity_id)


# --- SOQL ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<punct>!=|[(),=])|(?P<word>[A-Za-z0-9_.\-]+))"
)
_SOQL_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
Filter = tuple[str, str, list[Any]]


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError(f"unexpected text at {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            value = re.sub(r"\\(.)", lambda e: _SOQL_UNESCAPE.get(e.group(1), e.group(1)), raw)
            out.append(("value", value))
        elif m.group("punct") is not None:
            out.append(("punct", m.group("punct")))
        else:
            word = m.group("word")
            lowered = word.lower()
            if lowered in ("true", "false"):
                out.append(("value", lowered == "true"))
            elif lowered == "null":
                out.append(("value", None))
            elif re.fullmatch(r"-?\d+(\.\d+)?", word):
                out.append(("number", word))
            else:
                out.append(("word", word))
    return out


def parse_soql(
    text: str,
) -> tuple[list[str], str, list[Filter], list[tuple[str, bool]], int | None]:
    """``SELECT f, ... FROM Obj [WHERE F = v AND F != v AND F IN (v, ...)] [ORDER BY F [DESC],
    ...] [LIMIT n]`` -> fields, object, filters, order, limit."""
    tokens = _tokens(text)
    pos = 0

    def peek_word(*words: str) -> bool:
        return (
            pos < len(tokens) and tokens[pos][0] == "word" and str(tokens[pos][1]).upper() in words
        )

    def take(kind: str, value: str | None = None) -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise SoqlError("the query ends early")
        k, v = tokens[pos]
        if k != kind or (value is not None and str(v).upper() != value):
            raise SoqlError(f"expected {value or kind}, got {v!r}")
        pos += 1
        return v

    def literal() -> Any:
        nonlocal pos
        if pos < len(tokens) and tokens[pos][0] == "number":
            pos += 1
            number = str(tokens[pos - 1][1])
            return float(number) if "." in number else int(number)
        return take("value")

    take("word", "SELECT")
    fields = [take("word")]
    while pos < len(tokens) and tokens[pos] == ("punct", ","):
        pos += 1
        fields.append(take("word"))
    take("word", "FROM")
    obj = take("word")
    filters: list[Filter] = []
    if peek_word("WHERE"):
        pos += 1
        while True:
            name = take("word")
            if pos < len(tokens) and tokens[pos] in (("punct", "="), ("punct", "!=")):
                op = tokens[pos][1]
                pos += 1
                filters.append((name, op, [literal()]))
            else:
                take("word", "IN")
                take("punct", "(")
                values = [literal()]
                while tokens[pos] == ("punct", ","):
                    pos += 1
                    values.append(literal())
                take("punct", ")")
                filters.append((name, "=", values))
            if not peek_word("AND"):
                break
            pos += 1
    order: list[tuple[str, bool]] = []
    if peek_word("ORDER"):
        pos += 1
        take("word", "BY")
        while True:
            name = take("word")
            descending = False
            if peek_word("ASC", "DESC"):
                descending = str(tokens[pos][1]).upper() == "DESC"
                pos += 1
            order.append((name, descending))
            if pos < len(tokens) and tokens[pos] == ("punct", ","):
                pos += 1
                continue
            break
    limit: int | None = None
    if peek_word("LIMIT"):
        pos += 1
        limit = int(take("number"))
    if pos != len(tokens):
        raise SoqlError(f"unexpected {tokens[pos][1]!r}")
    return fields, obj, filters, order, limit


def _matches(record: Mapping[str, Any], name: str, op: str, values: list[Any]) -> bool:
    have = record.get(name)
    hit = False
    for value in values:
        if isinstance(value, str) and isinstance(have, str):
            if name == "Id" or name.endswith("Id"):
                hit = canon(value) == have
            else:
                hit = value.casefold() == have.casefold()  # SOQL '=' ignores case on text
        else:
            hit = value == have
        if hit:
            break
    return hit if op == "=" else not hit
