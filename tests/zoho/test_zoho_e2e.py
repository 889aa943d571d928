"""End to end: the real transport (requests over loopback) against the Zoho emulator."""

from __future__ import annotations

import datetime as dt
import socket
import time
from typing import Any

import pytest
import requests
from leadconvert_zoho import ZohoBackend, ZohoEmulator
from zoho_helpers import FAST, access_token

from leadconvert import (
    AuthenticationError,
    Conversion,
    CreateOpportunity,
    ErrorCode,
    MergeAccount,
    MergeContact,
    Module,
    Outcome,
)
from leadconvert.backend import Client, NativeRequest, PlanItem, PlannedCall

PAT = "4876876000007400001"
LOCKED, PENDING, NO_COMPANY, DUPLICATE = (f"487687600000740000{i}" for i in (2, 3, 4, 5))
USER = "4876876000000225013"
PAT_CONTACT, PAT_ACCOUNT, EMAIL_CONTACT = (
    "4876876000007421001",
    "4876876000007421010",
    "4876876000007437017",
)
BULK = [str(5000000000000001000 + i) for i in range(400)]
DEAL = CreateOpportunity(
    "Zylker Deal",
    stage="Negotiation/Review",
    close_date=dt.date(2024, 10, 20),
    pipeline="Standard (Standard)",
)


def run(
    zoho: ZohoBackend,
    client: Client,
    conversions: list[Conversion],
    settings: dict[str, str] | None = None,
) -> list[Any]:
    plan = zoho.plan([PlanItem(c) for c in conversions], settings or {})
    return [r for i, call in enumerate(plan.calls) for r in client.execute(call, call_index=i)]


def one(zoho: ZohoBackend, client: Client, conversion: Conversion) -> Any:
    (result,) = run(zoho, client, [conversion])
    return result


def converts(emu: ZohoEmulator) -> int:
    return sum(1 for method, path in emu.calls if path.endswith("/actions/convert"))


class TestZohoEndToEnd:
    def test_kaizen_match(self, client: Client) -> None:
        """Conversion options for Pat Boyle rank the phone-matched contact and the account."""
        report = client.match(PAT)
        assert report.preferred_module is Module.CONTACTS
        assert {c.id for c in report.contacts} == {PAT_CONTACT, EMAIL_CONTACT}
        assert [a.id for a in report.accounts] == [PAT_ACCOUNT]

    def test_nothing_matches_is_empty(self, client: Client) -> None:
        """A lead nothing matches gets HTTP 204 and an empty report."""
        assert client.match(BULK[0]).empty

    def test_kaizen_merge(self, zoho: ZohoBackend, client: Client) -> None:
        """Kaizen case I: merge into the linked contact and account, and create the deal."""
        r = one(
            zoho,
            client,
            Conversion(
                PAT,
                account=MergeAccount(PAT_ACCOUNT),
                contact=MergeContact(PAT_CONTACT),
                opportunity=DEAL,
                overwrite_account_name=True,
            ),
        )
        assert (r.outcome, r.account_id, r.contact_id) == (
            Outcome.CONVERTED,
            PAT_ACCOUNT,
            PAT_CONTACT,
        )
        assert r.opportunity_id is not None
        assert client.lookup([PAT])[0].opportunity_id == r.opportunity_id

    def test_contact_brings_its_account(self, zoho: ZohoBackend, client: Client) -> None:
        """Merging into a contact linked to an account brings that account."""
        r = one(zoho, client, Conversion(PAT, contact=MergeContact(PAT_CONTACT)))
        assert r.account_id == PAT_ACCOUNT

    def test_contact_not_linked_to_account(self, zoho: ZohoBackend, client: Client) -> None:
        """A contact not linked to the given account is INVALID_DATA (invalid reference)."""
        r = one(
            zoho,
            client,
            Conversion(PAT, account=MergeAccount(PAT_ACCOUNT), contact=MergeContact(EMAIL_CONTACT)),
        )
        assert r.outcome is Outcome.FAILED and r.error.backend_code == "INVALID_DATA"
        assert r.error.code is ErrorCode.INVALID_REFERENCE

    def test_duplicate_unique_field(self, zoho: ZohoBackend, client: Client) -> None:
        """Creating a contact whose unique Phone exists is DUPLICATE_DATA."""
        r = one(zoho, client, Conversion(DUPLICATE))
        assert r.error.code is ErrorCode.DUPLICATE and "Phone" in r.error.fields

    def test_no_company_no_account(self, zoho: ZohoBackend, client: Client) -> None:
        """A lead without Company converts without an account."""
        r = one(zoho, client, Conversion(NO_COMPANY))
        assert r.outcome is Outcome.CONVERTED and r.account_id is None and r.contact_id

    def test_already_converted(self, zoho: ZohoBackend, client: Client) -> None:
        """Converting twice gives ALREADY_CONVERTED the second time."""
        assert one(zoho, client, Conversion(BULK[0])).outcome is Outcome.CONVERTED
        assert one(zoho, client, Conversion(BULK[0])).outcome is Outcome.ALREADY_CONVERTED

    @pytest.mark.parametrize(
        ("lead", "code"), [(LOCKED, ErrorCode.LOCKED), (PENDING, ErrorCode.NOT_APPROVED)]
    )
    def test_locked_and_unapproved(
        self, zoho: ZohoBackend, client: Client, lead: str, code: ErrorCode
    ) -> None:
        """Locked and unapproved leads cannot be converted."""
        assert one(zoho, client, Conversion(lead)).error.code is code

    def test_mandatory_and_mapping(self, zoho: ZohoBackend, client: Client) -> None:
        """Missing Pipeline is MANDATORY_NOT_FOUND; a stage outside the pipeline MAPPING_MISMATCH."""
        no_pipeline = CreateOpportunity("D", stage="Qualification", close_date=dt.date(2025, 1, 1))
        r = one(zoho, client, Conversion(BULK[1], opportunity=no_pipeline))
        assert (r.error.backend_code, r.error.code) == (
            "MANDATORY_NOT_FOUND",
            ErrorCode.REQUIRED_FIELD_MISSING,
        )
        assert "Pipeline" in r.error.fields
        bad_stage = CreateOpportunity(
            "D", stage="Nope", close_date=dt.date(2025, 1, 1), pipeline="Standard (Standard)"
        )
        r = one(zoho, client, Conversion(BULK[1], opportunity=bad_stage))
        assert r.error.backend_code == "MAPPING_MISMATCH"

    def test_mass_convert_120(self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator) -> None:
        """120 leads go in 3 mass-convert jobs, polled, and each ends converted from Zoho's state."""
        results = run(
            zoho, client, [Conversion(i, owner_id=USER, opportunity=DEAL) for i in BULK[:120]]
        )
        assert [r.lead_id for r in results] == BULK[:120]
        assert {r.outcome for r in results} == {Outcome.CONVERTED}
        assert len({r.job_id for r in results}) == 3 and all(r.opportunity_id for r in results)
        assert emu.lead(BULK[119])["$converted"] is True

    def test_mass_convert_failed_leads(self, zoho: ZohoBackend, client: Client) -> None:
        """A locked lead in a mass convert ends FAILED with the job id, the others converted."""
        results = run(zoho, client, [Conversion(i, owner_id=USER) for i in (BULK[0], LOCKED)])
        assert [r.outcome for r in results] == [Outcome.CONVERTED, Outcome.FAILED]
        assert results[1].job_id

    def test_mass_convert_limit_exceeded(self, client: Client) -> None:
        """More than 50 ids is LIMIT_EXCEEDED for every lead."""
        body = {"ids": BULK[:51], "assign_to": {"id": USER}}
        call = PlannedCall(
            NativeRequest("POST", "/crm/v8/Leads/actions/mass_convert", json=body),
            tuple(BULK[:51]),
            "mass_convert",
        )
        results = client.execute(call)
        assert {r.error.code for r in results} == {ErrorCode.LIMIT_EXCEEDED}

    def test_lookup_unknown_lead(self, client: Client) -> None:
        """A lead Zoho does not return cannot be established: UNKNOWN."""
        assert client.lookup(["1"])[0].outcome is Outcome.UNKNOWN


class TestCutShortRequests:
    def test_a_request_cut_off_before_its_body_is_not_acted_on(self, emu: ZohoEmulator) -> None:
        """A client killed between a request's headers and its body (urllib3 sends them
        apart) leaves a request with half a body: Zoho acts on no part of it, and the emulator
        neither converts nor counts the lead. The same request whole converts it."""
        token = access_token(emu)
        lead = "5000000000000001000"
        path = f"/crm/v8/Leads/{lead}/actions/convert"
        body = b'{"data": [{"overwrite": false, "notify_lead_owner": false}]}'
        host, port = emu.base_url.split("://")[1].split(":")
        received = len(emu.requests)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Zoho-oauthtoken {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
        deadline = time.monotonic() + 10
        while len(emu.requests) == received and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the handler is done with it (it answers an absent client)
        assert [r.path for r in emu.requests[received:]] == [path]
        assert emu.convert_requests[lead] == 0
        assert not emu.lead(lead).get("$converted")

        whole = requests.post(
            emu.base_url + path,
            data=body,
            headers={
                "Authorization": f"Zoho-oauthtoken {token}",
                "Content-Type": "application/json",
            },
            timeout=10,
        )
        assert whole.status_code == 200, whole.text
        assert emu.convert_requests[lead] == 1
        assert emu.lead(lead).get("$converted")


class TestZohoAuth:
    def test_expired_token_is_refreshed(
        self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator
    ) -> None:
        """An access token refused as INVALID_TOKEN is refreshed once and the call goes through."""
        client.lookup([BULK[0]])
        emu.expire_tokens()
        assert one(zoho, client, Conversion(BULK[2])).outcome is Outcome.CONVERTED
        assert sum(1 for _, p in emu.calls if p == "/oauth/v2/token") >= 2

    def test_short_lifetime_refreshes_before_expiry(
        self, zoho: ZohoBackend, emu: ZohoEmulator
    ) -> None:
        """With a 1 s token the client refreshes on expiry without a refused call."""
        emu.token_lifetime = 1
        with zoho.connect(emu.credentials(), FAST) as c:
            c.lookup([BULK[0]])
            time.sleep(1.1)
            before = len(emu.calls)
            c.lookup([BULK[0]])
            assert next(p for _, p in emu.calls[before:]) == "/oauth/v2/token"

    def test_bad_refresh_token(self, zoho: ZohoBackend, emu: ZohoEmulator) -> None:
        """Zoho's HTTP 200 {"error": "invalid_code"} is an AuthenticationError without secrets."""
        creds = {**emu.credentials(), "refresh_token": "wrong-secret-value"}
        with zoho.connect(creds, FAST) as c, pytest.raises(AuthenticationError) as info:
            c.lookup([BULK[0]])
        assert "invalid_code" in str(info.value) and "wrong-secret-value" not in str(info.value)
        assert "wrong-secret-value" not in repr(c)

    def test_refresh_budget(self, zoho: ZohoBackend, emu: ZohoEmulator) -> None:
        """The client never asks for more than 10 tokens in 10 minutes."""
        # Refreshes in a burst back off (doubling from the backoff setting): keep that short.
        with zoho.connect(emu.credentials(), {**FAST, "backoff": "0.0005"}) as c:
            for _ in range(10):
                emu.expire_tokens()
                c.lookup([BULK[0]])
            emu.expire_tokens()
            with pytest.raises(AuthenticationError, match="10 access tokens"):
                c.lookup([BULK[0]])

    def test_ready_access_token(self, zoho: ZohoBackend, emu: ZohoEmulator, client: Client) -> None:
        """A ready access token is used as given."""
        token = access_token(emu)
        with zoho.connect({"access_token": token, "api_domain": emu.base_url}, FAST) as c:
            assert c.lookup([BULK[0]])[0].outcome is Outcome.NOT_ATTEMPTED


class TestZohoFaults:
    def test_5xx_then_success(self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator) -> None:
        """After a 500 the client checks the lead, finds it unconverted, and sends again."""
        emu.inject("status", status=500, path="/actions/convert")
        assert one(zoho, client, Conversion(BULK[3])).outcome is Outcome.CONVERTED
        assert converts(emu) == 2

    def test_429_honours_retry_after(
        self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator
    ) -> None:
        """429 TOO_MANY_REQUESTS waits Retry-After seconds, then succeeds."""
        emu.inject("status", status=429, retry_after=0.5, path="/actions/convert")
        start = time.monotonic()
        assert one(zoho, client, Conversion(BULK[4])).outcome is Outcome.CONVERTED
        assert time.monotonic() - start >= 0.5

    def test_concurrency_limit(self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator) -> None:
        """Past the concurrency limit every call is TOO_MANY_REQUESTS: rate_limited, not converted."""
        emu.concurrency_limit = 0
        emu.busy_retry_after = 0
        r = one(zoho, client, Conversion(BULK[5]))
        assert r.outcome is Outcome.FAILED and r.error.code is ErrorCode.RATE_LIMITED

    @pytest.mark.parametrize("kind", ["drop_before", "drop_after", "malformed"])
    def test_doubt_is_settled_by_lookup(
        self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator, kind: str
    ) -> None:
        """A dropped connection or unreadable answer is settled from Zoho's state, never sent twice once applied."""
        emu.inject(kind, path="/actions/convert")
        r = one(zoho, client, Conversion(BULK[6]))
        assert r.outcome is Outcome.CONVERTED and r.contact_id
        assert converts(emu) == (2 if kind == "drop_before" else 1)

    def test_timeout_then_lookup(self, zoho: ZohoBackend, emu: ZohoEmulator) -> None:
        """An answer slower than the timeout is a doubt settled by lookup."""
        emu.inject("delay", delay=0.6, path="/actions/convert")
        with zoho.connect(emu.credentials(), {**FAST, "timeout": "0.3"}) as c:
            r = one(zoho, c, Conversion(BULK[7]))
        assert r.outcome is Outcome.CONVERTED

    def test_unknown_when_state_unreachable(
        self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator
    ) -> None:
        """If the lead's state cannot be read after a drop, the outcome is UNKNOWN, not converted."""
        emu.inject("drop_after", path="/actions/convert")
        emu.inject("status", status=500, path="/Leads", method="GET", count=50)
        r = one(zoho, client, Conversion(BULK[8]))
        assert r.outcome is Outcome.UNKNOWN

    def test_mass_convert_dropped(
        self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator
    ) -> None:
        """A dropped mass-convert POST still ends with every lead's outcome established."""
        emu.inject("drop_after", path="/mass_convert", method="POST")
        results = run(zoho, client, [Conversion(i, owner_id=USER) for i in BULK[10:14]])
        assert {r.outcome for r in results} <= {Outcome.CONVERTED, Outcome.UNKNOWN}
        time.sleep(0.1)
        assert {r.outcome for r in client.lookup(BULK[10:14])} == {Outcome.CONVERTED}

    def test_admin_endpoint(self, zoho: ZohoBackend, client: Client, emu: ZohoEmulator) -> None:
        """Faults can be injected over HTTP through /__emulator/faults."""
        answer = requests.post(
            emu.base_url + "/__emulator/faults",
            json={"kind": "status", "status": 503, "path": "/actions/convert"},
            timeout=5,
        )
        assert answer.json()["status"] == "success"
        assert one(zoho, client, Conversion(BULK[9])).outcome is Outcome.CONVERTED
        assert converts(emu) == 2
        assert requests.delete(emu.base_url + "/__emulator/faults", timeout=5).ok
