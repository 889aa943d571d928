"""Registers leadconvert's strategies with hypothesis, through its ``hypothesis`` entry point.

With leadconvert installed, ``st.from_type(Conversion)`` draws valid neutral conversions.
"""

from __future__ import annotations

from typing import Any


def _conversions() -> Any:
    # Imported when first drawn, not when hypothesis starts: our strategies module imports
    # hypothesis itself, and this hook runs while hypothesis is still importing.
    from ._strategies import conversions

    return conversions()


def _hypothesis_setup_hook() -> None:
    from hypothesis import strategies as st

    from .._model import Conversion

    st.register_type_strategy(Conversion, st.deferred(_conversions))
