"""What integrators do around a conversion with simple-salesforce, against the emulator
(issue 17): SOQL on Lead, LeadStatus, Account, Contact and Opportunity, describe of Lead,
sObject GET and PATCH of the records a conversion made; the org's state checked afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from leadconvert_salesforce import SalesforceBackend, SalesforceEmulator
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from leadconvert import Conversion, CreateOpportunity, Outcome
from leadconvert.backend import PlanItem

FAST = {"retry_base_delay": "0.01", "max_retries": "1", "timeout": "10"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as em:
        yield em


@pytest.fixture(scope="module")
def sf(emulator: SalesforceEmulator) -> Salesforce:
    """An unmodified simple-salesforce connection, logged in over SOAP, trusting the emulator's CA."""
    credentials = emulator.credentials()
    session = requests.Session()
    session.trust_env = False
    session.verify = emulator.ca_bundle_path
    return Salesforce(
        username=credentials["username"],
        password=credentials["password"],
        security_token=credentials["security_token"],
        domain=credentials["domain"],
        session=session,
    )


@pytest.fixture(scope="module")
def converted(emulator: SalesforceEmulator) -> dict[str, str]:
    """A lead added through the admin API, converted by leadconvert; its new records' ids."""
    lead_id = emulator.add_lead(
        {"FirstName": "Ines", "LastName": "Integrator", "Company": "Integrations Ltd"}
    )
    backend = SalesforceBackend()
    with backend.connect(emulator.credentials(), FAST) as client:
        conversion = Conversion(lead_id, opportunity=CreateOpportunity(name="Integrations deal"))
        (call,) = backend.plan([PlanItem(conversion)], FAST).calls
        (result,) = client.execute(call, call_index=0)
    assert result.outcome is Outcome.CONVERTED
    assert result.account_id and result.contact_id and result.opportunity_id
    return {
        "lead": lead_id,
        "account": result.account_id,
        "contact": result.contact_id,
        "opportunity": result.opportunity_id,
    }


def test_soql_on_the_converted_lead_and_its_records(
    sf: Salesforce, converted: dict[str, str]
) -> None:
    lead = sf.query(
        "SELECT Id, IsConverted, ConvertedAccountId, ConvertedContactId, ConvertedOpportunityId "
        f"FROM Lead WHERE Id = '{converted['lead'][:15]}'"
    )["records"][0]
    assert lead["IsConverted"] is True
    assert lead["attributes"]["type"] == "Lead"
    assert (lead["ConvertedAccountId"], lead["ConvertedContactId"]) == (
        converted["account"],
        converted["contact"],
    )
    account = sf.query(f"SELECT Id, Name FROM Account WHERE Id = '{converted['account']}'")
    assert account["records"][0]["Name"] == "Integrations Ltd"
    contacts = sf.query(
        f"SELECT Id, Name, AccountId FROM Contact WHERE AccountId = '{converted['account']}'"
    )["records"]
    assert [c["Name"] for c in contacts] == ["Ines Integrator"]
    opportunities = sf.query(
        "SELECT Id, StageName FROM Opportunity "
        f"WHERE AccountId = '{converted['account']}' ORDER BY Name LIMIT 5"
    )
    assert opportunities["totalSize"] == 1
    assert opportunities["records"][0]["Id"] == converted["opportunity"]


def test_soql_lead_status(sf: Salesforce) -> None:
    statuses = sf.query("SELECT ApiName, MasterLabel FROM LeadStatus WHERE IsConverted = true")
    assert [s["ApiName"] for s in statuses["records"]] == ["Closed - Converted"]
    others = sf.query("SELECT ApiName FROM LeadStatus WHERE IsConverted != true LIMIT 2")
    assert others["totalSize"] == 2


def test_describe_lead(sf: Salesforce) -> None:
    """describe() of Lead lists the fields of the org's leads and its LeadStatus picklist."""
    described = sf.Lead.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["name"] == "Lead" and described["keyPrefix"] == "00Q"
    assert {"Id", "LastName", "Company", "Status", "IsConverted", "ConvertedAccountId"} <= set(
        fields
    )
    assert fields["LastName"]["nillable"] is False
    assert fields["ConvertedAccountId"]["referenceTo"] == ["Account"]
    values = [v["value"] for v in fields["Status"]["picklistValues"]]
    assert "Closed - Converted" in values and "Open - Not Contacted" in values


def test_get_and_patch_the_records_a_conversion_made(
    sf: Salesforce, emulator: SalesforceEmulator, converted: dict[str, str]
) -> None:
    """GET the new account and contact; PATCH the opportunity: stored, and counted as a follow-up."""
    account = sf.Account.get(converted["account"])
    assert account["Name"] == "Integrations Ltd" and account["attributes"]["type"] == "Account"
    assert sf.Contact.get(converted["contact"])["LastName"] == "Integrator"
    before = emulator.counts(converted["lead"])
    status = sf.Opportunity.update(
        converted["opportunity"], {"StageName": "Qualification", "Amount": 2500.5}
    )
    assert status == 204
    stored = emulator.record("Opportunity", converted["opportunity"])
    assert (stored["StageName"], stored["Amount"]) == ("Qualification", 2500.5)
    assert sf.Opportunity.get(converted["opportunity"])["StageName"] == "Qualification"
    assert sf.Contact.update(converted["contact"], {"Title": "CTO"}) == 204
    assert emulator.record("Contact", converted["contact"])["Title"] == "CTO"
    after = emulator.counts(converted["lead"])
    assert (before["convert"], after["convert"]) == (1, 1)
    assert after["follow_up"] - before["follow_up"] == 2


def test_the_org_s_rules_hold_on_rest(sf: Salesforce, converted: dict[str, str]) -> None:
    """A stage outside the org's picklist, an unknown field, a converted lead: Salesforce's errors."""
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        sf.Opportunity.update(converted["opportunity"], {"StageName": "Daydreaming"})
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.Account.update(converted["account"], {"NoSuchField": 1})
    with pytest.raises(SalesforceMalformedRequest, match="CANNOT_UPDATE_CONVERTED_LEAD"):
        sf.Lead.update(converted["lead"], {"Title": "x"})


def test_what_is_not_emulated_is_not_found(sf: Salesforce) -> None:
    """Anything the emulator does not serve answers NOT_FOUND, never a made-up success."""
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get("001000000000999")
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Account/updated/", params={"start": "2026-01-01T00:00:00Z"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("limits/")


def test_soap_it_does_not_emulate_is_a_soap_fault(emulator: SalesforceEmulator) -> None:
    """Not XML, or a SOAP call other than login and convertLead: a SOAP fault, not a success."""
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    http.verify = emulator.ca_bundle_path
    url = emulator.base_url + "/services/Soap/u/59.0"
    garbage = http.post(url, data=b"not xml", timeout=5)
    assert garbage.status_code == 500 and "INVALID_XML" in garbage.text
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:describeGlobal/>'
        "</soapenv:Body></soapenv:Envelope>"
    )
    other = http.post(url, data=envelope, timeout=5)
    assert other.status_code == 500 and "INVALID_OPERATION" in other.text
    assert emulator.requests[-1].operation == "describeGlobal"
