"""End to end: a real simple-salesforce connection against the emulated org over HTTPS."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal

import pytest
import requests
from leadconvert_salesforce import SalesforceBackend, SalesforceClient, SalesforceEmulator, to_18
from simple_salesforce import Salesforce

import leadconvert as lc
from leadconvert import (
    AuthenticationError,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    ErrorCode,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    Outcome,
)
from leadconvert.backend import PlanItem

FAST = {"retry_base_delay": "0.01", "max_retries": "3", "timeout": "10"}

PAT_LEAD = "00Q000000000001"
QUEUE_LEAD = "00Q000000000002"
PERSON_LEAD = "00Q000000000003"
CONVERTED_LEAD = "00Q000000000004"
ZYLKER = "001000000000001"
ACME = "001000000000002"
PERSON_ACCOUNT = "001000000000003"
PAT_CONTACT = "003000000000001"
ACME_CONTACT = "003000000000002"
USER = "005000000000002"


def run(
    backend: SalesforceBackend, client: SalesforceClient, *conversions: Conversion
) -> dict[str, lc.ConversionResult]:
    """Plan and execute; the last result of each lead is its outcome."""
    out: dict[str, lc.ConversionResult] = {}
    for index, call in enumerate(backend.plan([PlanItem(c) for c in conversions], FAST).calls):
        for result in client.execute(call, call_index=index):
            out[result.lead_id] = result
    assert set(out) == {c.lead_id for c in conversions}
    return out


class TestSalesforceEndToEnd:
    def test_login_with_unmodified_simple_salesforce(
        self, clean_emulator: SalesforceEmulator
    ) -> None:
        """simple-salesforce logs in over SOAP and queries over REST, trusting the emulator's CA."""
        creds = clean_emulator.credentials()
        session = requests.Session()
        session.trust_env = False  # keep REQUESTS_CA_BUNDLE from overriding verify
        session.verify = creds["ca_bundle"]
        sf = Salesforce(
            username=creds["username"],
            password=creds["password"],
            security_token=creds["security_token"],
            domain=creds["domain"],
            session=session,
        )
        assert sf.sf_instance == f"127.0.0.1:{clean_emulator.port}"
        records = sf.query("SELECT Id, Company FROM Lead WHERE Id = '00Q000000000001'")["records"]
        assert records[0]["Company"] == "Zylker Biotech"
        client = SalesforceClient.from_connection(sf, retry_base_delay=0.01)
        assert client.converted_status() == "Closed - Converted"

    def test_bad_password(
        self, backend: SalesforceBackend, clean_emulator: SalesforceEmulator
    ) -> None:
        """A refused login is an AuthenticationError, not simple-salesforce's exception."""
        creds = {**clean_emulator.credentials(), "password": "wrong"}
        with pytest.raises(AuthenticationError):
            backend.connect(creds, FAST)

    def test_jwt_refused(self, backend: SalesforceBackend) -> None:
        """A JWT given as session id is refused up front with an explanation."""
        with pytest.raises(ConfigurationError, match="JWT"):
            backend.connect(
                {
                    "session_id": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
                    "instance_url": "https://x.my.salesforce.com",
                },
                {},
            )

    def test_kaizen_merge_with_follow_up(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
    ) -> None:
        """Pat Boyle merges into Zylker Biotech and its contact; the opportunity gets its stage by follow-up."""
        report = client.match(PAT_LEAD)
        assert report.preferred_module is Module.CONTACTS
        assert [c.id for c in report.contacts] == [to_18(PAT_CONTACT)]
        assert report.contacts[0].account_id == to_18(ZYLKER)
        assert [a.id for a in report.accounts] == [to_18(ZYLKER)]
        conversion = Conversion(
            PAT_LEAD,
            account=MergeAccount(ZYLKER),
            contact=MergeContact(PAT_CONTACT),
            opportunity=CreateOpportunity(
                "Zylker expansion",
                stage="Qualification",
                close_date=dt.date(2026, 6, 30),
                amount=Decimal("5000.25"),
            ),
            overwrite_lead_source=True,
        )
        result = run(backend, client, conversion)[PAT_LEAD]
        assert result.outcome is Outcome.CONVERTED
        assert (result.account_id, result.contact_id) == (to_18(ZYLKER), to_18(PAT_CONTACT))
        assert result.follow_ups and result.follow_ups[0].succeeded
        assert result.opportunity_id is not None
        opportunity = clean_emulator.record("Opportunity", result.opportunity_id)
        assert (opportunity["Name"], opportunity["StageName"], opportunity["CloseDate"]) == (
            "Zylker expansion",
            "Qualification",
            "2026-06-30",
        )
        contact = clean_emulator.record("Contact", PAT_CONTACT)
        assert contact["LeadSource"] == "Web"  # overwritten from the lead
        assert (
            clean_emulator.record("Account", ZYLKER)["Phone"] == "+1 555 0199"
        )  # empty field filled

    def test_follow_up_failure_reported(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """A follow-up the org refuses is a failed FollowUp; the conversion still stands."""
        (lead,) = fresh_leads(1)
        result = run(
            backend,
            client,
            Conversion(lead, opportunity=CreateOpportunity("Deal", stage="No Such Stage")),
        )[lead]
        assert result.outcome is Outcome.CONVERTED
        (step,) = result.follow_ups
        assert not step.succeeded and step.error is not None
        assert step.error.backend_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    def test_partial_success_and_rules(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """One call: some leads convert, the others fail with the org's own rule codes."""
        a, b, c = fresh_leads(3)
        results = run(
            backend,
            client,
            Conversion(a),
            Conversion(b, account=MergeAccount(ZYLKER), contact=MergeContact(ACME_CONTACT)),
            Conversion(c, converted_status="Working - Contacted"),
            Conversion(QUEUE_LEAD),
            Conversion(CONVERTED_LEAD),
        )
        assert results[a].outcome is Outcome.CONVERTED and results[a].opportunity_id is None
        assert results[b].error is not None and results[b].error.code is ErrorCode.INVALID_REFERENCE
        assert results[c].error is not None and results[c].error.code is ErrorCode.INVALID_STATUS
        assert results[QUEUE_LEAD].error is not None and results[QUEUE_LEAD].error.fields == (
            "ownerId",
        )
        assert results[CONVERTED_LEAD].outcome is Outcome.ALREADY_CONVERTED
        assert {r.call for r in results.values()} == {0}

    def test_queue_owned_lead_with_owner(
        self, backend: SalesforceBackend, client: SalesforceClient
    ) -> None:
        """A queue-owned lead converts once a user owner is given."""
        result = run(backend, client, Conversion(QUEUE_LEAD, owner_id=USER))[QUEUE_LEAD]
        assert result.outcome is Outcome.CONVERTED

    def test_person_account(self, backend: SalesforceBackend, client: SalesforceClient) -> None:
        """A lead merges into a person account with the account id only."""
        result = run(
            backend, client, Conversion(PERSON_LEAD, account=MergePersonAccount(PERSON_ACCOUNT))
        )[PERSON_LEAD]
        assert result.outcome is Outcome.CONVERTED
        assert result.contact_id == to_18("003000000000003")

    def test_bulk_250(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """250 leads convert in 3 calls."""
        before = sum(1 for kind, _ in clean_emulator.calls if kind == "convertLead")
        leads = fresh_leads(250)
        results = run(backend, client, *(Conversion(lead) for lead in leads))
        assert all(r.outcome is Outcome.CONVERTED for r in results.values())
        assert sum(1 for kind, _ in clean_emulator.calls if kind == "convertLead") - before == 3

    def test_emulator_enforces_batch_limit(
        self, client: SalesforceClient, fresh_leads: Callable[[int], list[str]]
    ) -> None:
        """More than 100 LeadConverts in one call is an EXCEEDED_LEAD_CONVERT_LIMIT fault."""
        leads = fresh_leads(101)
        call = lc.backend.PlannedCall(
            lc.backend.NativeRequest("POST", "/services/Soap/u/59.0", body=_envelope(leads)),
            tuple(leads),
            "convertLead",
        )
        results = client.execute(call)
        assert {r.error.code for r in results if r.error} == {ErrorCode.LIMIT_EXCEEDED}

    def test_session_expiry_relogin(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """An expired session is renewed once by logging in again."""
        old = client.sf.session_id
        clean_emulator.expire_sessions()
        (lead,) = fresh_leads(1)
        assert run(backend, client, Conversion(lead))[lead].outcome is Outcome.CONVERTED
        assert client.sf.session_id != old

    def test_session_id_connection_cannot_relogin(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """A connection built from a session id fails clearly when the session expires."""
        direct = backend.connect(
            {
                "session_id": client.sf.session_id,
                "instance_url": clean_emulator.base_url,
                "ca_bundle": clean_emulator.ca_bundle_path,
            },
            FAST,
        )
        clean_emulator.expire_sessions()
        (lead,) = fresh_leads(1)
        with pytest.raises(AuthenticationError, match="cannot log in again"):
            run(backend, direct, Conversion(lead, converted_status="Closed - Converted"))  # type: ignore[arg-type]

    def test_status_discovery_several(
        self,
        backend: SalesforceBackend,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """Several converted statuses: the leads needing one are not attempted, with the candidates listed."""
        statuses = clean_emulator.org.lead_statuses
        clean_emulator.set_lead_statuses(
            [*statuses, {"ApiName": "Qualified", "MasterLabel": "Qualified", "IsConverted": True}]
        )
        try:
            client = backend.connect(clean_emulator.credentials(), FAST)
            a, b = fresh_leads(2)
            results = run(
                backend, client, Conversion(a), Conversion(b, converted_status="Qualified")
            )  # type: ignore[arg-type]
            assert results[a].outcome is Outcome.NOT_ATTEMPTED
            assert results[a].error is not None and "'Qualified'" in results[a].error.message
            assert results[b].outcome is Outcome.CONVERTED
        finally:
            clean_emulator.set_lead_statuses(statuses)

    def test_status_discovery_label_fallback(
        self, backend: SalesforceBackend, clean_emulator: SalesforceEmulator
    ) -> None:
        """Without LeadStatus.ApiName the MasterLabel is used."""
        clean_emulator.org.status_has_api_name = False
        try:
            client = backend.connect(clean_emulator.credentials(), FAST)
            assert client.converted_status() == "Closed - Converted"  # type: ignore[attr-defined]
        finally:
            clean_emulator.org.status_has_api_name = True

    def test_lookup(self, client: SalesforceClient) -> None:
        """lookup reads each lead's conversion state from the org."""
        converted, unknown = client.lookup([CONVERTED_LEAD, "00Q00000000ZZZZ"])
        assert converted.outcome is Outcome.CONVERTED and converted.account_id == to_18(ACME)
        assert unknown.outcome is Outcome.FAILED


def _envelope(leads: list[str]) -> str:
    from leadconvert_salesforce._wire import build_envelope

    return build_envelope(
        {
            "convertedStatus": "Closed - Converted",
            "doNotCreateOpportunity": "true",
            "leadId": to_18(lead),
            "overwriteLeadSource": "false",
            "sendNotificationEmail": "false",
        }
        for lead in leads
    )


class TestSalesforceFaults:
    @pytest.mark.parametrize("kind", ["server_unavailable", "request_limit", "http_503", "delay"])
    def test_retried(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
        kind: str,
    ) -> None:
        """Outages, rate limits and delays are retried with backoff until the leads convert."""
        clean_emulator.inject(kind, 2, seconds=0.05, retry_after=0)
        leads = fresh_leads(2)
        results = run(backend, client, *(Conversion(lead) for lead in leads))
        assert all(r.outcome is Outcome.CONVERTED for r in results.values())

    def test_retries_exhausted(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """When every retry fails, each lead is recorded as failed and retryable."""
        clean_emulator.inject("server_unavailable", 10)
        (lead,) = fresh_leads(1)
        result = run(backend, client, Conversion(lead))[lead]
        assert result.outcome is Outcome.FAILED and result.error is not None
        assert result.error.code is ErrorCode.SERVER_ERROR and result.error.retryable

    @pytest.mark.parametrize("kind", ["drop_before", "drop_after", "malformed"])
    def test_dropped_or_garbled_answer(
        self,
        backend: SalesforceBackend,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
        kind: str,
    ) -> None:
        """After a dropped connection or an unreadable answer, state is looked up before resending;
        each lead reaches the org exactly once (a drop before the org acted is not counted)."""
        # A short wait for leads in doubt: after drop_before they never show converted.
        client = backend.connect(clean_emulator.credentials(), {**FAST, "doubt_wait": "0.3"})
        clean_emulator.inject(kind)
        leads = fresh_leads(3)
        before = sum(1 for k, _ in clean_emulator.calls if k == "query")
        with client:
            results = run(backend, client, *(Conversion(lead) for lead in leads))  # type: ignore[arg-type]
        assert all(r.outcome is Outcome.CONVERTED for r in results.values())
        assert all(r.account_id for r in results.values())
        assert sum(1 for k, _ in clean_emulator.calls if k == "query") > before
        assert [clean_emulator.counts(lead)["convert"] for lead in leads] == [1, 1, 1]

    def test_state_unknown(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """A lead whose state cannot be established after a drop is UNKNOWN."""
        clean_emulator.inject("drop_after")
        clean_emulator.inject("http_503", 20, target="query")
        (lead,) = fresh_leads(1)
        result = run(backend, client, Conversion(lead, converted_status="Closed - Converted"))[lead]
        assert result.outcome is Outcome.UNKNOWN

    def test_admin_endpoint(
        self,
        backend: SalesforceBackend,
        client: SalesforceClient,
        clean_emulator: SalesforceEmulator,
        fresh_leads: Callable[[int], list[str]],
    ) -> None:
        """Faults can be injected over HTTP too."""
        answer = requests.post(
            f"{clean_emulator.base_url}/__emulator/faults",
            data=json.dumps({"kind": "server_unavailable", "count": 1}),
            verify=clean_emulator.ca_bundle_path,
            timeout=5,
        )
        assert answer.status_code == 201 and clean_emulator.faults
        (lead,) = fresh_leads(1)
        assert run(backend, client, Conversion(lead))[lead].outcome is Outcome.CONVERTED
        assert not clean_emulator.faults
