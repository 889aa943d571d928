"""Property 3: one conversion valid on both backends, run on both emulators (seeded with the same
records), ends in the same neutral outcome: which records were created, merged and linked."""

from __future__ import annotations

import attrs
from conftest import Org
from hypothesis import given, note
from hypothesis import strategies as st
from prop_helpers import (
    COMMON_STAGES,
    SAFE_FIELDS,
    SF_CONVERTED_STATUS,
    SHARED,
    ZOHO_PIPELINE,
    check_cross_backend,
    run,
)

from leadconvert import Conversion, CreateOpportunity, Mode, NoOpportunity
from leadconvert.testing import portable_conversions

RECORDS = {role: st.sampled_from(list(records.values())) for role, records in SHARED.items()}
OPPORTUNITIES = st.one_of(
    st.just(NoOpportunity()),
    st.builds(
        CreateOpportunity,
        name=st.text("abcdef ", min_size=1, max_size=20).filter(str.strip),
        stage=st.sampled_from(COMMON_STAGES),
        close_date=st.dates(),
        pipeline=st.just(ZOHO_PIPELINE),
        fields=SAFE_FIELDS,
    ),
)


def test_same_meaning_same_outcome(orgs: dict[str, Org]) -> None:
    """Zoho and Salesforce end a shared conversion the same way.

    Strict only: in lenient mode each backend leaves out what it alone cannot express, so the
    two no longer carry one meaning.
    """
    mode = Mode.STRICT
    backends = [org.backend for org in orgs.values()]
    strategy = portable_conversions(
        backends,
        mode=mode,
        records=RECORDS,
        opportunity=OPPORTUNITIES,
        converted_status=st.none() | st.just(SF_CONVERTED_STATUS),
        options=st.just(()),
    )

    def runner(org: Org):  # type: ignore[no-untyped-def]
        def go(conversion: Conversion):  # type: ignore[no-untyped-def]
            org.reset()
            lead = org.fresh_lead()
            sent = attrs.evolve(conversion, lead_id=lead)
            return run(org.backend, org.client, sent, org.settings, mode)

        return go

    runners = {name: runner(org) for name, org in orgs.items()}

    @given(strategy)
    def prop(pair: dict[str, Conversion]) -> None:
        note(f"conversions: {pair}")
        check_cross_backend(pair, runners)

    prop()
