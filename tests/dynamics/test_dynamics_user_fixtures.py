"""A user's test suite gets the Dynamics emulator from leadconvert's pytest fixtures, unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from leadconvert import Conversion, CreateOpportunity, Outcome
from leadconvert.backend import Backend, Client, Emulator
from leadconvert.testing import convert_on


@pytest.mark.parametrize("leadconvert_backend", ["dynamics"], indirect=True)
def test_a_fresh_lead_converts_through_the_fixtures(
    leadconvert_backend: Backend,
    leadconvert_client: Client,
    leadconvert_emulator: Emulator,
    leadconvert_settings: Mapping[str, str],
    leadconvert_new_lead: Callable[..., str],
) -> None:
    lead = leadconvert_new_lead()
    conversion = Conversion(lead, opportunity=CreateOpportunity(name="From a user's test"))
    (result,) = convert_on(
        leadconvert_backend, leadconvert_client, [conversion], settings=leadconvert_settings
    )
    assert result.outcome is Outcome.CONVERTED and result.opportunity_id is not None
    assert leadconvert_emulator.counts(lead) == {"convert": 1, "follow_up": 1}
