"""Checking conversions against a backend and planning them, window by window.

The planner streams: records are read lazily and planned in windows whose size is a multiple
of every built-in batch limit, so memory stays flat whatever the input size while homogeneous
input still needs the minimum number of calls.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Iterator, Mapping

from attrs import evolve, frozen

from ._input import InputRecord
from ._model import Conversion
from ._results import Violation
from .backend import Backend, BackendPlan, PlanItem, PlanWarning

__all__ = ["Checked", "Mode", "PlanWindow", "check", "plan_records"]

#: Records planned together; a multiple of Zoho's 50 and Salesforce's 100.
WINDOW = 5000


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


def check(backend: Backend, conversion: Conversion, mode: Mode = Mode.STRICT) -> Checked:
    """Every rule ``conversion`` breaks on ``backend``, split by ``mode``."""
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
    found.extend(
        v if v.backend else evolve(v, backend=backend.name) for v in backend.validate(conversion)
    )
    if mode is Mode.STRICT:
        return Checked(tuple(found), ())
    return Checked(
        tuple(v for v in found if not v.unsupported), tuple(v for v in found if v.unsupported)
    )


@frozen
class PlanWindow:
    """One window of a streamed plan: its calls and warnings, and the records left out."""

    plan: BackendPlan
    invalid: tuple[InputRecord, ...]


def plan_records(
    backend: Backend,
    records: Iterable[InputRecord],
    settings: Mapping[str, str],
    mode: Mode = Mode.STRICT,
    window: int = WINDOW,
) -> Iterator[PlanWindow]:
    """Check and plan ``records`` window by window; invalid records are returned, not planned."""
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, window)):
        items: list[PlanItem] = []
        warnings: list[PlanWarning] = []
        invalid: list[InputRecord] = []
        for record in chunk:
            if record.conversion is None:
                invalid.append(record)
                continue
            checked = check(backend, record.conversion, mode)
            if checked.errors:
                invalid.append(evolve(record, violations=checked.errors))
                continue
            warnings.extend(
                PlanWarning(record.conversion.lead_id, v, record.line) for v in checked.warnings
            )
            items.append(PlanItem(record.conversion, record.line))
        planned = backend.plan(items, settings) if items else BackendPlan(())
        yield PlanWindow(BackendPlan(planned.calls, (*warnings, *planned.warnings)), tuple(invalid))
