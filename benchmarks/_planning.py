"""Planning throughput (validate + plan + serialize) against the floor, and call counts."""

from __future__ import annotations

import gc
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from leadconvert import Conversion, dumps_json
from leadconvert._input import InputRecord
from leadconvert._pipeline import plan_records
from leadconvert.backend import Backend, PlannedCall

from . import _workloads as w


def records(pairs: Sequence[tuple[str, Conversion]]) -> list[InputRecord]:
    return [InputRecord(n, conversion) for n, (_, conversion) in enumerate(pairs, 1)]


def plan_and_serialize(backend: Backend, recs: Sequence[InputRecord]) -> tuple[list[str], int]:
    """What is timed: check, plan and write every call's payload as the transport sends it."""
    out: list[str] = []
    invalid = 0
    for window in plan_records(backend, recs, {}):
        invalid += len(window.invalid)
        for call in window.plan.calls:
            request = call.request
            out.append(dumps_json(request.json) if request.json is not None else request.body or "")
    return out, invalid


def calls_of(backend: Backend, recs: Sequence[InputRecord]) -> list[PlannedCall]:
    return [call for window in plan_records(backend, recs, {}) for call in window.plan.calls]


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs (seconds), and the last result."""
    best = math.inf
    result = None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def same_json(ours: str, theirs: str) -> bool:
    """Equal as JSON values, numbers compared exactly (1500.00 == 1500.0)."""
    return bool(json.loads(ours, parse_float=Decimal) == json.loads(theirs, parse_float=Decimal))


def zoho_throughput(
    backend: Backend, n: int, repeats: int, *, homogeneous: bool = False
) -> dict[str, Any]:
    pairs = w.zoho_homogeneous(n) if homogeneous else w.zoho_mixed(n)
    recs = records(pairs)
    kinds = [kind for kind, _ in pairs]
    hand = w.zoho_hand_payloads(kinds)
    ours_calls = calls_of(backend, recs)
    # Same payloads on both sides, in the same order, before anything is timed.
    assert len(ours_calls) == len(hand), (len(ours_calls), len(hand))
    for call, (path, body) in zip(ours_calls, hand, strict=True):
        assert call.request.path == path, (call.request.path, path)
        assert same_json(dumps_json(call.request.json), json.dumps(body)), (call, body)
    bodies = [body for _, body in hand]
    seconds, (payloads, invalid) = best_of(repeats, lambda: plan_and_serialize(backend, recs))
    assert invalid == 0 and len(payloads) == len(hand)
    floor, _ = best_of(repeats, lambda: [json.dumps(body) for body in bodies])
    return _throughput(n, seconds, floor, ours_calls, kinds)


def sf_throughput(
    backend: Backend, n: int, repeats: int, *, homogeneous: bool = False
) -> dict[str, Any]:
    pairs = w.sf_homogeneous(n) if homogeneous else w.sf_mixed(n)
    recs = records(pairs)
    kinds = [kind for kind, _ in pairs]
    hand = w.sf_hand_payloads(kinds)
    expected = w.sf_floor(hand)
    payloads, invalid = plan_and_serialize(backend, recs)
    assert invalid == 0 and len(payloads) == len(expected), (invalid, len(payloads), len(expected))
    for ours, theirs in zip(payloads, expected, strict=True):
        if theirs.startswith("<"):
            assert ours == theirs, (ours[:300], theirs[:300])
        else:
            assert same_json(ours, theirs), (ours, theirs)
    seconds, _ = best_of(repeats, lambda: plan_and_serialize(backend, recs))
    floor, _ = best_of(repeats, lambda: w.sf_floor(hand))
    ours_calls = calls_of(backend, recs)
    return _throughput(n, seconds, floor, ours_calls, kinds)


def call_counts(zoho: Backend, salesforce: Backend, n: int) -> dict[str, Any]:
    """Calls a plan makes for ``n`` homogeneous conversions, against the minimum."""
    z = calls_of(zoho, records(w.zoho_homogeneous(n)))
    s = calls_of(salesforce, records(w.sf_homogeneous(n)))
    return {
        "zoho": {"conversions": n, "calls": len(z), "minimum": math.ceil(n / 50)},
        "salesforce": {"conversions": n, "calls": len(s), "minimum": math.ceil(n / 100)},
    }


def _throughput(
    n: int, seconds: float, floor: float, calls: Sequence[Any], kinds: Sequence[str]
) -> dict[str, Any]:
    """One throughput row: ours against the floor, and the calls the plan makes."""
    return {
        "conversions": n,
        "seconds": seconds,
        "per_second": n / seconds,
        "floor_seconds": floor,
        "floor_per_second": n / floor,
        "ratio_to_floor": seconds / floor,
        "calls": len(calls),
        "calls_by_kind": dict(Counter(call.kind for call in calls)),
        "mix": dict(Counter(kinds)),
    }
