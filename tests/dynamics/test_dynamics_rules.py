"""Rules checked before any call: every violation at once, strict rejects, lenient warns."""

from __future__ import annotations

import pytest
from leadconvert_dynamics import DynamicsBackend, DynamicsOptions

import leadconvert
from leadconvert import (
    AttachOpportunity,
    CarryOverTags,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Mode,
    Module,
)

LEAD = "00000001-0000-4000-8000-000000000000"
ACCOUNT = "00000002-0000-4000-8000-000000000000"
CONTACT = "00000003-0000-4000-8000-000000000000"


def rules(backend: DynamicsBackend, conversion: Conversion) -> list[str]:
    return sorted(v.rule for v in backend.validate(conversion))


def test_a_plain_lead_with_a_guid_breaks_no_rule(backend: DynamicsBackend) -> None:
    assert backend.validate(Conversion(LEAD)) == []
    # Braces and upper case are GUIDs too; they are spelt one way for the journal.
    braced = "{" + LEAD.upper() + "}"
    assert backend.validate(Conversion(braced)) == []
    assert backend.canonical_id(braced) == LEAD


def test_every_id_that_is_not_a_guid_is_reported_at_once(backend: DynamicsBackend) -> None:
    conversion = Conversion(
        "00QB00000000001MAA",
        account=MergeAccount("0011234"),
        contact=MergeContact("not-a-guid"),
        owner_id="005xx",
        options=(DynamicsOptions(currency_id="USD", source_campaign_id="camp"),),
    )
    found = {v.path: v.rule for v in backend.validate(conversion)}
    assert found == {
        "lead_id": "dynamics.id_syntax",
        "account.id": "dynamics.id_syntax",
        "contact.id": "dynamics.id_syntax",
        "owner_id": "dynamics.id_syntax",
        "options.dynamics.currency_id": "dynamics.id_syntax",
        "options.dynamics.source_campaign_id": "dynamics.id_syntax",
    }


def test_what_qualifylead_cannot_express_is_unsupported(backend: DynamicsBackend) -> None:
    conversion = Conversion(
        LEAD,
        account=MergePersonAccount(ACCOUNT),
        opportunity=AttachOpportunity("00000004-0000-4000-8000-000000000000"),
        notify_lead_owner=True,
        notify_new_owner=True,
        overwrite_account_name=True,
        overwrite_lead_source=True,
        move_attachments_to=Module.DEALS,
        carry_over_tags=CarryOverTags(contacts=("vip",)),
    )
    found = backend.validate(conversion)
    assert all(v.unsupported for v in found)
    assert sorted(v.rule for v in found) == [
        "dynamics.carry_over_tags",
        "dynamics.move_attachments_to",
        "dynamics.notify_lead_owner",
        "dynamics.notify_new_owner",
        "dynamics.opportunity_attach",
        "dynamics.overwrite_account_name",
        "dynamics.overwrite_lead_source",
        "dynamics.person_account",
    ]
    strict = leadconvert.check(backend, conversion, Mode.STRICT)
    lenient = leadconvert.check(backend, conversion, Mode.LENIENT)
    assert len(strict.errors) == 8 and not strict.warnings
    assert not lenient.errors and len(lenient.warnings) == 8


def test_pipeline_and_contact_role_are_refused_but_a_stage_is_sent(
    backend: DynamicsBackend,
) -> None:
    conversion = Conversion(
        LEAD,
        opportunity=CreateOpportunity(
            name="Deal", stage="Propose", pipeline="Default", contact_role=CONTACT
        ),
    )
    assert rules(backend, conversion) == ["dynamics.contact_role", "dynamics.pipeline"]


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("name", "dynamics.opportunity_field"),
        ("estimatedvalue", "dynamics.opportunity_field"),
        ("ownerid", "dynamics.opportunity_field"),
        ("ownerid@odata.bind", "dynamics.opportunity_field_name"),
        ("Custom__c", "dynamics.opportunity_field_name"),
        ("Amount", "dynamics.opportunity_field_name"),
    ],
)
def test_opportunity_fields_are_logical_names_that_shadow_nothing(
    backend: DynamicsBackend, key: str, rule: str
) -> None:
    conversion = Conversion(LEAD, opportunity=CreateOpportunity(name="Deal", fields={key: "x"}))
    assert rules(backend, conversion) == [rule]
    fine = Conversion(LEAD, opportunity=CreateOpportunity(fields={"new_region": "EMEA"}))
    assert backend.validate(fine) == []


def test_an_opportunity_always_has_a_customer_in_the_neutral_model(
    backend: DynamicsBackend,
) -> None:
    # Created account and contact, a merged account, a merged contact: each is a customer.
    for account, contact in [
        (None, None),
        (MergeAccount(ACCOUNT), None),
        (None, MergeContact(CONTACT)),
    ]:
        conversion = Conversion(
            LEAD,
            **({"account": account} if account else {}),
            **({"contact": contact} if contact else {}),
            opportunity=CreateOpportunity(),
        )
        assert backend.validate(conversion) == []
    # With the person account refused (lenient), the account falls back to "create": the
    # opportunity still has its customer, and the plan is valid.
    lenient = leadconvert.check(
        backend,
        Conversion(LEAD, account=MergePersonAccount(ACCOUNT), opportunity=CreateOpportunity()),
        Mode.LENIENT,
    )
    assert not lenient.errors


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        ("3", True),
        ("100000001", True),  # a custom Qualified status: checked by the org when sent
        ("Qualified", True),
        ("Qualified by Partner", True),
        ("1", False),
        ("2", False),
        ("4", False),
        ("7", False),
        ("Lost", False),
        ("new", False),
        ("Cannot Contact", False),
    ],
)
def test_the_status_must_belong_to_the_qualified_state(
    backend: DynamicsBackend, status: str, ok: bool
) -> None:
    found = rules(backend, Conversion(LEAD, converted_status=status))
    assert found == ([] if ok else ["dynamics.status_not_qualified"])


def test_settings_are_checked_before_any_record(backend: DynamicsBackend) -> None:
    assert backend.check_settings({"batch_size": "10", "api_version": "v9.2"}) == []
    found = {
        v.path
        for v in backend.check_settings(
            {
                "batch_size": "501",
                "api_version": "9.2",
                "status": "Lost",
                "max_concurrency": "52",
                "timeout": "soon",
            }
        )
    }
    assert found == {
        "settings.batch_size",
        "settings.api_version",
        "settings.status",
        "settings.max_concurrency",
        "settings.timeout",
    }
    assert backend.check_settings({"batch_size": "0"})[0].path == "settings.batch_size"


def test_example_ids_are_distinct_valid_guids(backend: DynamicsBackend) -> None:
    seen = set()
    for role in ("lead", "account", "contact", "opportunity", "user"):
        for n in (0, 1, 2**40):
            value = backend.example_id(role, n)
            assert backend.validate(Conversion(value)) == []  # a GUID, whatever the role
            assert backend.canonical_id(value, role) == value
            seen.add(value)
    assert len(seen) == 15


def test_every_meaning_has_a_capability(backend: DynamicsBackend) -> None:
    from leadconvert.backend import MEANINGS

    (column,) = backend.capabilities
    assert set(column.entries) == set(MEANINGS)
