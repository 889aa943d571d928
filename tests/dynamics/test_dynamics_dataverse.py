"""The emulated Dataverse org itself: its QualifyLead rules (no HTTP) and its $batch protocol."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from leadconvert_dynamics import DynamicsEmulator
from leadconvert_dynamics.emulator import DataverseOrg, OrgError

from leadconvert import dumps_json

LEAD = "00000001-0000-4000-8000-000000000000"
ACCOUNT = "00000002-0000-4000-8000-000000000000"
CONTACT_OF_OTHER = "00000003-0000-4000-8000-000000000001"
PLAIN = {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": False, "Status": 3}


@pytest.fixture
def org(emulator: DynamicsEmulator) -> DataverseOrg:
    return DataverseOrg.from_seed(emulator.seed)


def refused(org: DataverseOrg, parameters: dict[str, Any], lead: str = LEAD) -> OrgError:
    with pytest.raises(OrgError) as caught:
        org.qualify(lead, parameters)
    assert org.get("leads", lead)["statecode"] in (0, 1)
    return caught.value


def test_qualify_creates_linked_records_and_closes_the_lead(org: DataverseOrg) -> None:
    created = org.qualify(LEAD, {**PLAIN, "CreateOpportunity": True})
    assert [c["@odata.type"] for c in created] == [
        "#Microsoft.Dynamics.CRM.account",
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    ]
    account, contact, opportunity = (
        org.get(s, c[k])
        for s, c, k in zip(
            ("accounts", "contacts", "opportunities"),
            created,
            ("accountid", "contactid", "opportunityid"),
            strict=True,
        )
    )
    # "the created account becomes a parent of the contact and the contact becomes a primary
    # contact for the account"
    assert contact["_parentcustomerid_value"] == account["accountid"]
    assert account["_primarycontactid_value"] == contact["contactid"]
    assert opportunity["name"] == "Interested in 100 licences"  # the lead's topic
    lead = org.get("leads", LEAD)
    assert (lead["statecode"], lead["statuscode"]) == (1, 3)
    assert lead["_qualifyingopportunityid_value"] == opportunity["opportunityid"]
    assert refused(org, PLAIN).code == "0x80040519"  # the lead is already closed


@pytest.mark.parametrize(
    ("parameters", "code", "text"),
    [
        ({**PLAIN, "Status": 4}, "0x80040203", "not a valid status code"),
        ({**PLAIN, "Status": 100000099}, "0x80040203", "not a valid status code"),
        ({k: v for k, v in PLAIN.items() if k != "Status"}, "0x80040203", "Status"),
        ({**PLAIN, "Bogus": True}, "0x80040203", "unresolved parameters"),
        (
            {
                **PLAIN,
                "OpportunityCustomerId": {
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "accountid": ACCOUNT,
                },
            },
            "0x80040203",
            "only used with CreateOpportunity",
        ),
        (
            {**PLAIN, "CreateAccount": False, "CreateContact": False, "CreateOpportunity": True},
            "0x80040203",
            "needs a customer",
        ),
    ],
)
def test_qualify_refuses_as_documented_and_changes_nothing(
    org: DataverseOrg, parameters: dict[str, Any], code: str, text: str
) -> None:
    accounts = len(org.tables["accounts"])
    error = refused(org, parameters)
    assert (error.code, error.status) == (code, 400)
    assert text in error.message
    assert org.get("leads", LEAD)["statecode"] == 0
    assert len(org.tables["accounts"]) == accounts


def test_suppress_duplicate_detection_is_a_seed_switch(emulator: DynamicsEmulator) -> None:
    yvonne = "00000001-0000-4000-8000-000000000002"
    org = DataverseOrg.from_seed(emulator.seed)
    assert refused(org, PLAIN, yvonne).code == "0x80040333"
    org.qualify(yvonne, {**PLAIN, "SuppressDuplicateDetection": True})
    strict = DataverseOrg.from_seed(
        {**emulator.seed, "accepts_suppress_duplicate_detection": False}
    )
    error = refused(strict, {**PLAIN, "SuppressDuplicateDetection": True}, yvonne)
    assert "unresolved parameters" in error.message


def test_a_contact_of_another_account_is_refused_and_the_transaction_undone(
    org: DataverseOrg,
) -> None:
    with pytest.raises(OrgError, match="does not belong"), org.transaction():
        org.update(
            "leads",
            LEAD,
            {
                "parentaccountid@odata.bind": f"/accounts({ACCOUNT})",
                "parentcontactid@odata.bind": f"/contacts({CONTACT_OF_OTHER})",
            },
        )
        org.qualify(LEAD, {**PLAIN, "CreateAccount": False, "CreateContact": False})
    assert org.get("leads", LEAD)["_parentaccountid_value"] is None


# --- the protocol over HTTPS ---------------------------------------------------------------------


def _session(emulator: DynamicsEmulator) -> tuple[requests.Session, str]:
    creds = emulator.credentials()
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would win over verify (psf/requests#3829)
    session.verify = creds["ca_bundle"]
    token = session.post(
        f"{creds['authority_host']}/{creds['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "scope": f"{creds['org_url']}/.default",
        },
        timeout=10,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session, f"{creds['org_url']}/api/data/v9.2"


def _batch(parts: list[str], boundary: str = "b") -> str:
    return "".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n"


def _part(method: str, url: str, body: Any = None) -> str:
    text = f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{method} {url} HTTP/1.1\r\n"
    if body is not None:
        text += f"Content-Type: application/json\r\n\r\n{dumps_json(body)}\r\n"
    else:
        text += "\r\n"
    return text


def test_without_continue_on_error_a_batch_stops_at_its_first_failure(
    emulator: DynamicsEmulator,
) -> None:
    session, api = _session(emulator)
    missing = "00000001-0000-4000-8000-00000000ffff"
    body = _batch(
        [
            _part(
                "POST", f"/api/data/v9.2/leads({missing})/Microsoft.Dynamics.CRM.QualifyLead", PLAIN
            ),
            _part(
                "POST", f"/api/data/v9.2/leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead", PLAIN
            ),
        ]
    )
    answer = session.post(
        f"{api}/$batch",
        data=body,
        headers={"Content-Type": "multipart/mixed; boundary=b"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.text.count("HTTP/1.1 ") == 1 and "0x80040217" in answer.text
    assert emulator.lead(LEAD)["statecode"] == 0  # never reached
    answer = session.post(
        f"{api}/$batch",
        data=body,
        headers={
            "Content-Type": "multipart/mixed; boundary=b",
            "Prefer": "odata.continue-on-error",
        },
        timeout=10,
    )
    assert answer.text.count("HTTP/1.1 ") == 2
    assert emulator.lead(LEAD)["statecode"] == 1


def test_the_web_api_subset(emulator: DynamicsEmulator) -> None:
    session, api = _session(emulator)
    found = session.get(
        f"{api}/contacts",
        params={"$filter": "lastname eq 'McKay' and firstname eq 'Yvonne'", "$select": "fullname"},
        timeout=10,
    ).json()["value"]
    assert [row.pop("@odata.etag")[:3] for row in found] == ['W/"']  # each row's version
    assert found == [
        {"contactid": "00000003-0000-4000-8000-000000000000", "fullname": "Yvonne McKay"}
    ]
    quoted = session.get(f"{api}/accounts", params={"$filter": "name eq 'O''Brien'"}, timeout=10)
    assert quoted.json()["value"] == []
    # The namespace is required (the documented 400).
    answer = session.post(f"{api}/leads({LEAD})/QualifyLead", json=PLAIN, timeout=10)
    assert answer.status_code == 400 and "unresolved" in answer.json()["error"]["message"]
    assert session.get(f"{api}/leads({LEAD})", timeout=10).json()["statecode"] == 0
    unauthorised = requests.get(f"{api}/leads", verify=session.verify, timeout=10)
    assert unauthorised.status_code == 401
    # GET is not allowed in a change set.
    changeset = "Content-Type: multipart/mixed; boundary=c\r\n\r\n" + _batch(
        [_part("GET", f"/api/data/v9.2/leads({LEAD})")], "c"
    )
    answer = session.post(
        f"{api}/$batch",
        data=_batch([changeset]),
        headers={"Content-Type": "multipart/mixed; boundary=b"},
        timeout=10,
    )
    assert "GET requests are not allowed" in answer.text


def test_counts_through_the_shared_admin_api(emulator: DynamicsEmulator) -> None:
    session, api = _session(emulator)
    session.post(f"{api}/leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead", json=PLAIN, timeout=10)
    counts = requests.get(
        f"{emulator.base_url}/__emulator/counts/{LEAD.upper()}", verify=session.verify, timeout=10
    ).json()
    assert counts == {"convert": 1, "follow_up": 0}
    added = requests.post(
        f"{emulator.base_url}/__emulator/leads",
        json={"lastname": "Admin"},
        verify=session.verify,
        timeout=10,
    )
    assert added.status_code == 201
    assert emulator.lead(added.json()["id"])["statecode"] == 0
