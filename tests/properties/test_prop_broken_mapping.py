"""The properties catch a broken mapping: flip one rename of Zoho's wire table and they fail."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
from conftest import Org
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from leadconvert_zoho import _plan, _wire
from prop_helpers import (
    check_accepted,
    check_cross_backend,
    check_round_trip,
    grounded,
    run,
    with_lead,
    world_ids,
    world_overrides,
)

import leadconvert
from leadconvert import Conversion, Mode
from leadconvert.testing import portable_conversions, valid_conversions

# Find the failure; no need to shrink it.
FIND = settings(
    max_examples=300,
    database=None,
    phases=[Phase.generate],
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _break(monkeypatch: pytest.MonkeyPatch, cls: type, attribute: str, key: str) -> None:
    """Write and read ``cls.attribute`` under ``key`` (the converter is built once: rebuild)."""
    # The converter is built on first use; build the true one before the table is broken, or
    # monkeypatch would read (and restore after the test) one built from the broken table.
    assert _wire.CONVERTER is not None
    renames = {c: dict(r) for c, r in _wire.RENAMES.items()}
    renames.setdefault(cls, {})[attribute] = key
    monkeypatch.setattr(_wire, "RENAMES", renames)
    broken = _wire._build()
    monkeypatch.setattr(_wire, "CONVERTER", broken)
    # The planner writes bodies with the keys it read from the same table when built.
    monkeypatch.setattr(_plan, "_KEYS", _plan._Keys())


@pytest.fixture
def notify_renamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """notify_new_entity_owner written as notify_new_owner (and read back the same way)."""
    _break(monkeypatch, _wire.ConvertBody, "notify_new_entity_owner", "notify_new_owner")
    yield


@pytest.fixture
def accounts_renamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Accounts written as Account."""
    _break(monkeypatch, _wire.ConvertBody, "accounts", "Account")
    yield


def test_round_trip_fails(registry: leadconvert.Registry, notify_renamed: None) -> None:
    """Writer and reader agree with each other, but not with Zoho's documented keys."""
    zoho = registry.get("zoho")

    @FIND
    @given(valid_conversions(zoho))
    def prop(conversion: Conversion) -> None:
        check_round_trip(zoho, conversion, {}, Mode.STRICT)

    with pytest.raises(AssertionError, match="undocumented keys"):
        prop()


def test_differential_fails(orgs: dict[str, Org], accounts_renamed: None) -> None:
    """The emulator no longer merges into the account asked for."""
    org = orgs["zoho"]

    @FIND
    @given(valid_conversions(org.backend, ids=world_ids("zoho"), **world_overrides("zoho")))
    def prop(conversion: Conversion) -> None:
        org.reset()
        sent = with_lead(grounded(conversion), org.backend, org.fresh_lead)
        if not leadconvert.check(org.backend, sent).errors:
            check_accepted(org.backend, org.client, sent, org.settings, Mode.STRICT)

    with pytest.raises(AssertionError):
        prop()


def test_cross_backend_fails(orgs: dict[str, Org], accounts_renamed: None) -> None:
    """Salesforce merges into the account; the broken Zoho creates one."""
    from test_prop_cross_backend import OPPORTUNITIES, RECORDS

    def runner(org: Org):  # type: ignore[no-untyped-def]
        def go(conversion: Conversion):  # type: ignore[no-untyped-def]
            org.reset()
            return run(
                org.backend,
                org.client,
                attrs.evolve(conversion, lead_id=org.fresh_lead()),
                org.settings,
            )

        return go

    runners = {name: runner(org) for name, org in orgs.items()}

    @FIND
    @given(
        portable_conversions(
            [o.backend for o in orgs.values()],
            records=RECORDS,
            opportunity=OPPORTUNITIES,
            converted_status=st.none(),
            options=st.just(()),
        )
    )
    def prop(pair: dict[str, Conversion]) -> None:
        check_cross_backend(pair, runners)

    with pytest.raises(AssertionError, match="disagree"):
        prop()
