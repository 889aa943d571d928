"""The shipped strategies draw what they promise, for every installed backend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import leadconvert
from leadconvert import Conversion, Mode, check
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
        assert invalid.rules == {v.rule for v in check(backend, invalid.conversion).errors}

    prop()


def test_portable_is_valid_everywhere(leadconvert_registry: leadconvert.Registry) -> None:
    """portable_conversions: one meaning, each backend's ids, valid on all of them."""
    backends = list(leadconvert_registry)

    @given(portable_conversions(backends), st.sampled_from(backends))
    def prop(by_backend: dict[str, Conversion], backend: leadconvert.backend.Backend) -> None:
        assert set(by_backend) == {b.name for b in backends}
        assert not check(backend, by_backend[backend.name]).errors

    prop()
