"""The client against the emulator over real HTTPS: tokens, $batch, faults, in-doubt answers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from leadconvert_dynamics import DynamicsBackend, DynamicsClient, DynamicsEmulator

from leadconvert import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    ErrorCode,
    MergeAccount,
    MergeContact,
    Module,
    Outcome,
    RateLimitedError,
    UnreachableError,
)
from leadconvert.backend import PlanItem
from leadconvert.emulation import Fault

ALEX = "00000001-0000-4000-8000-000000000000"  # Wu Trading, a new e-mail
BEA = "00000001-0000-4000-8000-000000000001"
YVONNE = "00000001-0000-4000-8000-000000000002"  # her e-mail is an existing contact's
CARL = "00000001-0000-4000-8000-000000000003"
DORA = "00000001-0000-4000-8000-000000000004"  # already qualified
CONTOSO = "00000002-0000-4000-8000-000000000000"
FABRIKAM = "00000002-0000-4000-8000-000000000001"
YVONNE_CONTACT = "00000003-0000-4000-8000-000000000000"  # Contoso's
NANCY_CONTACT = "00000003-0000-4000-8000-000000000001"  # Fabrikam's
SELLER = "00000005-0000-4000-8000-000000000001"
DISABLED = "00000005-0000-4000-8000-0000000000d1"


def run(
    backend: DynamicsBackend, client: DynamicsClient, *conversions: Conversion, **settings: str
) -> list:  # type: ignore[type-arg]
    """Plan and execute like the runner: follow-ups after their call; the last result per lead."""
    plan = backend.plan([PlanItem(c, n) for n, c in enumerate(conversions, 1)], settings)
    latest = {}
    for index, call in enumerate(plan.calls):
        for result in client.execute(call, call_index=index):
            latest[result.lead_id] = result
    return [latest[c.lead_id] for c in conversions]


def tokens_issued(emulator: DynamicsEmulator) -> int:
    return sum(1 for r in emulator.requests if r.operation == "token")


# --- authentication -----------------------------------------------------------------------------


def test_client_credentials_through_msal_with_the_org_scope(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    # The emulator issues a token only for scope {org url}/.default; msal caches it.
    assert (
        client.org_identity() == f"e0000000-0000-0000-0000-00000000000a@127.0.0.1:{emulator.port}"
    )
    assert run(backend, client, Conversion(ALEX))[0].outcome is Outcome.CONVERTED
    assert tokens_issued(emulator) == 1


def test_a_refused_token_is_renewed_once(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    client.lookup([ALEX])
    emulator.expire_sessions()
    assert client.lookup([ALEX])[0].outcome is Outcome.NOT_ATTEMPTED
    assert tokens_issued(emulator) == 2


def test_a_wrong_secret_is_an_authentication_error(
    emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    client = make_client({**emulator.credentials(), "client_secret": "wrong"})
    with pytest.raises(AuthenticationError, match="invalid_client"):
        client.lookup([ALEX])


def test_a_ready_access_token_works_and_cannot_be_renewed(
    emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    creds = emulator.credentials()
    answer = requests.post(
        f"{creds['authority_host']}/{creds['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "scope": f"{creds['org_url']}/.default",
        },
        verify=creds["ca_bundle"],
        timeout=10,
    )
    token = answer.json()["access_token"]
    client = make_client(
        {"org_url": creds["org_url"], "access_token": token, "ca_bundle": creds["ca_bundle"]}
    )
    assert client.lookup([ALEX])[0].outcome is Outcome.NOT_ATTEMPTED
    emulator.expire_sessions()
    with pytest.raises(AuthenticationError, match="cannot be renewed"):
        client.lookup([ALEX])


def test_credentials_are_checked_before_any_call(backend: DynamicsBackend) -> None:
    with pytest.raises(ConfigurationError, match="org_url"):
        backend.connect({}, {})
    with pytest.raises(ConfigurationError, match="https"):
        backend.connect({"org_url": "http://org.example", "access_token": "t"}, {})
    with pytest.raises(ConfigurationError, match="client_secret"):
        backend.connect({"org_url": "https://org.example", "tenant_id": "t"}, {})
    with pytest.raises(ConfigurationError, match="52"):
        backend.connect(
            {"org_url": "https://org.example", "access_token": "t"}, {"max_concurrency": "52"}
        )


# --- qualify batches ------------------------------------------------------------------------------


def test_one_lead_failing_never_stops_the_others(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    results = run(
        backend, client, Conversion(ALEX), Conversion(YVONNE), Conversion(DORA), Conversion(CARL)
    )
    assert [r.outcome for r in results] == [
        Outcome.CONVERTED,
        Outcome.FAILED,
        Outcome.ALREADY_CONVERTED,
        Outcome.CONVERTED,
    ]
    duplicate, closed = results[1].error, results[2].error
    assert duplicate is not None and duplicate.code is ErrorCode.DUPLICATE
    assert duplicate.backend_code == "0x80040333"
    assert closed is not None and closed.code is ErrorCode.ALREADY_CONVERTED
    # Created ids come from value[]; the lead now points at them.
    alex = emulator.lead(ALEX)
    assert alex["statecode"] == 1 and alex["statuscode"] == 3
    assert results[0].account_id == alex["_parentaccountid_value"]
    assert results[0].contact_id == alex["_parentcontactid_value"]
    assert all(emulator.counts(lead)["convert"] == 1 for lead in (ALEX, YVONNE, DORA, CARL))
    assert sum(1 for r in emulator.requests if r.operation == "qualify_batch") == 1


@pytest.mark.parametrize("status", [412, 500])
def test_a_duplicate_is_keyed_on_the_code_whatever_the_http_status(
    backend: DynamicsBackend,
    emulator: DynamicsEmulator,
    client: DynamicsClient,
    status: int,
) -> None:
    emulator.reseed({**emulator.seed, "duplicate_status": status})
    (result,) = run(backend, client, Conversion(YVONNE))
    assert result.error is not None and result.error.code is ErrorCode.DUPLICATE


def test_merged_ids_come_from_the_input_and_the_bind_is_atomic(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    merged = Conversion(
        BEA,
        account=MergeAccount(FABRIKAM),
        contact=MergeContact(NANCY_CONTACT),
        opportunity=CreateOpportunity(),
    )
    # Merged into Contoso, but the new contact's e-mail is a duplicate: the qualify fails, and
    # the bind made in the same change set is rolled back (never a half-merged lead).
    failing = Conversion(YVONNE, account=MergeAccount(CONTOSO))
    accounts_before = len(emulator.state()["accounts"])
    ok, failed = run(backend, client, merged, failing)
    assert ok.outcome is Outcome.CONVERTED
    assert (ok.account_id, ok.contact_id) == (FABRIKAM, NANCY_CONTACT)
    opportunity = next(
        o for o in emulator.state()["opportunities"] if o["opportunityid"] == ok.opportunity_id
    )
    assert opportunity["_customerid_value"] == FABRIKAM
    assert failed.outcome is Outcome.FAILED
    assert emulator.lead(YVONNE)["_parentaccountid_value"] is None
    assert len(emulator.state()["accounts"]) == accounts_before  # no account created instead


def test_a_failed_bind_never_falls_back_to_creating_an_account(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    missing = "00000002-0000-4000-8000-00000000dead"
    (result,) = run(backend, client, Conversion(CARL, account=MergeAccount(missing)))
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code is ErrorCode.INVALID_REFERENCE
    assert emulator.lead(CARL)["statecode"] == 0
    assert emulator.counts(CARL)["convert"] == 0  # the change set stopped at the bind


def test_a_contact_of_another_account_is_refused_before_sending(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    conversion = Conversion(
        CARL, account=MergeAccount(CONTOSO), contact=MergeContact(NANCY_CONTACT)
    )
    (result,) = run(backend, client, conversion)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code is ErrorCode.INVALID_REFERENCE
    assert "belongs to account" in result.error.message
    assert emulator.counts(CARL)["convert"] == 0


def test_status_names_resolve_through_the_statuscode_metadata(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    by_name, unknown, wrong_state = run(
        backend,
        client,
        Conversion(ALEX, converted_status="qualified by partner"),
        Conversion(BEA, converted_status="Qualified by Nobody"),
        Conversion(CARL, converted_status="100000099"),
    )
    assert by_name.outcome is Outcome.CONVERTED
    assert emulator.lead(ALEX)["statuscode"] == 100000001
    assert unknown.error is not None and unknown.error.code is ErrorCode.INVALID_STATUS
    assert "Qualified by Partner (100000001)" in unknown.error.message
    assert emulator.counts(BEA)["convert"] == 0  # never sent
    assert wrong_state.error is not None and wrong_state.error.code is ErrorCode.INVALID_STATUS


def test_the_default_status_is_the_orgs_default_qualified_status(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    run(backend, client, Conversion(ALEX))
    assert emulator.lead(ALEX)["statuscode"] == 3
    run(backend, client, Conversion(BEA), status="Qualified by Partner")
    assert emulator.lead(BEA)["statuscode"] == 100000001


def test_follow_ups_update_the_created_records_and_report_per_lead(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    deal = CreateOpportunity(name="Wu deal", stage="Propose", fields={"closeprobability": 40})
    good, bad = run(
        backend,
        client,
        Conversion(ALEX, opportunity=deal, owner_id=SELLER),
        Conversion(CARL, owner_id=DISABLED),
    )
    assert good.outcome is Outcome.CONVERTED
    (step,) = good.follow_ups
    assert step.succeeded, step
    state = emulator.state()
    opportunity = next(
        o for o in state["opportunities"] if o["opportunityid"] == good.opportunity_id
    )
    assert (opportunity["name"], opportunity["stepname"], opportunity["closeprobability"]) == (
        "Wu deal",
        "Propose",
        40,
    )
    for table, key in (("accounts", good.account_id), ("contacts", good.contact_id)):
        record = next(r for r in state[table] if key in r.values())
        assert record["_ownerid_value"] == SELLER
    # The conversion stands; the owner assignment failed and says so.
    assert bad.outcome is Outcome.CONVERTED
    (failed,) = bad.follow_ups
    assert not failed.succeeded and failed.error is not None
    assert failed.error.backend_code == "0x80040225"
    assert emulator.counts(ALEX) == {"convert": 1, "follow_up": 3}


def test_an_org_without_sales_says_so(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    emulator.reseed({**emulator.seed, "sales_installed": False})
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and "Sales is not installed" in result.error.message
    with pytest.raises(BackendError, match="Sales is not installed"):
        client.lookup([ALEX])


# --- faults: rate limits and lost answers -------------------------------------------------------


def test_429_is_retried_after_retry_after(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    client.resolve_status(None)  # metadata read first, so only the batch is timed
    emulator.inject_fault(
        Fault(status=429, headers={"Retry-After": "0.4"}, operation="qualify_batch")
    )
    started = time.monotonic()
    (result,) = run(backend, client, Conversion(ALEX))
    assert time.monotonic() - started >= 0.4
    assert result.outcome is Outcome.CONVERTED
    assert emulator.counts(ALEX)["convert"] == 1
    assert sum(1 for r in emulator.requests if r.operation == "qualify_batch") == 2


def test_rate_limited_for_good_fails_the_leads_as_rate_limited(
    backend: DynamicsBackend, emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    client = make_client(max_retries=1)
    emulator.inject_fault(
        Fault(status=429, headers={"Retry-After": "0"}, operation="qualify_batch", count=None)
    )
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code is ErrorCode.RATE_LIMITED
    assert result.error.retryable
    assert emulator.lead(ALEX)["statecode"] == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault(drop=True, when="after", operation="qualify_batch"),
        Fault(status=502, when="after", operation="qualify_batch"),
        Fault(status=200, body="not multipart", when="after", operation="qualify_batch"),
    ],
    ids=["dropped", "5xx", "garbled"],
)
def test_a_qualify_whose_answer_was_lost_is_read_back_not_sent_again(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient, fault: Fault
) -> None:
    emulator.inject_fault(fault)
    alex, carl = run(
        backend,
        client,
        Conversion(ALEX),
        Conversion(CARL, account=MergeAccount(CONTOSO)),
        status="3",
    )
    assert alex.outcome is Outcome.CONVERTED and carl.outcome is Outcome.CONVERTED
    lead = emulator.lead(ALEX)
    assert (alex.account_id, alex.contact_id) == (
        lead["_parentaccountid_value"],
        lead["_parentcontactid_value"],
    )
    assert carl.account_id == CONTOSO
    assert emulator.counts(ALEX)["convert"] == 1
    assert emulator.counts(CARL)["convert"] == 1


def test_a_batch_dropped_before_it_ran_is_sent_again_once_the_leads_read_open(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    emulator.inject_fault(Fault(drop=True, when="before", operation="qualify_batch"))
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    assert result.outcome is Outcome.CONVERTED
    assert emulator.counts(ALEX)["convert"] == 1
    operations = [r.operation for r in emulator.requests]
    # Sent, lost, the lead read, sent again: never two qualifies without a read between them.
    batches = [i for i, op in enumerate(operations) if op == "qualify_batch"]
    assert len(batches) == 2
    assert "query" in operations[batches[0] + 1 : batches[1]]


def test_after_a_read_timeout_the_lead_is_reread_until_the_batch_has_run(
    backend: DynamicsBackend, emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    client = make_client(timeout=0.5, doubt_wait=5)
    client.resolve_status(None)
    emulator.inject_fault(Fault(delay=1.5, operation="qualify_batch"))
    started = time.monotonic()
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    # The lead read open at first (the batch still ran on the server), then qualified: it is
    # converted, and it was never sent again.
    assert result.outcome is Outcome.CONVERTED
    assert result.account_id == emulator.lead(ALEX)["_parentaccountid_value"]
    assert emulator.counts(ALEX)["convert"] == 1
    assert time.monotonic() - started < 5


def test_resolve_in_doubt_waits_for_an_open_lead_only_until_the_bound(
    make_client: Callable[..., DynamicsClient],
) -> None:
    client = make_client(doubt_wait=0.6)
    started = time.monotonic()
    (open_lead,) = client.resolve_in_doubt([ALEX], call_kind="qualify_batch", sent_at=time.time())
    assert open_lead.outcome is Outcome.NOT_ATTEMPTED
    assert 0.6 <= time.monotonic() - started < 3
    started = time.monotonic()
    client.resolve_in_doubt([ALEX], call_kind="qualify_batch", sent_at=time.time() - 10)
    assert time.monotonic() - started < 0.5  # the bound passed long ago: one read
    (closed,) = client.resolve_in_doubt([DORA], call_kind="qualify_batch", sent_at=time.time())
    assert closed.outcome is Outcome.CONVERTED


def test_lookup_tells_open_qualified_disqualified_and_missing_apart(
    emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    emulator.reseed(
        {
            **emulator.seed,
            "leads": [
                *emulator.seed["leads"],
                {"leadid": "00000001-0000-4000-8000-0000000000aa", "statecode": 2, "statuscode": 4},
            ],
        }
    )
    results = client.lookup(
        [
            ALEX,
            DORA,
            "00000001-0000-4000-8000-0000000000aa",
            "00000001-0000-4000-8000-00000000ffff",
            "not-a-guid",
        ]
    )
    assert [r.outcome for r in results] == [
        Outcome.NOT_ATTEMPTED,
        Outcome.CONVERTED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
    ]


# --- match ------------------------------------------------------------------------------------------


def test_match_finds_contacts_by_email_and_phone_and_accounts_by_name(
    client: DynamicsClient,
) -> None:
    report = client.match(YVONNE)
    assert report.preferred_module is Module.CONTACTS
    (contact,) = report.contacts
    assert contact.id == YVONNE_CONTACT and contact.account_id == CONTOSO
    assert [f.field for f in contact.matched_fields] == ["emailaddress1", "telephone1"]
    (account,) = report.accounts
    assert account.id == CONTOSO and account.matched_fields[0].field == "name"
    assert client.match(CARL).empty


def test_past_the_concurrency_limit_dataverse_answers_429_with_its_code(
    emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    client = make_client(max_retries=2)
    client.lookup([ALEX])  # signed in
    emulator.concurrency_limit, emulator.busy_retry_after = 0, 0
    try:
        with pytest.raises(RateLimitedError) as caught:
            client.lookup([ALEX])
    finally:
        emulator.concurrency_limit, emulator.busy_retry_after = 52, 1
    assert caught.value.backend_code == "0x80072326"
    assert caught.value.retry_after == 0
    # Reads are retried: the first try and two retries reached the org.
    assert sum(1 for r in emulator.requests if r.operation == "query") == 4


def test_a_cut_off_follow_up_is_checked_against_the_records(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    conversion = Conversion(ALEX, opportunity=CreateOpportunity(name="Checked"), owner_id=SELLER)
    plan = backend.plan([PlanItem(conversion, 1)], {"status": "3"})
    qualify, follow = plan.calls
    client.execute(qualify, call_index=0)
    assert client.check_follow_up(follow) is None  # not applied yet: safe to send
    client.execute(follow, call_index=1)
    applied = client.check_follow_up(follow)
    assert applied is not None and applied.succeeded
    assert emulator.counts(ALEX) == {"convert": 1, "follow_up": 3}


def test_requests_in_flight_are_bounded_across_threads(
    emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def six_reads(slots: int) -> float:
        client = make_client(max_concurrency=slots)
        client.lookup([ALEX])  # signed in and connected: only the reads below are timed
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: client.lookup([ALEX]), range(6)))
        return time.monotonic() - started

    emulator.inject_fault(Fault(delay=0.3, operation="query", count=None))
    two, six = six_reads(2), six_reads(6)
    # Six reads of 0.3 s each: two at a time take three rounds; six at a time, fewer.
    assert two >= 0.85
    assert six < two


def test_an_unreachable_org_is_unreachable_and_nothing_is_sent(
    backend: DynamicsBackend, emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    creds = dict(emulator.credentials())
    dead = make_client(
        {
            "org_url": f"https://127.0.0.1:{closed}",
            "access_token": "t",
            "ca_bundle": creds["ca_bundle"],
        },
        max_retries=1,
    )
    plan = backend.plan([PlanItem(Conversion(ALEX), 1)], {"status": "3"})
    with pytest.raises(UnreachableError, match="refused"):
        dead.execute(plan.calls[0], call_index=0)
    no_entra = make_client({**creds, "authority_host": f"https://127.0.0.1:{closed}"})
    with pytest.raises(UnreachableError, match="Entra ID"):
        no_entra.lookup([ALEX])
    assert emulator.counts(ALEX)["convert"] == 0


def test_a_follow_up_without_the_qualify_answer_reads_the_lead(
    backend: DynamicsBackend, emulator: DynamicsEmulator, make_client: Callable[..., DynamicsClient]
) -> None:
    # As on resume: the qualify ran in an earlier process, the follow-up runs in this one.
    conversion = Conversion(CARL, opportunity=CreateOpportunity(name="Resumed"), owner_id=SELLER)
    qualify, follow = backend.plan([PlanItem(conversion, 1)], {"status": "3"}).calls
    make_client().execute(qualify, call_index=0)
    (result,) = make_client().execute(follow, call_index=1)
    assert result.outcome is Outcome.CONVERTED and result.opportunity_id is not None
    (step,) = result.follow_ups
    assert step.succeeded, step
    opportunity = next(
        o for o in emulator.state()["opportunities"] if o["opportunityid"] == result.opportunity_id
    )
    assert (opportunity["name"], opportunity["_ownerid_value"]) == ("Resumed", SELLER)


def test_a_5xx_with_a_definite_code_is_that_error_not_a_lost_answer(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    duplicate = {"error": {"code": "0x80040333", "message": "A duplicate exists."}}
    emulator.inject_fault(Fault(status=500, body=duplicate, operation="qualify_batch"))
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.code is ErrorCode.DUPLICATE
    # Not in doubt: neither read back nor sent again.
    assert [r.operation for r in emulator.requests].count("qualify_batch") == 1


def test_a_change_set_throttled_on_its_own_is_sent_again_after_its_retry_after(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    client.resolve_status(None)
    throttled = (
        "--r\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.4\r\n"
        "Content-Type: application/json\r\n\r\n"
        '{"error": {"code": "0x80072321", "message": "Combined execution time exceeded"}}\r\n'
        "--r--\r\n"
    )
    emulator.inject_fault(
        Fault(
            status=200,
            body=throttled,
            headers={"Content-Type": "multipart/mixed; boundary=r"},
            operation="qualify_batch",
        )
    )
    started = time.monotonic()
    (result,) = run(backend, client, Conversion(ALEX), status="3")
    assert time.monotonic() - started >= 0.4
    assert result.outcome is Outcome.CONVERTED
    assert emulator.counts(ALEX)["convert"] == 1
