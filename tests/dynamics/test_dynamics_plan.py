"""Plans show exactly what is sent: payloads checked against the reference digest."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from leadconvert_dynamics import DynamicsBackend, DynamicsOptions

import leadconvert
from leadconvert import (
    Conversion,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Mode,
)
from leadconvert.backend import NativeRequest, PlanItem, PlannedCall
from leadconvert.testing import assert_round_trip, valid_conversions

LEAD = "00000001-0000-4000-8000-000000000000"
LEAD2 = "00000001-0000-4000-8000-000000000001"
ACCOUNT = "00000002-0000-4000-8000-000000000000"
CONTACT = "00000003-0000-4000-8000-000000000000"
USER = "00000005-0000-4000-8000-000000000001"
CURRENCY = "874c0d66-0000-4000-8000-000000000000"
CAMPAIGN = "260d0f66-0000-4000-8000-000000000000"


def plan(backend: DynamicsBackend, *conversions: Conversion, **settings_: str):  # type: ignore[no-untyped-def]
    return backend.plan([PlanItem(c, n) for n, c in enumerate(conversions, 1)], settings_)


def shown(backend: DynamicsBackend, call: PlannedCall) -> NativeRequest:
    return backend.render(call.request)


def qualify_bodies(backend: DynamicsBackend, call: PlannedCall) -> list[object]:
    """The QualifyLead JSON bodies of a call, read back from its rendered text."""
    body = shown(backend, call).body
    assert body is not None
    out = []
    for chunk in body.split("Microsoft.Dynamics.CRM.QualifyLead HTTP/1.1\r\n")[1:]:
        text = chunk.split("\r\n\r\n", 1)[1].split("\r\n--", 1)[0]
        out.append(leadconvert.loads_json(text))
    return out


def test_a_plain_lead_is_one_change_set_in_one_batch_exactly(backend: DynamicsBackend) -> None:
    (call,) = plan(backend, Conversion(LEAD), status="3").calls
    request = shown(backend, call)
    assert (request.method, request.path) == ("POST", "/api/data/v9.2/$batch")
    assert request.headers == {
        "Content-Type": "multipart/mixed; boundary=batch_lc1",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Prefer": "odata.continue-on-error",
    }
    assert request.body == (
        "--batch_lc1\r\n"
        "Content-Type: multipart/mixed; boundary=changeset_lc1_1\r\n"
        "\r\n"
        "--changeset_lc1_1\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n"
        "\r\n"
        f"POST /api/data/v9.2/leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead HTTP/1.1\r\n"
        "Content-Type: application/json\r\n"
        "\r\n"
        '{"CreateAccount": true, "CreateContact": true, "CreateOpportunity": false, '
        '"Status": 3}\r\n'
        "--changeset_lc1_1--\r\n"
        "\r\n"
        "--batch_lc1--\r\n"
    )
    assert call.kind == "qualify_batch" and call.lead_ids == (LEAD,) and call.after is None


def test_a_merge_binds_the_lead_in_the_same_change_set_before_the_qualify(
    backend: DynamicsBackend,
) -> None:
    conversion = Conversion(
        LEAD,
        account=MergeAccount(ACCOUNT),
        contact=MergeContact(CONTACT),
        opportunity=CreateOpportunity(),
    )
    (call,) = plan(backend, conversion).calls
    body = shown(backend, call).body
    assert body is not None
    change_set = body.split("--changeset_lc1_1\r\n")
    # The bind (Content-ID 1), then the qualify (Content-ID 2), one change set: atomic.
    assert len(change_set) == 3
    # If-Match: * makes the PATCH an update only: without it a missing lead would be created.
    assert f"PATCH /api/data/v9.2/leads({LEAD}) HTTP/1.1\r\nIf-Match: *\r\n" in change_set[1]
    assert (
        '{"parentaccountid@odata.bind": "/accounts(' + ACCOUNT + ')", '
        '"parentcontactid@odata.bind": "/contacts(' + CONTACT + ')"}'
    ) in change_set[1]
    assert "Content-ID: 2" in change_set[2]
    assert qualify_bodies(backend, call) == [
        {
            "CreateAccount": False,
            "CreateContact": False,
            "CreateOpportunity": True,
            "Status": None,
            # The reference's example shape: entity parameters carry @odata.type and the key.
            "OpportunityCustomerId": {
                "@odata.type": "Microsoft.Dynamics.CRM.account",
                "accountid": ACCOUNT,
            },
        }
    ]


def test_dynamics_options_are_entity_typed_parameters(backend: DynamicsBackend) -> None:
    conversion = Conversion(
        LEAD,
        opportunity=CreateOpportunity(),
        converted_status="100000001",
        options=(
            DynamicsOptions(
                currency_id=CURRENCY,
                source_campaign_id=CAMPAIGN,
                suppress_duplicate_detection=True,
            ),
        ),
    )
    (call,) = plan(backend, conversion).calls
    assert qualify_bodies(backend, call) == [
        {
            "CreateAccount": True,
            "CreateContact": True,
            "CreateOpportunity": True,
            "Status": 100000001,
            "OpportunityCurrencyId": {
                "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
                "transactioncurrencyid": CURRENCY,
            },
            "SourceCampaignId": {
                "@odata.type": "Microsoft.Dynamics.CRM.campaign",
                "campaignid": CAMPAIGN,
            },
            "SuppressDuplicateDetection": True,
        }
    ]
    # Unverified for QualifyLead: never sent unless asked.
    (plain,) = plan(backend, Conversion(LEAD)).calls
    assert "SuppressDuplicateDetection" not in (shown(backend, plain).body or "")


@pytest.mark.parametrize(
    ("given", "setting", "sent"),
    [
        (None, None, None),  # the org's default Qualified status, read when sending
        (None, "3", 3),
        (None, "Qualified by Partner", "Qualified by Partner"),
        ("100000001", "3", 100000001),
        ("Qualified", None, "Qualified"),
    ],
)
def test_status_is_a_number_a_name_resolved_when_sent_or_the_default(
    backend: DynamicsBackend, given: str | None, setting: str | None, sent: object
) -> None:
    settings_ = {"status": setting} if setting else {}
    (call,) = plan(backend, Conversion(LEAD, converted_status=given), **settings_).calls
    assert qualify_bodies(backend, call)[0]["Status"] == sent  # type: ignore[index]


@pytest.mark.parametrize(
    ("leads", "size"), [(1, None), (10, None), (11, None), (25, "7"), (100, "50")]
)
def test_n_plain_leads_take_ceil_n_over_batch_size_calls(
    backend: DynamicsBackend, leads: int, size: str | None
) -> None:
    conversions = [Conversion(backend.example_id("lead", n)) for n in range(leads)]
    settings_ = {"batch_size": size} if size else {}
    calls = plan(backend, *conversions, **settings_).calls
    batch = int(size) if size else 10
    assert len(calls) == math.ceil(leads / batch)
    assert [len(c.lead_ids) for c in calls] == [
        min(batch, leads - i * batch) for i in range(len(calls))
    ]
    for call in calls:
        body = shown(backend, call).body or ""
        # One change set of its own per lead.
        assert body.count("Content-Type: multipart/mixed; boundary=changeset_") == len(
            call.lead_ids
        )


def test_follow_ups_are_batched_after_their_qualify_and_name_their_lead(
    backend: DynamicsBackend,
) -> None:
    deal = CreateOpportunity(
        name="Big deal",
        stage="Propose",
        close_date=dt.date(2026, 12, 31),
        amount=Decimal("1000.50"),
        fields={"closeprobability": 40},
    )
    calls = plan(
        backend,
        Conversion(LEAD, opportunity=deal, owner_id=USER),
        Conversion(LEAD2),
        Conversion(backend.example_id("lead", 2), opportunity=CreateOpportunity(name="Other")),
        batch_size="2",
    ).calls
    assert [c.kind for c in calls] == [
        "qualify_batch",
        "follow_up_batch",
        "qualify_batch",
        "follow_up_batch",
    ]
    assert calls[1].after == 0 and calls[3].after == 2
    assert calls[1].lead_ids == (LEAD,)
    body = shown(backend, calls[1]).body or ""
    # The owner goes to each record QualifyLead creates; the opportunity's fields with it.
    assert f"PATCH /api/data/v9.2/accounts({{account of lead {LEAD}}}) HTTP/1.1" in body
    assert f"PATCH /api/data/v9.2/contacts({{contact of lead {LEAD}}}) HTTP/1.1" in body
    assert f"PATCH /api/data/v9.2/opportunities({{opportunity of lead {LEAD}}}) HTTP/1.1" in body
    assert (
        '{"name": "Big deal", "estimatedclosedate": "2026-12-31", "estimatedvalue": 1000.50, '
        '"stepname": "Propose", "closeprobability": 40, '
        '"ownerid@odata.bind": "/systemusers(' + USER + ')"}'
    ) in body
    assert "multipart/mixed" not in body.split("\r\n", 2)[1] or True
    assert body.count("changeset_") == 0  # plain requests: one step's failure spares the rest
    # Updates only, never an upsert that would create a record the qualify did not.
    assert body.count("If-Match: *") == body.count(" HTTP/1.1") - body.count("GET ") == 3


def test_an_owner_with_nothing_created_is_a_plan_warning_not_silence(
    backend: DynamicsBackend,
) -> None:
    result = plan(
        backend,
        Conversion(
            LEAD, account=MergeAccount(ACCOUNT), contact=MergeContact(CONTACT), owner_id=USER
        ),
    )
    assert len(result.calls) == 1
    (warning,) = result.warnings
    assert (warning.lead_id, warning.violation.path) == (LEAD, "owner_id")


def test_a_boundary_never_occurs_in_the_payload(backend: DynamicsBackend) -> None:
    deal = CreateOpportunity(name="--batch_lc2 and --changeset_lc1_1")
    calls = plan(backend, Conversion(LEAD, opportunity=deal)).calls
    request = shown(backend, calls[1])
    boundary = request.headers["Content-Type"].split("boundary=")[1]
    assert boundary != "batch_lc2"
    assert f"--{boundary}" not in deal.name
    assert backend.parse_native(calls)[0].opportunity == deal


@pytest.mark.parametrize(
    "conversion",
    [
        Conversion(LEAD),
        Conversion(LEAD, account=MergeAccount(ACCOUNT), contact=MergeContact(CONTACT)),
        Conversion(LEAD, contact=MergeContact(CONTACT), opportunity=CreateOpportunity()),
        Conversion(
            LEAD,
            opportunity=CreateOpportunity(
                name="Deal",
                stage="Close",
                close_date=dt.date(2027, 1, 2),
                amount=Decimal("7"),
                fields={"description": "from the web"},
            ),
            owner_id=USER,
            converted_status="Qualified",
            options=(DynamicsOptions(currency_id=CURRENCY),),
        ),
    ],
)
def test_plan_then_parse_gives_the_conversion_back(
    backend: DynamicsBackend, conversion: Conversion
) -> None:
    assert_round_trip(backend, conversion)


@settings(max_examples=80)
@given(valid_conversions(DynamicsBackend()))
def test_every_valid_conversion_round_trips(conversion: Conversion) -> None:
    assert_round_trip(DynamicsBackend(), conversion)


@settings(max_examples=40)
@given(valid_conversions(DynamicsBackend(), mode=Mode.LENIENT))
def test_every_lenient_conversion_round_trips_without_what_was_warned(
    conversion: Conversion,
) -> None:
    assert_round_trip(DynamicsBackend(), conversion, mode=Mode.LENIENT)


def test_a_person_account_in_lenient_mode_creates_the_account(backend: DynamicsBackend) -> None:
    window = leadconvert.Pipeline(backend, {}, mode=Mode.LENIENT).plan_conversions(
        [Conversion(LEAD, account=MergePersonAccount(ACCOUNT))]
    )
    assert [w.violation.rule for w in window.plan.warnings] == ["dynamics.person_account"]
    assert qualify_bodies(backend, window.plan.calls[0])[0]["CreateAccount"] is True  # type: ignore[index]


# --- parsing native requests a Dataverse client would send -----------------------------------


def one(request: NativeRequest) -> list[PlannedCall]:
    return [PlannedCall(request, (), "")]


def test_a_single_qualifylead_request_as_microsoft_documents_it(backend: DynamicsBackend) -> None:
    request = NativeRequest(
        "POST",
        f"/api/data/v9.0/leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": False,
            "CreateContact": False,
            "CreateOpportunity": True,
            "Status": 3,
            "OpportunityCurrencyId": {
                "@odata.type": "Microsoft.Dynamics.CRM.transactioncurrency",
                "transactioncurrencyid": CURRENCY,
            },
            "OpportunityCustomerId": {
                "@odata.type": "Microsoft.Dynamics.CRM.contact",
                "contactid": CONTACT,
            },
            "SourceCampaignId": {
                "@odata.type": "Microsoft.Dynamics.CRM.campaign",
                "campaignid": CAMPAIGN,
            },
        },
    )
    # CreateAccount false with no account named cannot be said in neutral terms.
    with pytest.raises(InputError, match="CreateAccount is false"):
        backend.parse_native(one(request))
    body = dict(request.json)
    body["OpportunityCustomerId"] = {
        "@odata.type": "Microsoft.Dynamics.CRM.account",
        "accountid": ACCOUNT,
    }
    body["CreateContact"] = True
    (parsed,) = backend.parse_native(one(NativeRequest("POST", request.path, json=body)))
    assert parsed == Conversion(
        LEAD,
        account=MergeAccount(ACCOUNT),
        opportunity=CreateOpportunity(),
        converted_status="3",
        options=(DynamicsOptions(currency_id=CURRENCY, source_campaign_id=CAMPAIGN),),
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "",
            {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": False, "Status": 3},
            "does not name its lead",
        ),
        (
            f"leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead",
            {"CreateAccount": True},
            "QualifyLead needs CreateContact, CreateOpportunity, Status",
        ),
        (
            f"leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead",
            {
                "CreateAccount": True,
                "CreateContact": True,
                "CreateOpportunity": False,
                "Status": 3,
                "Bogus": 1,
            },
            "Bogus",
        ),
        (
            f"leads({LEAD})/Microsoft.Dynamics.CRM.QualifyLead",
            {
                "CreateAccount": "yes",
                "CreateContact": True,
                "CreateOpportunity": False,
                "Status": 3,
            },
            "true or false",
        ),
    ],
)
def test_unreadable_native_requests_say_why(
    backend: DynamicsBackend, path: str, body: object, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        backend.parse_native(one(NativeRequest("POST", path, json=body)))


def test_a_batch_body_read_from_a_file_parses_without_headers(backend: DynamicsBackend) -> None:
    conversions = [Conversion(LEAD), Conversion(LEAD2, account=MergeAccount(ACCOUNT))]
    calls = plan(backend, *conversions).calls
    text = shown(backend, calls[0]).body
    assert text is not None
    assert backend.parse_native(one(NativeRequest("POST", "", body=text))) == conversions
    with pytest.raises(InputError, match="not multipart"):
        backend.parse_native(one(NativeRequest("POST", "", body="hello")))
