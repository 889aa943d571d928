"""Testing helpers for leadconvert users: hypothesis strategies, property checks, pytest fixtures.

Needs the ``testing`` extra (``pip install leadconvert[testing]``), which brings hypothesis and
pytest. The fixtures (``leadconvert_backend``, ``leadconvert_emulator``, ``leadconvert_client``,
...) come from the pytest plugin this package registers; see docs/testing.md.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# The pytest plugin in this package is loaded by every pytest run of every user: importing the
# package must not pull in hypothesis. Names load from their modules when first used.
_HOMES = {
    "ID_ROLES": "leadconvert._translate",
    "relabel_ids": "leadconvert._translate",
    **dict.fromkeys(
        ("assert_round_trip", "convert_on", "normal_form", "round_trip", "same_id"),
        "leadconvert.testing._checks",
    ),
    **dict.fromkeys(
        (
            "DIALECTS",
            "InvalidConversion",
            "backend_options",
            "conversions",
            "id_strategies",
            "invalid_conversions",
            "portable_conversions",
            "record_ids",
            "valid_conversions",
            "without_violations",
        ),
        "leadconvert.testing._strategies",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)


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
