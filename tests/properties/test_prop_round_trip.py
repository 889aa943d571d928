"""Property 1: for every conversion a backend accepts, neutral -> native -> neutral is the identity
(up to the spelling of ids, and minus what the backend warned it will not do)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prop_helpers import check_round_trip

import leadconvert
from leadconvert import Mode
from leadconvert.testing import valid_conversions

ZOHO_SETTINGS = {"contacts_module_id": "11", "accounts_module_id": "12", "deals_module_id": "13"}
SETTINGS = {"zoho": ZOHO_SETTINGS, "salesforce": {}, "dynamics": {}}


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.LENIENT], ids=lambda m: m.value)
@pytest.mark.parametrize("name", ["zoho", "salesforce", "dynamics"])
def test_round_trip(registry: leadconvert.Registry, name: str, mode: Mode) -> None:
    """Every accepted conversion comes back from the backend's own plan unchanged."""
    backend = registry.get(name)

    @given(valid_conversions(backend, settings=SETTINGS[name], mode=mode))
    def prop(conversion: leadconvert.Conversion) -> None:
        check_round_trip(backend, conversion, SETTINGS[name], mode)

    prop()


@pytest.mark.parametrize("version", ["v7", "v8"])
def test_zoho_round_trip_per_api_version(registry: leadconvert.Registry, version: str) -> None:
    """v7 has no add_to_existing_record: the plan warns, and everything else comes back."""
    backend = registry.get("zoho")

    settings = {**ZOHO_SETTINGS, "api_version": version}

    @given(valid_conversions(backend, settings=settings, mode=Mode.LENIENT, owner_id=st.none()))
    def prop(conversion: leadconvert.Conversion) -> None:
        check_round_trip(backend, conversion, settings, Mode.LENIENT)

    prop()
