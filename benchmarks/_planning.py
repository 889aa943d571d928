"""``leadconvert plan`` from the file, as users run it, against the same-work floor.

Both sides run as commands from the same JSON Lines file to a plan document on disk:
``leadconvert plan --backend B FILE > plan.json`` and ``python -m benchmarks._floor B FILE >
floor.json`` (``benchmarks/_floor.py``: ``json`` only, the same windows, grouping and document).
The two documents are checked JSON-equal (numbers compared exactly) before anything is counted;
the run stops if they differ. Timed: each command's own CPU seconds (user + system), in paired
runs; the ratio is the median of the pairs' ratios.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import _processes as p
from . import _workloads as w


def _plan(backend: str, source: Path, target: Path) -> dict[str, Any]:
    with target.open("w", encoding="utf-8") as stream:
        # Exit 0: every line of the workloads is valid (a warning is not an error).
        return p.run_measured([*p.LEADCONVERT, "plan", "--backend", backend, str(source)],
                              stdout=stream)  # fmt: skip


def _floor(backend: str, source: Path, target: Path) -> dict[str, Any]:
    with target.open("w", encoding="utf-8") as stream:
        return p.run_measured([*p.PYTHON, "-m", "benchmarks._floor", backend, str(source)],
                              stdout=stream)  # fmt: skip


def plan_vs_floor(tmp: Path, workload: str, n: int, pairs: int) -> dict[str, Any]:
    """Paired runs of ``leadconvert plan`` and the floor on ``n`` lines of ``workload``."""
    backend = w.BACKEND[workload]
    source = p.write_input(tmp / f"{workload}-{n}.jsonl", workload, n)
    ours, theirs = tmp / f"{workload}-{n}.plan.json", tmp / f"{workload}-{n}.floor.json"
    checked = False

    def leadconvert() -> dict[str, Any]:
        return _plan(backend, source, ours)

    def floor() -> dict[str, Any]:
        nonlocal checked
        result = _floor(backend, source, theirs)
        if not checked and ours.exists():
            p.same_json(ours, theirs, f"plan {workload} {n:,}")
            checked = True
        return result

    result = p.paired(pairs, leadconvert, floor)
    if not checked:
        p.same_json(ours, theirs, f"plan {workload} {n:,}")
    result["lines"] = n
    result["checked_equal"] = True
    for path in (ours, theirs):
        path.unlink()
    if n > 100_000:
        source.unlink()
    return result


def plan_rss(tmp: Path, workload: str, sizes: list[int]) -> dict[str, Any]:
    """Peak RSS (and CPU seconds) of ``leadconvert plan`` on ``workload`` at each size."""
    backend = w.BACKEND[workload]
    out: dict[str, Any] = {}
    for n in sizes:
        source = p.write_input(tmp / f"{workload}-{n}.jsonl", workload, n)
        target = tmp / f"{workload}-{n}.rss-plan.json"
        result = _plan(backend, source, target)
        result["lines"] = n
        out[str(n)] = result
        target.unlink()
        if n > 100_000:
            source.unlink()
    return out
