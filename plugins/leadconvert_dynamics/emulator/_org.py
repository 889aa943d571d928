"""The emulated Dataverse org with Dynamics 365 Sales: records and rules, no HTTP.

Every rule answers the way ``shared/reference/dynamics-qualifylead.md`` documents it, as an
``OrgError`` carrying the HTTP status and the OData ``error.code``. Where Microsoft leaves a
behaviour unverified, the emulator picks the strict reading (documented at each rule), so a
client that works here does not rely on leniency.

Changes made inside ``transaction()`` are undone when it raises: a change set is atomic.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import itertools
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from attrs import define, field

__all__ = [
    "ENTITIES",
    "ENTITY_METADATA",
    "PICKLISTS",
    "DataverseOrg",
    "OrgError",
]

#: Entity set -> (logical name, primary key).
ENTITIES: Mapping[str, tuple[str, str]] = {
    "leads": ("lead", "leadid"),
    "accounts": ("account", "accountid"),
    "contacts": ("contact", "contactid"),
    "opportunities": ("opportunity", "opportunityid"),
    "systemusers": ("systemuser", "systemuserid"),
}
_KEYS = {entity_set: key for entity_set, (_, key) in ENTITIES.items()}
#: Entity set -> (SchemaName, PrimaryNameAttribute, ObjectTypeCode): what ``EntityDefinitions``
#: says of each emulated table (Microsoft's entity references). MetadataId is the emulator's own.
_DEFINITIONS: Mapping[str, tuple[str, str, int]] = {
    "leads": ("Lead", "fullname", 4),
    "accounts": ("Account", "name", 1),
    "contacts": ("Contact", "fullname", 2),
    "opportunities": ("Opportunity", "name", 3),
    "systemusers": ("SystemUser", "fullname", 8),
}
#: The ``EntityMetadata`` of each emulated table, as ``GET EntityDefinitions`` answers it.
ENTITY_METADATA: Mapping[str, Mapping[str, Any]] = {
    entity_set: {
        "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-emulator:{logical}")),
        "LogicalName": logical,
        "SchemaName": _DEFINITIONS[entity_set][0],
        "EntitySetName": entity_set,
        "LogicalCollectionName": entity_set,
        "PrimaryIdAttribute": key,
        "PrimaryNameAttribute": _DEFINITIONS[entity_set][1],
        "ObjectTypeCode": _DEFINITIONS[entity_set][2],
        "IsCustomEntity": False,
        "IsActivity": False,
        "IsPrivate": False,
    }
    for entity_set, (logical, key) in ENTITIES.items()
}
#: The picklist (choice) columns the emulator knows, with their options (Value, Label), from
#: Microsoft's entity references. A PATCH outside these values is refused as Dataverse does;
#: ``EntityDefinitions(...)/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`` lists
#: them (the official Python client reads it to turn labels into values before an update).
PICKLISTS: Mapping[str, Mapping[str, tuple[tuple[int, str], ...]]] = {
    "leads": {
        "leadqualitycode": ((1, "Hot"), (2, "Warm"), (3, "Cold")),
        "leadsourcecode": (
            (1, "Advertisement"),
            (2, "Employee Referral"),
            (3, "External Referral"),
            (4, "Partner"),
            (5, "Public Relations"),
            (6, "Seminar"),
            (7, "Trade Show"),
            (8, "Web"),
            (9, "Word of Mouth"),
            (10, "Other"),
        ),
    },
    "accounts": {"accountcategorycode": ((1, "Preferred Customer"), (2, "Standard"))},
    "contacts": {
        "preferredcontactmethodcode": (
            (1, "Any"),
            (2, "Email"),
            (3, "Phone"),
            (4, "Fax"),
            (5, "Mail"),
        ),
    },
    "opportunities": {
        "salesstage": ((0, "Qualify"), (1, "Develop"), (2, "Propose"), (3, "Close")),
        "opportunityratingcode": ((1, "Hot"), (2, "Warm"), (3, "Cold")),
        "purchasetimeframe": (
            (0, "Immediate"),
            (1, "This Quarter"),
            (2, "Next Quarter"),
            (3, "This Year"),
            (4, "Unknown"),
        ),
        "budgetstatus": (
            (0, "No Committed Budget"),
            (1, "May Buy"),
            (2, "Can Buy"),
            (3, "Will Buy"),
        ),
    },
    "systemusers": {},
}
_PROPERTY = re.compile(r"^[a-z_][a-z0-9_]*$")
_BIND = re.compile(r"^/(\w+)\(([^()]+)\)$")
_STANDARD_STATUSES = (
    {"Value": 1, "State": 0, "Label": "New"},
    {"Value": 2, "State": 0, "Label": "Contacted"},
    {"Value": 3, "State": 1, "Label": "Qualified"},
    {"Value": 4, "State": 2, "Label": "Lost"},
    {"Value": 5, "State": 2, "Label": "Cannot Contact"},
    {"Value": 6, "State": 2, "Label": "No Longer Interested"},
    {"Value": 7, "State": 2, "Label": "Canceled"},
)
_STATES = (
    {"Value": 0, "DefaultStatus": 1, "Label": "Open"},
    {"Value": 1, "DefaultStatus": 3, "Label": "Qualified"},
    {"Value": 2, "DefaultStatus": 4, "Label": "Disqualified"},
)
_QUALIFY_PARAMETERS = frozenset(
    {
        "CreateAccount",
        "CreateContact",
        "CreateOpportunity",
        "Status",
        "OpportunityCurrencyId",
        "OpportunityCustomerId",
        "SourceCampaignId",
        "ProcessInstanceId",
    }
)


class OrgError(Exception):
    """A Dataverse error: HTTP status, OData ``error.code`` and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The OData error document."""
        return {"error": {"code": self.code, "message": self.message}}


def _not_found(entity: str, record_id: str) -> OrgError:
    return OrgError(404, "0x80040217", f"{entity} With Id = {record_id} Does Not Exist")


def _invalid(message: str) -> OrgError:
    return OrgError(400, "0x80040203", message)


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip("{}")))
    except ValueError:
        raise OrgError(
            400, "0x80060888", f"Unrecognized 'Edm.Guid' literal '{value}' in the URL"
        ) from None


@define
class DataverseOrg:
    """Records by entity set, the lead statuscode metadata and the org's switches."""

    tables: dict[str, dict[str, dict[str, Any]]] = field(
        factory=lambda: {name: {} for name in ENTITIES}
    )
    statuses: list[dict[str, Any]] = field(factory=lambda: [dict(s) for s in _STANDARD_STATUSES])
    #: Without Dynamics 365 Sales there is no lead table and no QualifyLead.
    sales_installed: bool = True
    #: The duplicate detection rule on contacts' e-mail is published.
    duplicate_detection: bool = True
    #: The HTTP status of DuplicateRecordsFound: documented both as 500 and as 412.
    duplicate_status: int = 412
    #: Whether QualifyLead knows SuppressDuplicateDetection (unverified; the emulator default
    #: takes it and lets it skip the rule).
    accepts_suppress_duplicate_detection: bool = True
    base_currency_id: str = "00000000-0000-0000-0000-0000000000c1"
    _ids: Iterator[int] = field(factory=lambda: itertools.count(1))
    #: Each record's row version (its ``@odata.etag``), raised by every change.
    _versions: dict[tuple[str, str], int] = field(factory=dict)
    _version_numbers: Iterator[int] = field(factory=lambda: itertools.count(1001))
    _undo: list[tuple[str, str, dict[str, Any] | None, int | None]] | None = None

    # --- loading --------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: Mapping[str, Any]) -> DataverseOrg:
        """An org from a seed document (see ``emulator/seed.json``)."""
        org = cls(
            sales_installed=bool(seed.get("sales_installed", True)),
            duplicate_detection=bool(seed.get("duplicate_detection", True)),
            duplicate_status=int(seed.get("duplicate_status", 412)),
            accepts_suppress_duplicate_detection=bool(
                seed.get("accepts_suppress_duplicate_detection", True)
            ),
        )
        if seed.get("base_currency_id"):
            org.base_currency_id = str(seed["base_currency_id"])
        for status in seed.get("custom_statuses", []):
            org.statuses.append(
                {
                    "Value": int(status["Value"]),
                    "State": int(status["State"]),
                    "Label": str(status["Label"]),
                }
            )
        for user in seed.get("systemusers", []):
            org._put("systemusers", {"isdisabled": False, **user})
        for account in seed.get("accounts", []):
            org._put("accounts", {"statecode": 0, **account})
        for contact in seed.get("contacts", []):
            org._put("contacts", {"statecode": 0, **contact})
        for lead in seed.get("leads", []):
            org.add_lead(lead)
        generated = seed.get("generated_leads") or {}
        for n in range(int(generated.get("count", 0))):
            org.add_lead(
                {
                    "leadid": f"{0x1EAD:08x}-0000-4000-8000-{n:012x}",
                    "firstname": "Lead",
                    "lastname": f"Number {n}",
                    "emailaddress1": f"lead{n}@bulk.example",
                    "telephone1": f"+1 555 {n:07d}",
                    "companyname": f"Bulk Company {n}",
                    "subject": f"Bulk interest {n}",
                }
            )
        return org

    def _new_id(self) -> str:
        return str(uuid.UUID(int=(0xE0 << 120) | next(self._ids)))

    def _put(self, entity_set: str, record: Mapping[str, Any]) -> dict[str, Any]:
        key = _KEYS[entity_set]
        stored = dict(record)
        stored[key] = _guid(str(stored.get(key) or self._new_id()))
        self._touch(entity_set, stored[key])
        self.tables[entity_set][stored[key]] = stored
        return stored

    def add_lead(self, fields: Mapping[str, Any]) -> str:
        """An open lead (a last name, a company and a topic filled in when left out)."""
        record = {
            "lastname": "Lead",
            "companyname": "Emulated Company",
            "subject": "Interest",
            "statecode": 0,
            "statuscode": 1,
            "_parentaccountid_value": None,
            "_parentcontactid_value": None,
            "_qualifyingopportunityid_value": None,
            "_customerid_value": None,
            **fields,
        }
        first, last = record.get("firstname"), record.get("lastname")
        record.setdefault("fullname", f"{first} {last}" if first else str(last))
        return str(self._put("leads", record)["leadid"])

    # --- transactions -----------------------------------------------------------------------

    def _touch(self, entity_set: str, record_id: str) -> None:
        """Called before every change of a record: a new row version, and undo data."""
        version = self._versions.get((entity_set, record_id))
        if self._undo is not None:
            old = self.tables[entity_set].get(record_id)
            self._undo.append((entity_set, record_id, copy.deepcopy(old), version))
        self._versions[entity_set, record_id] = next(self._version_numbers)

    def etag(self, entity_set: str, record_id: str) -> str:
        """The record's ``@odata.etag``: ``W/"<row version>"``."""
        return f'W/"{self._versions.get((entity_set, _guid(record_id)), 1000)}"'

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Changes inside are undone if it raises (a change set is atomic)."""
        outer = self._undo
        self._undo = []
        try:
            yield
        except BaseException:
            for entity_set, record_id, old, version in reversed(self._undo):
                if old is None:
                    self.tables[entity_set].pop(record_id, None)
                else:
                    self.tables[entity_set][record_id] = old
                if version is None:
                    self._versions.pop((entity_set, record_id), None)
                else:
                    self._versions[entity_set, record_id] = version
            raise
        finally:
            done = self._undo
            self._undo = outer
            if outer is not None and done:
                outer.extend(done)

    # --- reading ----------------------------------------------------------------------------

    def table(self, entity_set: str) -> dict[str, dict[str, Any]]:
        """The records of an entity set; the Web API's 404 when the org lacks it."""
        if entity_set not in self.tables or (entity_set == "leads" and not self.sales_installed):
            raise OrgError(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
        return self.tables[entity_set]

    def get(self, entity_set: str, record_id: str) -> dict[str, Any]:
        """One record; ``0x80040217`` when there is none."""
        table = self.table(entity_set)
        record = table.get(_guid(record_id))
        if record is None:
            raise _not_found(ENTITIES[entity_set][0], record_id)
        return record

    def exists(self, entity_set: str, record_id: str) -> bool:
        """Whether the record is there (a bad id or a missing table: their own errors)."""
        return _guid(record_id) in self.table(entity_set)

    def query(
        self,
        entity_set: str,
        where: Sequence[Sequence[tuple[str, Any]]],
        top: int | None,
        order: Sequence[tuple[str, bool]] = (),
    ) -> list[dict[str, Any]]:
        """Records matching any group of (property, value) tests that all hold (OR of ANDs),
        sorted by ``order`` ((property, descending) pairs, nulls first ascending), then cut
        to ``top``."""
        out = [
            record
            for record in self.table(entity_set).values()
            if not where or any(all(_equal(record.get(p), v) for p, v in group) for group in where)
        ]
        for prop, descending in reversed(order):  # stable sorts: the last key first
            out.sort(key=lambda record: _sort_key(record.get(prop)), reverse=descending)
        return out if top is None else out[:top]

    def status_options(self) -> list[dict[str, Any]]:
        """The lead statuscode options (Value, State, Label)."""
        return [dict(s) for s in self.statuses]

    def state_options(self) -> list[dict[str, Any]]:
        """The lead statecode options (Value, DefaultStatus, Label)."""
        return [dict(s) for s in _STATES]

    # --- writing ----------------------------------------------------------------------------

    def update(self, entity_set: str, record_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH a record: properties by logical name, lookups through ``@odata.bind``."""
        record = self.get(entity_set, record_id)
        entity = ENTITIES[entity_set][0]
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if key.endswith("@odata.bind"):
                prop = key.removesuffix("@odata.bind")
                match = _BIND.match(value) if isinstance(value, str) else None
                if match is None or match.group(1) not in self.tables:
                    raise OrgError(
                        400, "0x80060888", f"Invalid bind {value!r} for property '{prop}'"
                    )
                target = self.get(match.group(1), match.group(2))
                if match.group(1) == "systemusers" and target.get("isdisabled"):
                    raise OrgError(400, "0x80040225", f"The user {match.group(2)} is disabled")
                changes[f"_{prop}_value"] = target[_KEYS[match.group(1)]]
            elif not _PROPERTY.match(key) or key == _KEYS[entity_set]:
                raise OrgError(
                    400,
                    "0x80060888",
                    f"Invalid property '{key}' was found in entity 'Microsoft.Dynamics.CRM."
                    f"{entity}'.",
                )
            else:
                changes[key] = _checked_value(entity, key, value)
                _check_choice(entity_set, key, value)
        if entity_set == "leads" and record.get("statecode") != 0:
            # "Qualified and disqualified leads are read-only and can't be edited unless they
            # are reactivated."
            raise OrgError(400, "0x80040519", "The lead is already closed.")
        self._touch(entity_set, record[_KEYS[entity_set]])
        record.update(changes)
        return record

    def qualify(self, lead_id: str, parameters: Any) -> list[dict[str, Any]]:
        """QualifyLead: every check first, then the records, then the closed lead.

        Returns ``value[]``: the records it created (``@odata.type`` and primary key).
        """
        if not self.sales_installed:
            raise OrgError(404, "0x80060888", "Resource not found for the segment 'leads'.")
        if not isinstance(parameters, Mapping):
            raise _invalid("The QualifyLead request body is not a JSON object")
        known = set(_QUALIFY_PARAMETERS)
        if self.accepts_suppress_duplicate_detection:
            known.add("SuppressDuplicateDetection")
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise _invalid(
                f"Request message has unresolved parameters: {', '.join(unknown)} is not a "
                "parameter of QualifyLead"
            )
        for name in ("CreateAccount", "CreateContact", "CreateOpportunity"):
            if not isinstance(parameters.get(name), bool):
                raise _invalid(f"QualifyLead needs the Edm.Boolean parameter {name}")
        status = parameters.get("Status")
        if not isinstance(status, int) or isinstance(status, bool):
            raise _invalid("QualifyLead needs the Edm.Int32 parameter Status")
        lead = self.get("leads", lead_id)
        lead_id = lead["leadid"]
        if lead.get("statecode") != 0:
            raise OrgError(400, "0x80040519", "The lead is already closed.")
        if not any(s["Value"] == status and s["State"] == 1 for s in self.statuses):
            # The real platform's text for this is unverified; XrmMockup's is used.
            raise _invalid(
                f"{status} is not a valid status code for state code LeadState.Qualified on "
                f"lead with Id {lead_id}."
            )
        create_account = parameters["CreateAccount"]
        create_contact = parameters["CreateContact"]
        create_opportunity = parameters["CreateOpportunity"]
        customer = self._reference(parameters.get("OpportunityCustomerId"), ("account", "contact"))
        currency = self._reference(
            parameters.get("OpportunityCurrencyId"), ("transactioncurrency",)
        )
        campaign = self._reference(parameters.get("SourceCampaignId"), ("campaign",))
        if customer is not None and not create_opportunity:
            # Unverified whether Dataverse refuses it; refusing is the strict reading.
            raise _invalid("OpportunityCustomerId is only used with CreateOpportunity true")
        bound_account = lead.get("_parentaccountid_value")
        bound_contact = lead.get("_parentcontactid_value")
        if create_account and bound_account:
            raise _invalid("CreateAccount is true but the lead already has a parent account")
        if create_contact and bound_contact:
            raise _invalid("CreateContact is true but the lead already has a parent contact")
        if bound_account and bound_contact:
            contact = self.get("contacts", bound_contact)
            if contact.get("_parentcustomerid_value") not in (None, bound_account):
                # The emulator's choice (unverified): a contact merged with an account must be
                # that account's; otherwise the records would disagree after the merge.
                raise _invalid(
                    f"The contact {bound_contact} does not belong to the account {bound_account}"
                )
        email = lead.get("emailaddress1")
        if (
            create_contact
            and email
            and self.duplicate_detection
            and parameters.get("SuppressDuplicateDetection") is not True
            and any(
                str(c.get("emailaddress1", "")).casefold() == str(email).casefold()
                and c.get("statecode", 0) == 0
                for c in self.tables["contacts"].values()
            )
        ):
            raise OrgError(
                self.duplicate_status,
                "0x80040333",
                "A record was not created or updated because a duplicate of the current record "
                "already exists.",
            )
        will_have_account = bool(bound_account) or (
            create_account and bool(lead.get("companyname"))
        )
        will_have_contact = bool(bound_contact) or create_contact
        if create_opportunity and not (customer or will_have_account or will_have_contact):
            raise _invalid("An opportunity needs a customer: an account or a contact")
        # --- every check passed: make the records ---------------------------------------
        created: list[dict[str, Any]] = []
        owner = lead.get("_ownerid_value")
        account_id = bound_account
        if create_account and lead.get("companyname"):
            account = self._put(
                "accounts",
                {
                    "name": lead["companyname"],
                    "emailaddress1": lead.get("emailaddress1"),
                    "telephone1": lead.get("telephone1"),
                    "statecode": 0,
                    "_originatingleadid_value": lead_id,
                    "_ownerid_value": owner,
                },
            )
            account_id = account["accountid"]
            created.append(
                {"@odata.type": "#Microsoft.Dynamics.CRM.account", "accountid": account_id}
            )
        contact_id = bound_contact
        if create_contact:
            contact = self._put(
                "contacts",
                {
                    "firstname": lead.get("firstname"),
                    "lastname": lead.get("lastname"),
                    "fullname": lead.get("fullname"),
                    "emailaddress1": lead.get("emailaddress1"),
                    "telephone1": lead.get("telephone1"),
                    "statecode": 0,
                    "_parentcustomerid_value": account_id,
                    "_originatingleadid_value": lead_id,
                    "_ownerid_value": owner,
                },
            )
            contact_id = contact["contactid"]
            created.append(
                {"@odata.type": "#Microsoft.Dynamics.CRM.contact", "contactid": contact_id}
            )
            if create_account and account_id:
                self._touch("accounts", account_id)
                self.tables["accounts"][account_id]["_primarycontactid_value"] = contact_id
        opportunity_id = None
        if create_opportunity:
            customer_id = customer[1] if customer else (account_id or contact_id)
            opportunity = self._put(
                "opportunities",
                {
                    "name": lead.get("subject") or lead.get("fullname"),
                    "statecode": 0,
                    "_customerid_value": customer_id,
                    "_parentaccountid_value": account_id,
                    "_parentcontactid_value": contact_id,
                    "_originatingleadid_value": lead_id,
                    "_transactioncurrencyid_value": currency[1]
                    if currency
                    else self.base_currency_id,
                    "_campaignid_value": campaign[1] if campaign else None,
                    "_ownerid_value": owner,
                },
            )
            opportunity_id = opportunity["opportunityid"]
            created.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.opportunity",
                    "opportunityid": opportunity_id,
                }
            )
        self._touch("leads", lead_id)
        lead.update(
            statecode=1,
            statuscode=status,
            _parentaccountid_value=account_id,
            _parentcontactid_value=contact_id,
            _qualifyingopportunityid_value=opportunity_id,
            _customerid_value=account_id or contact_id,
        )
        return created

    def _reference(self, value: Any, entities: tuple[str, ...]) -> tuple[str, str] | None:
        if value is None:
            return None
        odata_type = value.get("@odata.type") if isinstance(value, Mapping) else None
        entity = str(odata_type or "").removeprefix("#").removeprefix("Microsoft.Dynamics.CRM.")
        if entity not in entities or not isinstance(value.get(f"{entity}id"), str):
            raise _invalid(
                "An entity parameter needs @odata.type Microsoft.Dynamics.CRM."
                f"<{'|'.join(entities)}> and its primary key"
            )
        record_id = _guid(value[f"{entity}id"])
        entity_set = {"account": "accounts", "contact": "contacts"}.get(entity)
        if entity_set is not None:
            self.get(entity_set, record_id)
        return entity, record_id

    def originating_lead(self, entity_set: str, record_id: str) -> str | None:
        """The lead a record was created from by QualifyLead, if any."""
        record = self.tables.get(entity_set, {}).get(_guid(record_id))
        lead = record.get("_originatingleadid_value") if record else None
        return str(lead) if lead else None

    def snapshot(self) -> dict[str, Any]:
        """Every record, JSON-ready."""
        return {name: list(copy.deepcopy(table).values()) for name, table in self.tables.items()}


def _equal(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, str) and isinstance(wanted, str):
        # Dataverse compares text case-insensitively (default collation).
        return stored.casefold() == wanted.casefold()
    return bool(stored == wanted)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Nulls sort first ascending, as in Dataverse; text by its case-insensitive collation.
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (2, value.casefold())
    return (1, value)


def _check_choice(entity_set: str, key: str, value: Any) -> None:
    options = PICKLISTS.get(entity_set, {}).get(key)
    if options is None or value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        # What the Web API says when a choice column gets a label instead of its value.
        raise OrgError(
            400,
            "0x80048d19",
            f"Error identified in Payload provided by the user for Entity :'{entity_set}', "
            "For more information on this error please follow this help link "
            "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
            f"Microsoft.OData.ODataException: Cannot convert the literal '{value}' to the "
            "expected type 'Edm.Int32'.",
        )
    values = [v for v, _ in options]
    if value not in values:
        raise OrgError(
            400,
            "0x80044331",
            f"A validation error occurred.  The value {value} of '{key}' on record of type "
            f"'{ENTITIES[entity_set][0]}' is outside the valid range. Accepted Values: "
            + ",".join(str(v) for v in values),
        )


def _checked_value(entity: str, key: str, value: Any) -> Any:
    if (
        key in ("estimatedvalue", "budgetamount")
        and value is not None
        and (isinstance(value, bool) or not isinstance(value, int | Decimal | float))
    ):
        raise OrgError(400, "0x80044331", f"A validation error occurred: {key} is a number")
    if key == "estimatedclosedate" and value is not None:
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            raise OrgError(
                400, "0x80044331", f"A validation error occurred: {key} is a date"
            ) from None
    return value
