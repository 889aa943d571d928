"""The shipped strategies draw what they promise, for every installed backend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import leadconvert
from leadconvert import Conversion, Mode, check
from leadconvert.backend import PlanItem
from leadconvert.testing import (
    InvalidConversion,
    invalid_conversions,
    portable_conversions,
    valid_conversions,
)


def test_valid_invalid_and_portable(leadconvert_backend: leadconvert.backend.Backend) -> None:
    """valid_conversions are accepted, invalid_conversions refused for the rules they name."""
    backend = leadconvert_backend

    @given(valid_conversions(backend, mode=Mode.LENIENT), invalid_conversions(backend))
    def prop(valid: Conversion, invalid: InvalidConversion) -> None:
        assert not check(backend, valid, Mode.LENIENT).errors
        # Valid for a backend means it plans, with the settings given (here: none).
        backend.plan([PlanItem(valid)], {})
        assert invalid.rules == {v.rule for v in check(backend, invalid.conversion).errors}

    prop()


def test_portable_is_valid_everywhere(leadconvert_registry: leadconvert.Registry) -> None:
    """portable_conversions: one meaning, each backend's ids, valid on all of them."""
    backends = list(leadconvert_registry)

    @given(portable_conversions(backends), st.sampled_from(backends))
    def prop(by_backend: dict[str, Conversion], backend: leadconvert.backend.Backend) -> None:
        assert set(by_backend) == {b.name for b in backends}
        assert not check(backend, by_backend[backend.name]).errors
        backend.plan([PlanItem(by_backend[backend.name])], {})

    prop()


def test_ids_are_asked_of_the_backend(leadconvert_backend: leadconvert.backend.Backend) -> None:
    """Every id a strategy draws for a backend is one its ``canonical_id`` and rules accept."""
    from leadconvert.testing import id_strategies

    backend = leadconvert_backend
    strategies = id_strategies(backend)

    @given(st.data())
    def prop(data: st.DataObject) -> None:
        for role, strategy in strategies.items():
            value = data.draw(strategy, label=role)
            example = backend.canonical_id(value, role)
            assert backend.canonical_id(example, role) == example
        lead = data.draw(strategies["lead"])
        assert not [v for v in backend.validate(Conversion(lead)) if v.path == "lead_id"]

    prop()
