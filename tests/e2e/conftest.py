"""Fixtures of the end-to-end tests: a fresh emulator of each CRM, in this test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from leadconvert_salesforce import SalesforceEmulator
from leadconvert_zoho import ZohoEmulator


@pytest.fixture
def zoho_emulator() -> Iterator[ZohoEmulator]:
    """A Zoho emulator seeded with the shipped seed, fast jobs, quiet."""
    with ZohoEmulator(job_delay=0.05, refresh_limit=1000, quiet=True) as emulator:
        yield emulator


@pytest.fixture
def sf_emulator() -> Iterator[SalesforceEmulator]:
    """A Salesforce emulator seeded with the shipped seed."""
    with SalesforceEmulator() as emulator:
        yield emulator
