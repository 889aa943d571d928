"""Checking one conversion against a backend: its rules, and the mode that splits them.

Kept apart from the pipeline so the merge policy (which re-checks the conversion it proposes)
and the pipeline (which drives it) can both use it without importing each other.
"""

from __future__ import annotations

import enum

from attrs import evolve, frozen

from ._model import Conversion
from ._results import Violation
from .backend import Backend

__all__ = ["Checked", "Mode", "check"]


class Mode(enum.Enum):
    """What happens to an option a backend cannot express."""

    #: It is a violation (the default).
    STRICT = "strict"
    #: It is a warning recorded in the plan, and the option is not sent.
    LENIENT = "lenient"


@frozen
class Checked:
    """A conversion's violations after the mode is applied."""

    errors: tuple[Violation, ...]
    warnings: tuple[Violation, ...]


#: What checking a conversion that breaks no rule finds (the common case), shared: it is frozen.
_CLEAN = Checked((), ())


def check(backend: Backend, conversion: Conversion, mode: Mode = Mode.STRICT) -> Checked:
    """Every rule ``conversion`` breaks on ``backend``, split by ``mode``."""
    violations = backend.validate(conversion)
    if not conversion.options and not violations:
        return _CLEAN
    found: list[Violation] = [
        Violation(
            rule="options.other_backend",
            path=f"options.{item.backend}",
            message=f"options for backend {item.backend!r} cannot be expressed on {backend.name!r}",
            backend=backend.name,
            unsupported=True,
        )
        for item in conversion.options
        if item.backend != backend.name
    ]
    if not found and not violations:
        return _CLEAN
    found.extend(v if v.backend else evolve(v, backend=backend.name) for v in violations)
    if mode is Mode.STRICT:
        return Checked(tuple(found), ())
    return Checked(
        tuple(v for v in found if not v.unsupported), tuple(v for v in found if v.unsupported)
    )
