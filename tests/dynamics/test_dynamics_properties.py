"""Validation agrees with the emulator: what the rules accept, the org qualifies as asked."""

from __future__ import annotations

import itertools

import attrs
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from leadconvert_dynamics import DynamicsBackend, DynamicsClient, DynamicsEmulator

from leadconvert import (
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    Mode,
    Outcome,
)
from leadconvert.testing import convert_on, valid_conversions

# The seeded org's records: each contact belongs to the account beside it.
PAIRS = {
    "00000003-0000-4000-8000-000000000000": "00000002-0000-4000-8000-000000000000",
    "00000003-0000-4000-8000-000000000001": "00000002-0000-4000-8000-000000000001",
}
WORLD = {
    "lead": st.just("00000001-0000-4000-8000-00000000beef"),  # replaced by a fresh lead
    "account": st.sampled_from(sorted(set(PAIRS.values()))),
    "contact": st.sampled_from(sorted(PAIRS)),
    "opportunity": st.just("00000004-0000-4000-8000-000000000000"),
    "user": st.sampled_from(
        ["00000005-0000-4000-8000-000000000000", "00000005-0000-4000-8000-000000000001"]
    ),
}
# Status names cannot be checked offline: these are the seeded org's Qualified statuses.
STATUSES = st.sampled_from([None, "3", "Qualified", "100000001", "Qualified by Partner"])
_fresh = itertools.count()


def grounded(conversion: Conversion) -> Conversion:
    """A merged contact comes with its own account, as the org's records have it."""
    if isinstance(conversion.contact, MergeContact) and isinstance(
        conversion.account, MergeAccount
    ):
        return attrs.evolve(conversion, account=MergeAccount(PAIRS[conversion.contact.id]))
    return conversion


def check_converted(
    backend: DynamicsBackend,
    emulator: DynamicsEmulator,
    client: DynamicsClient,
    conversion: Conversion,
    mode: Mode,
) -> None:
    n = next(_fresh)
    lead = emulator.add_lead(
        lastname=f"Prop {n}", emailaddress1=f"prop{n}@leads.example", companyname=f"Prop Co {n}"
    )
    sent = attrs.evolve(conversion, lead_id=lead)
    note(f"sent: {sent}")
    (result,) = convert_on(backend, client, [sent], mode=mode)
    assert result.outcome is Outcome.CONVERTED, result
    assert all(step.succeeded for step in result.follow_ups), result.follow_ups
    if isinstance(sent.account, MergeAccount):
        assert result.account_id == sent.account.id
    else:
        assert result.account_id is not None  # made from the lead's company
    if isinstance(sent.contact, MergeContact):
        assert result.contact_id == sent.contact.id
    assert (result.opportunity_id is not None) == isinstance(sent.opportunity, CreateOpportunity)
    assert emulator.counts(lead)["convert"] == 1
    stored = emulator.lead(lead)
    assert stored["statecode"] == 1
    if sent.converted_status in ("100000001", "Qualified by Partner"):
        assert stored["statuscode"] == 100000001


def _conversions(mode: Mode) -> st.SearchStrategy[Conversion]:
    return valid_conversions(
        DynamicsBackend(), mode=mode, ids=WORLD, converted_status=STATUSES
    ).map(grounded)


def test_what_strict_validation_accepts_the_emulator_qualifies(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_conversions(Mode.STRICT))
    def prop(conversion: Conversion) -> None:
        check_converted(backend, emulator, client, conversion, Mode.STRICT)

    prop()


def test_what_lenient_validation_accepts_the_emulator_qualifies(
    backend: DynamicsBackend, emulator: DynamicsEmulator, client: DynamicsClient
) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_conversions(Mode.LENIENT))
    def prop(conversion: Conversion) -> None:
        check_converted(backend, emulator, client, conversion, Mode.LENIENT)

    prop()
