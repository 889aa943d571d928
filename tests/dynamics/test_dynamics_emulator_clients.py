"""Microsoft's Python client for Dataverse (PowerPlatform-Dataverse-Client) against the emulator
(issue 17): a lead qualified by leadconvert, then read and updated with the official client as an
integrator would, and the emulated org checked afterwards through ``emulator.state()``.

The client is used unmodified: ``azure-identity``'s ``ClientSecretCredential`` signs in at the
emulator (its Entra ID token endpoint and OpenID discovery document), ``REQUESTS_CA_BUNDLE`` makes
both trust the emulator's private CA. Before its first call on a table the client resolves the
entity set and primary id through ``EntityDefinitions``, and before an update with text values
it reads the table's picklist columns to turn labels into values: the emulator answers those as
Dataverse documents them. Batches (``client.batch``) go through the emulator's ``$batch``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from leadconvert_dynamics import DynamicsBackend, DynamicsEmulator

from leadconvert import Conversion, CreateOpportunity, Outcome
from leadconvert.backend import PlanItem

_REASON = (
    "Microsoft's Dataverse client is not installed: "
    "pip install 'leadconvert[sdk]' (PowerPlatform-Dataverse-Client)"
)
pytest.importorskip("PowerPlatform.Dataverse.client", reason=_REASON)
pytest.importorskip("azure.identity", reason=_REASON)

from azure.identity import ClientSecretCredential  # noqa: E402
from PowerPlatform.Dataverse import col  # noqa: E402
from PowerPlatform.Dataverse.client import DataverseClient  # noqa: E402
from PowerPlatform.Dataverse.core.errors import HttpError  # noqa: E402


def code(error: pytest.ExceptionInfo[HttpError]) -> tuple[int | None, str]:
    """The HTTP status and Dataverse's error.code the client read from the answer."""
    return error.value.status_code, error.value.details["service_error_code"]


FAST = {"retry_base_delay": "0.01", "max_retries": "1", "timeout": "10"}
CONTOSO = "00000002-0000-4000-8000-000000000000"
_LEADS = itertools.count(1)


@pytest.fixture(scope="module")
def emulator() -> Iterator[DynamicsEmulator]:
    """A Dynamics emulator whose CA the requests-based clients trust (REQUESTS_CA_BUNDLE)."""
    with DynamicsEmulator() as em, pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", em.ca_bundle_path)
        yield em


@pytest.fixture(scope="module")
def credential(emulator: DynamicsEmulator) -> ClientSecretCredential:
    """azure-identity's client secret credential, signing in at the emulator's Entra ID."""
    credentials = emulator.credentials()
    return ClientSecretCredential(
        credentials["tenant_id"],
        credentials["client_id"],
        credentials["client_secret"],
        authority=emulator.base_url,  # the emulator is the Entra ID authority too
        disable_instance_discovery=True,
    )


@pytest.fixture(scope="module")
def dv(emulator: DynamicsEmulator, credential: ClientSecretCredential) -> Iterator[DataverseClient]:
    """The official client on the emulator."""
    with DataverseClient(emulator.base_url, credential) as client:
        yield client


@pytest.fixture
def converted(emulator: DynamicsEmulator) -> dict[str, str]:
    """A new lead added through the admin API, qualified by leadconvert; its records' ids."""
    n = next(_LEADS)  # a company and e-mail of its own: no duplicate of an earlier test's
    company = f"Integrations {n} Ltd"
    lead_id = emulator.add_lead(
        {
            "firstname": "Ines",
            "lastname": "Integrator",
            "companyname": company,
            "emailaddress1": f"ines{n}@integrations.example",
            "subject": "Integrations pilot",
        }
    )
    backend = DynamicsBackend()
    client = backend.connect(dict(emulator.credentials()), FAST)
    try:
        conversion = Conversion(lead_id, opportunity=CreateOpportunity(name="Integrations deal"))
        latest = {}
        for index, call in enumerate(backend.plan([PlanItem(conversion)], FAST).calls):
            for result in client.execute(call, call_index=index):
                latest[result.lead_id] = result
    finally:
        client.close()
    result = latest[lead_id]
    assert result.outcome is Outcome.CONVERTED
    assert result.account_id and result.contact_id and result.opportunity_id
    return {
        "company": company,
        "lead": lead_id,
        "account": result.account_id,
        "contact": result.contact_id,
        "opportunity": result.opportunity_id,
    }


def _stored(emulator: DynamicsEmulator, entity_set: str, record_id: str) -> dict[str, Any]:
    key = {"accounts": "accountid", "contacts": "contactid", "opportunities": "opportunityid"}
    (record,) = [
        r for r in emulator.state()[entity_set] if r[key.get(entity_set, "leadid")] == record_id
    ]
    return dict(record)


def _api_calls(emulator: DynamicsEmulator, start: int) -> list[str]:
    """The Web API requests since ``start`` (not the sign-in ones)."""
    return [f"{r.method} {r.path}" for r in emulator.requests[start:] if "/api/data/" in r.path]


def test_retrieve_the_qualified_lead_and_its_records(
    credential: ClientSecretCredential, emulator: DynamicsEmulator, converted: dict[str, str]
) -> None:
    """retrieve() by id: the lead is qualified and names the records QualifyLead made."""
    start = len(emulator.requests)
    with DataverseClient(emulator.base_url, credential) as dv:
        lead, account, contact, opportunity = _retrieve_all(dv, converted)
        assert dv.records.retrieve("lead", converted["lead"], select=["fullname"]) is not None
    assert lead is not None and lead.id == converted["lead"]
    assert (lead["statecode"], lead["statuscode"]) == (1, 3)
    assert (
        lead["_parentaccountid_value"],
        lead["_parentcontactid_value"],
        lead["_qualifyingopportunityid_value"],
    ) == (converted["account"], converted["contact"], converted["opportunity"])
    assert account is not None and account["name"] == converted["company"]
    assert contact is not None
    assert (contact["lastname"], contact["_parentcustomerid_value"]) == (
        "Integrator",
        converted["account"],
    )
    assert opportunity is not None
    assert opportunity["name"] == "Integrations deal"  # leadconvert's follow-up PATCH
    assert opportunity["_customerid_value"] == converted["account"]
    assert opportunity["_originatingleadid_value"] == converted["lead"]
    # Each table's entity set and primary id came from EntityDefinitions, once per table.
    api = _api_calls(emulator, start)
    lookup = "GET /api/data/v9.2/EntityDefinitions"
    assert api == [
        lookup,
        f"GET /api/data/v9.2/leads({converted['lead']})",
        lookup,
        f"GET /api/data/v9.2/accounts({converted['account']})",
        lookup,
        f"GET /api/data/v9.2/contacts({converted['contact']})",
        lookup,
        f"GET /api/data/v9.2/opportunities({converted['opportunity']})",
        f"GET /api/data/v9.2/leads({converted['lead']})",
    ]


def _retrieve_all(dv: DataverseClient, converted: dict[str, str]) -> list[Any]:
    lead = dv.records.retrieve(
        "lead",
        converted["lead"],
        select=[
            "statecode",
            "statuscode",
            "_parentaccountid_value",
            "_parentcontactid_value",
            "_qualifyingopportunityid_value",
        ],
    )
    return [
        lead,
        dv.records.retrieve("account", converted["account"], select=["name"]),
        dv.records.retrieve("contact", converted["contact"]),
        dv.records.retrieve("opportunity", converted["opportunity"]),
    ]


def test_list_with_filter_select_orderby_and_top(
    dv: DataverseClient, emulator: DynamicsEmulator, converted: dict[str, str]
) -> None:
    """list() sends $filter, $select, $orderby and $top; the emulator applies each one."""
    contacts = dv.records.list(
        "contact",
        filter=f"_parentcustomerid_value eq {converted['account']}",
        select=["fullname", "emailaddress1"],
    )
    assert [(c["contactid"], c["fullname"]) for c in contacts] == [
        (converted["contact"], "Ines Integrator")
    ]
    open_leads = sorted(
        (lead["fullname"] for lead in emulator.state()["leads"] if lead["statecode"] == 0),
        key=str.casefold,
        reverse=True,
    )
    assert len(open_leads) > 2
    newest = dv.records.list(
        "lead", filter=col("statecode") == 0, select=["fullname"], orderby=["fullname desc"], top=2
    )
    assert [lead["fullname"] for lead in newest] == open_leads[:2]
    qualified = dv.records.list(
        "lead",
        filter=(col("statecode") == 1) & (col("companyname") == converted["company"].upper()),
        select=["leadid"],
    )
    assert [lead["leadid"] for lead in qualified] == [converted["lead"]]  # text: no case


def test_update_the_opportunity_a_qualification_made(
    credential: ClientSecretCredential, emulator: DynamicsEmulator, converted: dict[str, str]
) -> None:
    """update(): a PATCH with If-Match: *; the sales stage's label becomes its value first."""
    before = emulator.counts(converted["lead"])
    start = len(emulator.requests)
    with DataverseClient(emulator.base_url, credential) as dv:  # no metadata cached yet
        dv.records.update(
            "opportunity",
            converted["opportunity"],
            {
                "name": "Integrations deal, phase 2",
                "estimatedvalue": 25000.5,
                "salesstage": "Propose",
            },
        )
        reread = dv.records.retrieve("opportunity", converted["opportunity"], select=["salesstage"])
        dv.records.update("contact", converted["contact"], {"jobtitle": "CTO"})
    stored = _stored(emulator, "opportunities", converted["opportunity"])
    assert stored["name"] == "Integrations deal, phase 2"
    assert stored["estimatedvalue"] == Decimal("25000.5")
    assert stored["salesstage"] == 2  # "Propose", from the picklist metadata
    assert stored["_customerid_value"] == converted["account"]  # untouched
    assert _api_calls(emulator, start)[:3] == [
        "GET /api/data/v9.2/EntityDefinitions(LogicalName='opportunity')"
        "/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        "GET /api/data/v9.2/EntityDefinitions",
        f"PATCH /api/data/v9.2/opportunities({converted['opportunity']})",
    ]
    assert reread is not None and reread["salesstage"] == 2
    assert _stored(emulator, "contacts", converted["contact"])["jobtitle"] == "CTO"
    after = emulator.counts(converted["lead"])  # two updates of records the conversion made
    assert (after["convert"], after["follow_up"] - before["follow_up"]) == (1, 2)


def test_row_versions_for_optimistic_concurrency(
    dv: DataverseClient,
    credential: ClientSecretCredential,
    emulator: DynamicsEmulator,
    converted: dict[str, str],
) -> None:
    """Every record read carries its @odata.etag; a PATCH with If-Match of a version that is
    no longer current is refused with 412 0x80060882 and changes nothing."""
    first = dv.records.retrieve("account", converted["account"], select=["name"])
    assert first is not None and first.etag and first.etag.startswith('W/"')
    (listed,) = dv.records.list("account", filter=f"accountid eq {converted['account']}")
    assert listed.etag == first.etag
    dv.records.update("account", converted["account"], {"telephone1": "+1 555 0199"})
    second = dv.records.retrieve("account", converted["account"], select=["name"])
    assert second is not None and second.etag != first.etag
    url = f"{emulator.base_url}/api/data/v9.2/accounts({converted['account']})"
    token = credential.get_token(emulator.base_url + "/.default").token
    stale = requests.patch(
        url,
        json={"name": "Stale write"},
        headers={"Authorization": f"Bearer {token}", "If-Match": first.etag},
        timeout=10,
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"
    assert _stored(emulator, "accounts", converted["account"])["name"] == converted["company"]
    current = requests.patch(
        url,
        json={"name": "Current write"},
        headers={"Authorization": f"Bearer {token}", "If-Match": second.etag},
        timeout=10,
    )
    assert current.status_code == 204
    assert _stored(emulator, "accounts", converted["account"])["name"] == "Current write"


def test_batch_of_updates_and_reads(
    dv: DataverseClient, emulator: DynamicsEmulator, converted: dict[str, str]
) -> None:
    """batch: a retrieve and a change set of two updates in one $batch; the change set is
    atomic, so one refused update leaves the other undone."""
    batch = dv.batch.new()
    batch.records.retrieve("account", converted["account"], select=["name"])
    with batch.changeset() as changes:
        changes.records.update("opportunity", converted["opportunity"], {"budgetamount": 900})
        changes.records.update("contact", converted["contact"], {"jobtitle": "Buyer"})
    read, *updated = batch.execute().responses
    assert read.status_code == 200 and read.data["name"] == converted["company"]
    assert [u.status_code for u in updated] == [204, 204]
    assert _stored(emulator, "opportunities", converted["opportunity"])["budgetamount"] == 900
    assert _stored(emulator, "contacts", converted["contact"])["jobtitle"] == "Buyer"

    batch = dv.batch.new()
    with batch.changeset() as changes:
        changes.records.update("contact", converted["contact"], {"jobtitle": "Nobody"})
        changes.records.update("opportunity", converted["opportunity"], {"salesstage": 9})
    (refused,) = batch.execute().responses
    assert (refused.status_code, refused.error_code) == (400, "0x80044331")
    assert _stored(emulator, "contacts", converted["contact"])["jobtitle"] == "Buyer"


def test_the_org_s_rules_hold(
    dv: DataverseClient, emulator: DynamicsEmulator, converted: dict[str, str]
) -> None:
    """A qualified lead is read-only, a choice outside its options or a bad number is refused
    with Dataverse's codes, and the refused changes are not stored."""
    with pytest.raises(HttpError) as closed:
        dv.records.update("lead", converted["lead"], {"subject": "changed"})
    assert code(closed) == (400, "0x80040519")
    with pytest.raises(HttpError) as stage:
        dv.records.update("opportunity", converted["opportunity"], {"salesstage": 42})
    assert code(stage) == (400, "0x80044331")
    assert "outside the valid range" in str(stage.value)
    with pytest.raises(HttpError) as amount:
        dv.records.update("opportunity", converted["opportunity"], {"estimatedvalue": "lots"})
    assert code(amount) == (400, "0x80044331")
    with pytest.raises(HttpError) as column:
        dv.records.update("account", converted["account"], {"no such column": 1})
    assert code(column) == (400, "0x80060888")
    assert _stored(emulator, "leads", converted["lead"])["subject"] == "Integrations pilot"
    assert _stored(emulator, "opportunities", converted["opportunity"]).get("salesstage") != 42
    missing = "00000002-0000-4000-8000-0000000000ff"
    assert dv.records.retrieve("account", missing) is None  # 404 0x80040217
    with pytest.raises(HttpError) as gone:
        dv.records.update("account", missing, {"name": "x"})
    assert code(gone) == (404, "0x80040217")


def test_table_metadata(dv: DataverseClient) -> None:
    """tables.get() and tables.list() read EntityDefinitions; unknown tables are not there."""
    info = dv.tables.get("opportunity")
    assert info is not None
    assert (info.schema_name, info.entity_set_name, info.primary_id_attribute) == (
        "Opportunity",
        "opportunities",
        "opportunityid",
    )
    names = {t["LogicalName"] for t in dv.tables.list(select=["LogicalName", "EntitySetName"])}
    assert names == {"lead", "account", "contact", "opportunity", "systemuser"}
    assert dv.tables.get("campaign") is None


def test_what_is_not_emulated_is_not_found(
    dv: DataverseClient,
    credential: ClientSecretCredential,
    emulator: DynamicsEmulator,
    converted: dict[str, str],
) -> None:
    """Creating or deleting records, bulk actions, $expand, SQL: Dataverse's 404 0x80060888
    for an unknown resource, never a made-up success, and the org is unchanged."""
    before = emulator.state()

    def not_found(call: Any, *args: Any, **kwargs: Any) -> str:
        with warnings.catch_warnings(), pytest.raises(HttpError) as refused:
            warnings.simplefilter("ignore", DeprecationWarning)
            result = call(*args, **kwargs)
            if not isinstance(result, str | None):
                list(result)
        assert code(refused) == (404, "0x80060888")
        message = str(refused.value)
        assert message.startswith("Resource not found for the segment")
        return message

    assert "'accounts'" in not_found(dv.records.create, "account", {"name": "Made up Ltd"})
    not_found(dv.records.delete, "contact", converted["contact"])
    assert "UpdateMultiple" in not_found(
        dv.records.update, "opportunity", [converted["opportunity"]], [{"name": "x"}]
    )
    assert "$expand" in not_found(
        dv.records.list, "account", select=["name"], expand=["primarycontactid"]
    )
    assert "$count" in not_found(dv.records.list, "account", count=True)
    assert "sql" in not_found(dv.query.sql, "SELECT name FROM account")
    assert "$filter=contains(name,'Ltd')" in not_found(
        dv.records.list, "account", filter="contains(name,'Ltd')"
    )
    assert "$filter=statecode ne 0" in not_found(dv.records.list, "lead", filter="statecode ne 0")
    # A PATCH of a missing record without If-Match: * is an upsert that creates it in
    # Dataverse: not emulated either (the client's own update sends If-Match: *, see above).
    token = credential.get_token(emulator.base_url + "/.default").token
    upsert = requests.patch(
        f"{emulator.base_url}/api/data/v9.2/accounts(00000002-0000-4000-8000-0000000000fe)",
        json={"name": "Upserted Ltd"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert upsert.status_code == 404 and upsert.json()["error"]["code"] == "0x80060888"
    assert emulator.state() == before
    assert CONTOSO in {a["accountid"] for a in before["accounts"]}
