"""Testing helpers for leadconvert users: hypothesis strategies, property checks, pytest fixtures.

Needs the ``testing`` extra (``pip install leadconvert[testing]``), which brings hypothesis and
pytest. The fixtures (``leadconvert_backend``, ``leadconvert_emulator``, ``leadconvert_client``,
...) come from the pytest plugin this package registers; see docs/testing.md.
"""

from .._translate import ID_ROLES, relabel_ids
from ._checks import assert_round_trip, convert_on, normal_form, round_trip, same_id
from ._strategies import (
    DIALECTS,
    InvalidConversion,
    backend_options,
    conversions,
    id_strategies,
    invalid_conversions,
    portable_conversions,
    record_ids,
    valid_conversions,
    without_violations,
)

__all__ = [
    "DIALECTS",
    "ID_ROLES",
    "InvalidConversion",
    "assert_round_trip",
    "backend_options",
    "conversions",
    "convert_on",
    "id_strategies",
    "invalid_conversions",
    "normal_form",
    "portable_conversions",
    "record_ids",
    "relabel_ids",
    "round_trip",
    "same_id",
    "valid_conversions",
    "without_violations",
]
