"""Zoho's official Python SDK (zohocrmsdk8-0) against the emulator: Zoho's own samples, run
offline, and the emulated org checked afterwards (issue 17).

The samples follow Zoho's "Convert Lead" and "Mass Convert" SDK samples: ``LeadConverter`` with
accounts, contacts, assign_to and a deal; ``BodyWrapper`` with ids, a deal, assign_to and
related modules, then ``get_job_status``. The SDK reads the current user and the org when it
starts, and the Deals (and for conversion options all four) field metadata before each call:
the emulator derives those from its org.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from leadconvert_zoho import ZohoEmulator
from zoho_helpers import access_token

sdk = pytest.importorskip(
    "zohocrmsdk",
    reason="Zoho's SDK is not installed: pip install 'leadconvert[sdk]' (zohocrmsdk8-0)",
)

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken  # noqa: E402
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore  # noqa: E402
from zohocrmsdk.src.com.zoho.api.logger import Logger  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api import conversion_option, convert_lead, mass_convert  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import (  # noqa: E402
    Field,
    Record,
    RecordOperations,
    ResponseWrapper,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.users import MinifiedUser  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.util import Choice  # noqa: E402

PAT = "4876876000007400001"  # the Kaizen #137 lead
ZYLKER = "4876876000007421010"  # its account
PAT_CONTACT = "4876876000007421001"  # the contact linked to that account
OWNER = "4876876000000225013"
FIRST = 5000000000000001000  # the seed's generated leads


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZohoEmulator]:
    """A Zoho emulator with the SDK initialised against it (strict picklist validation on)."""
    folder = tmp_path_factory.mktemp("zoho-sdk")
    with ZohoEmulator(job_delay=0.05, refresh_limit=1000, quiet=True) as em:
        credentials = em.credentials()
        Initializer.initialize(
            # The emulator is both the API domain and the accounts server.
            environment=DataCenter.Environment(
                em.base_url, em.base_url + "/oauth/v2/token", em.base_url
            ),
            token=OAuthToken(
                client_id=credentials["client_id"],
                client_secret=credentials["client_secret"],
                refresh_token=credentials["refresh_token"],
            ),
            store=FileStore(str(folder / "tokens.csv")),
            sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=True),
            resource_path=str(folder),
            logger=Logger.get_instance(Logger.Levels.INFO, str(folder / "sdk.log")),
        )
        yield em
    logging.getLogger("SDKLogger").handlers.clear()


def _answer(response: Any) -> Any:
    assert response is not None and response.get_status_code() in (200, 201, 202)
    return response.get_object()


def test_sdk_starts_on_the_emulator(emulator: ZohoEmulator) -> None:
    """Initialisation read the current user and the org, as the SDK does on a real org."""
    paths = [path for _, path in emulator.calls]
    assert "/oauth/v2/token" in paths
    assert "/crm/v8/users" in paths and "/crm/v8/org" in paths


def test_convert_lead_sample(emulator: ZohoEmulator) -> None:
    """Zoho's convert-lead sample: merge into the account and contact, assign, make a deal."""
    lead = convert_lead.LeadConverter()
    lead.set_overwrite(True)
    lead.set_notify_lead_owner(True)
    lead.set_notify_new_entity_owner(True)
    account = Record()
    account.set_id(int(ZYLKER))
    lead.set_accounts(account)
    contact = Record()
    contact.set_id(int(PAT_CONTACT))
    lead.set_contacts(contact)
    user = MinifiedUser()
    user.set_id(int(OWNER))
    lead.set_assign_to(user)
    deal = Record()
    deal.add_field_value(Field.Deals.deal_name(), "SDK deal")
    deal.add_field_value(Field.Deals.closing_date(), dt.date(2026, 10, 2))
    deal.add_field_value(Field.Deals.stage(), Choice("Closed Won"))
    deal.add_field_value(Field.Deals.pipeline(), Choice("Standard (Standard)"))
    deal.add_field_value(Field.Deals.amount(), 500.78)
    lead.set_deals(deal)
    body = convert_lead.BodyWrapper()
    body.set_data([lead])

    answer = _answer(convert_lead.ConvertLeadOperations(int(PAT)).convert_lead(body))

    assert isinstance(answer, convert_lead.ActionWrapper)
    (result,) = answer.get_data()
    assert isinstance(result, convert_lead.SuccessResponse), result.get_message()
    details = result.get_details()
    deal_id = str(details["Deals"].get_id())
    assert str(details["Accounts"].get_id()) == ZYLKER
    assert str(details["Contacts"].get_id()) == PAT_CONTACT
    state = emulator.state()
    stored = next(d for d in state["deals"] if d["id"] == deal_id)
    assert stored["Deal_Name"] == "SDK deal" and stored["Stage"] == "Closed Won"
    assert stored["Pipeline"] == "Standard (Standard)" and stored["Closing_Date"] == "2026-10-02"
    assert stored["Account_Name"]["id"] == ZYLKER and stored["Owner"]["id"] == OWNER
    assert stored["Contact_Name"]["id"] == PAT_CONTACT
    converted = emulator.lead(PAT)
    assert converted["$converted_detail"]["deal"] == deal_id
    assert emulator.counts(PAT) == {"convert": 1, "follow_up": 0}
    # The SDK validated the stage against the picklist the emulator derived from its pipelines.
    assert ("GET", "/crm/v8/settings/fields") in emulator.calls
    # ... and reads the records the conversion made back, typed by that metadata.
    read = _answer(RecordOperations("Deals").get_record(int(deal_id)))
    assert isinstance(read, ResponseWrapper)
    (record,) = read.get_data()
    assert record.get_key_value("Stage").get_value() == "Closed Won"
    assert record.get_key_value("Closing_Date") == dt.date(2026, 10, 2)
    assert str(record.get_key_value("Account_Name").get_id()) == ZYLKER


def test_convert_lead_refused_in_zohos_shape(emulator: ZohoEmulator) -> None:
    """A rule of the org (the stage is not in the pipeline) reaches the SDK as Zoho's error."""
    lead = convert_lead.LeadConverter()
    deal = Record()
    deal.add_field_value(Field.Deals.deal_name(), "Wrong stage")
    deal.add_field_value(Field.Deals.closing_date(), dt.date(2026, 10, 2))
    deal.add_field_value(Field.Deals.stage(), Choice("Value Proposition"))
    deal.add_field_value(Field.Deals.pipeline(), Choice("Standard(Standard)"))
    lead.set_deals(deal)
    body = convert_lead.BodyWrapper()
    body.set_data([lead])
    lead_id = str(FIRST + 1)
    response = convert_lead.ConvertLeadOperations(int(lead_id)).convert_lead(body)
    answer = response.get_object()
    errors = answer.get_data() if isinstance(answer, convert_lead.ActionWrapper) else [answer]
    assert errors[0].get_code().get_value() == "MAPPING_MISMATCH"
    assert not emulator.lead(lead_id).get("$converted")


def test_conversion_options_sample(emulator: ZohoEmulator) -> None:
    """The conversion options of a lead whose e-mail and phone match existing contacts."""
    lead_id = emulator.add_lead(
        First_Name="Pat", Last_Name="Boyle", Email="pat.boyle@zylker.com", Company="Zylker Biotech"
    )
    operations = conversion_option.ConversionOptionOperations(int(lead_id))
    answer = _answer(operations.lead_conversion_options())
    assert isinstance(answer, conversion_option.ResponseWrapper)
    options = answer.get_conversion_options()
    assert options.get_module_preference().get_api_name() == "Contacts"
    contacts = {str(c.get_id()) for c in options.get_contacts()}
    assert "4876876000007437017" in contacts
    accounts = {str(a.get_id()) for a in options.get_accounts()}
    assert ZYLKER in accounts


def test_mass_convert_sample(emulator: ZohoEmulator) -> None:
    """Zoho's mass-convert sample, then its job status until done; every lead converted once."""
    ids = [FIRST + 10 + n for n in range(3)]
    body = mass_convert.BodyWrapper()
    body.set_ids(ids)
    deal = Record()
    deal.add_field_value(Field.Deals.deal_name(), "Mass SDK deal")
    deal.add_field_value(Field.Deals.closing_date(), dt.date(2026, 11, 30))
    deal.add_field_value(Field.Deals.stage(), Choice("Qualification"))
    deal.add_field_value(Field.Deals.pipeline(), Choice("Standard (Standard)"))
    body.set_deals(deal)
    owner = mass_convert.AssignTo()
    owner.set_id(int(OWNER))
    body.set_assign_to(owner)
    contacts = mass_convert.RelatedModule()
    contacts.set_api_name("Contacts")
    contacts.set_id(int(emulator.settings()["contacts_module_id"]))
    body.set_related_modules([contacts])
    operations = mass_convert.MassConvertOperations()

    scheduled = _answer(operations.mass_convert(body))

    assert isinstance(scheduled, mass_convert.SuccessResponse), scheduled.get_message()
    assert scheduled.get_code().get_value() == "SCHEDULED"
    job_id = scheduled.get_details()["job_id"]
    params = sdk.src.com.zoho.crm.api.ParameterMap()
    params.add(mass_convert.GetJobStatusParam.job_id, int(job_id))
    deadline = time.monotonic() + 10
    while True:
        status = _answer(operations.get_job_status(params))
        assert isinstance(status, mass_convert.ResponseWrapper)
        (job,) = status.get_data()
        if job.get_status() == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert job.get_status() == "COMPLETED"
    assert (job.get_total_count(), job.get_converted_count(), job.get_failed_count()) == (3, 3, 0)
    deals = {d["id"]: d for d in emulator.state()["deals"]}
    for lead_id in map(str, ids):
        detail = emulator.lead(lead_id)["$converted_detail"]
        assert deals[detail["deal"]]["Deal_Name"] == "Mass SDK deal"
        assert deals[detail["deal"]]["Owner"]["id"] == OWNER
        assert emulator.counts(lead_id)["convert"] == 1


def test_unknown_url_is_zohos_error(emulator: ZohoEmulator) -> None:
    """Anything the emulator does not serve is INVALID_URL_PATTERN, never a made-up success."""
    import requests

    token = access_token(emulator)
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    for path in ("/crm/v8/Tasks", "/crm/v8/Leads/search?email=x", "/crm/v8/coql"):
        answer = requests.get(emulator.base_url + path, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (404, "INVALID_URL_PATTERN"), path
    # Updating records is Zoho's, not the emulator's: not emulated, so neither done nor refused.
    deal = {"data": [{"Stage": "Closed Won"}]}
    for method, path in (("PUT", "/crm/v8/Deals/1"), ("POST", "/crm/v8/Leads")):
        answer = requests.request(
            method, emulator.base_url + path, json=deal, headers=headers, timeout=5
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "INVALID_URL_PATTERN"), path
    wrong = requests.get(
        emulator.base_url + f"/crm/v8/Leads/{PAT}/actions/convert", headers=headers, timeout=5
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_REQUEST_METHOD")
