"""Run every benchmark, print one table, write the results as JSON.

    python -m benchmarks [--out benchmarks/results.json] [--quick] [--sdk]
    python -m benchmarks --instructions [--quick] [--out FILE]
    python -m benchmarks --latency MS [--quick] [--out FILE]

Measures on this machine, side by side in one run, every side a command from the same input
file: ``leadconvert plan`` against a same-work floor (``_floor.py``) for each workload,
``leadconvert convert`` against a bare requests loop making the same calls to the same emulator
(``_bare.py``), the peak RSS of ``plan`` as the input grows, and start-up time. CPU seconds of
each command's own process, medians of paired runs. ``--instructions`` counts the instructions
of the same commands under valgrind instead (``_instructions.py``): it repeats where CPU seconds
do not. ``--latency MS`` runs only the ``convert`` comparisons, with the emulator holding every
CRM request that long before it answers (both sides alike): a CRM across a network rather than
on 127.0.0.1. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import _planning, _processes
from benchmarks import _workloads as w

FULL: dict[str, Any] = {
    "plan_lines": 100_000,
    "plan_pairs": 3,
    "rss_workload": "zoho_mixed",
    "rss_lines": [10_000, 100_000, 1_000_000],
    "convert_leads": 5_000,
    # The same code's convert ratio moves by a fifth from one pair to the next here: seven
    # pairs make the median of one run worth reading (three gave 1.18x and 1.50x minutes apart).
    "convert_pairs": 7,
    "startup_runs": 10,
}
QUICK: dict[str, Any] = {
    "plan_lines": 20_000,
    "plan_pairs": 1,
    "rss_workload": "zoho_mixed",
    "rss_lines": [1_000, 10_000],
    "convert_leads": 1_000,
    "convert_pairs": 1,
    "startup_runs": 3,
}
#: Sizes of ``--instructions`` (valgrind runs a command about fifty times slower).
INSTRUCTIONS = {"plan_lines": 100_000, "convert_leads": 5_000}
INSTRUCTIONS_QUICK = {"plan_lines": 20_000, "convert_leads": 1_000}
#: Workloads ``convert`` is measured on (every workload), with the calls ``convert`` keeps in
#: flight (each backend's ``limits.max_concurrency``), given to the bare loop too.
CONVERT = {
    "zoho_homogeneous": "zoho",
    "zoho_mixed": "zoho",
    "salesforce_mixed": "salesforce",
    "dynamics_mixed": "dynamics",
}


def _installed() -> tuple[set[str], dict[str, int]]:
    from leadconvert import load_registry, make_plugin_manager

    registry = load_registry(make_plugin_manager())
    names = {backend.name for backend in registry}
    return names, {b.name: b.limits.max_concurrency for b in registry}


def _compile_bytecode() -> None:
    """Write the bytecode of leadconvert, its plugins and the floors before anything is timed.

    An install from a wheel ships it; an editable install run with ``PYTHONDONTWRITEBYTECODE``
    set (as on the machine of docs/performance.md) would otherwise compile every module from
    source in every measured command, a cost users do not pay.
    """
    import compileall
    import importlib.util

    for package in ("leadconvert", "benchmarks", *(f"leadconvert_{n}" for n in CONVERT.values())):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            compileall.compile_dir(Path(spec.origin).parent, quiet=1)


class _Steps:
    """Prints how long each step of a run took (on stderr, as the run goes)."""

    def __init__(self) -> None:
        self.step = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  {name}: {now - self.step:.1f} s", file=sys.stderr, flush=True)
        self.step = now


def measure(sizes: dict[str, Any], tmp: Path) -> dict[str, Any]:
    _compile_bytecode()
    names, concurrency = _installed()
    results: dict[str, Any] = {"plan": {}, "convert": {}}
    done = _Steps()
    results["startup"] = _processes.startup(tmp, sizes["startup_runs"])
    done("start-up")
    for workload in w.WORKLOADS:
        if w.BACKEND[workload] not in names:
            continue
        results["plan"][workload] = _planning.plan_vs_floor(
            tmp, workload, sizes["plan_lines"], sizes["plan_pairs"]
        )
        done(f"plan {workload}")
    results["plan_rss_workload"] = sizes["rss_workload"]
    results["plan_rss"] = _planning.plan_rss(tmp, sizes["rss_workload"], sizes["rss_lines"])
    done("plan peak RSS")
    results["convert"] = _converts(sizes, tmp, names, concurrency, done)
    return results


def _converts(
    sizes: dict[str, Any],
    tmp: Path,
    names: set[str],
    concurrency: dict[str, int],
    done: _Steps,
    delay: float = 0.0,
) -> dict[str, Any]:
    """``convert`` against the bare loop on every workload (``delay``: the CRM's latency)."""
    out: dict[str, Any] = {}
    for workload, backend in CONVERT.items():
        if backend not in names:
            continue
        out[workload] = _processes.convert_vs_bare(
            tmp, workload, sizes["convert_leads"], sizes["convert_pairs"], concurrency[backend],
            delay,
        )  # fmt: skip
        done(f"convert {workload}")
    return out


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, goal, met) for each target of issue #15."""
    out: list[tuple[str, str, str, bool]] = []
    for workload, m in r["plan"].items():
        out.append((f"plan / floor, {workload}", f"{m['cpu_ratio']:.2f}x", "<= 2x",
                    m["cpu_ratio"] <= 2))  # fmt: skip
    for workload, m in r["convert"].items():
        out.append((f"convert / bare loop, {workload}", f"{m['wall_ratio']:.2f}x wall",
                    "<= 1.3x", m["wall_ratio"] <= 1.3))  # fmt: skip
    sizes = sorted(r["plan_rss"], key=int)
    if len(sizes) >= 2:
        big, mid = r["plan_rss"][sizes[-1]], r["plan_rss"][sizes[-2]]
        growth = big["peak_rss_mb"] / mid["peak_rss_mb"] - 1
        out.append((f"plan RSS {int(sizes[-2]):,} -> {int(sizes[-1]):,} lines", f"{growth:+.1%}",
                    "within 10%", abs(growth) <= 0.10))  # fmt: skip
    for name in ("leadconvert --help", "leadconvert plan (1 line)"):
        s = r["startup"][name]
        out.append((f"start-up, {name}", f"{s['cpu'] * 1000:.0f} ms", "< 150 ms",
                    s["cpu"] < 0.150))  # fmt: skip
    return out


def table(r: dict[str, Any]) -> str:
    lines = [
        "plan from the file: leadconvert vs the same-work floor (CPU s, median of paired runs)",
        f"  {'workload':<18} {'lines':>9} {'leadconvert':>11} {'floor':>7} {'ratio':>6} "
        f"{'lines/s':>9} {'RSS':>7} {'floor RSS':>9}",
    ]
    for workload, m in r["plan"].items():
        ours, theirs = m["ours"], m["theirs"]
        lines.append(
            f"  {workload:<18} {m['lines']:>9,} {ours['cpu']:>10.2f}s {theirs['cpu']:>6.2f}s "
            f"{m['cpu_ratio']:>5.2f}x {m['lines'] / ours['cpu']:>9,.0f} "
            f"{ours['peak_rss_mb']:>4.0f} MB {theirs['peak_rss_mb']:>6.0f} MB"
        )
    lines.append(f"plan peak RSS, {r['plan_rss_workload']} (with warnings), by input size")
    for n, m in sorted(r["plan_rss"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"  {int(n):>9,} lines  {m['peak_rss_mb']:>5.0f} MB  {m['cpu']:>7.2f} s CPU  "
            f"{int(n) / m['cpu']:>9,.0f} lines/s"
        )
    lines.extend(_convert_table(r["convert"]))
    lines.append("start-up (median; CPU and wall)")
    for name, s in r["startup"].items():
        lines.append(
            f"  {name:<28} {s['cpu'] * 1000:>6.0f} ms CPU {s['wall'] * 1000:>6.0f} ms wall "
            f"{s['peak_rss_mb']:>5.0f} MB"
        )
    if "sdk" in r:
        sdk = r["sdk"]
        lines.append(
            f"Zoho single-convert bodies in memory, {sdk['bodies']:,}: zohocrmsdk8-0 "
            f"{sdk['sdk_per_second']:,.0f}/s, leadconvert {sdk['leadconvert_per_second']:,.0f}/s "
            f"({sdk['speedup']:.1f}x)"
        )
    lines.append("Targets")
    found = targets(r)
    width = max(len(t[0]) for t in found)
    for name, measured, goal, met in found:
        lines.append(f"  {name:<{width}}  {measured:>14}  {goal:<11} {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def _convert_table(converts: dict[str, Any], delay: float = 0.0) -> list[str]:
    held = f", every CRM request held {delay * 1000:g} ms" if delay else ""
    lines = [
        f"convert against the emulator{held}: leadconvert vs the bare requests loop (medians)",
        "  (first: from the process's start to its first conversion request; last: from its"
        " last request to its exit)",
        f"  {'workload':<18} {'leads':>6} {'wall':>7} {'bare':>7} {'ratio':>6} {'CPU':>7} "
        f"{'bare':>7} {'ratio':>6} {'sys':>6} {'bare':>6} {'cswitch':>8} {'bare':>7} "
        f"{'first':>6} {'bare':>6} {'last':>6} {'bare':>6}  calls beyond the bare loop's",
    ]
    for workload, m in converts.items():
        ours, theirs = m["ours"], m["theirs"]
        extra = ", ".join(f"{k} +{v}" for k, v in m["extra_requests"].items()) or "none"
        lines.append(
            f"  {workload:<18} {m['leads']:>6,} {ours['wall']:>6.2f}s {theirs['wall']:>6.2f}s "
            f"{m['wall_ratio']:>5.2f}x {ours['cpu']:>6.2f}s {theirs['cpu']:>6.2f}s "
            f"{m['cpu_ratio']:>5.2f}x {ours['sys']:>5.2f}s {theirs['sys']:>5.2f}s "
            f"{ours['context_switches']:>8,.0f} {theirs['context_switches']:>7,.0f} "
            f"{ours['to_first']:>5.2f}s {theirs['to_first']:>5.2f}s "
            f"{ours['after_last']:>5.2f}s {theirs['after_last']:>5.2f}s  {extra}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results.json",
        help="where to write the JSON results (default: benchmarks/results.json)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes: under two minutes")
    parser.add_argument(
        "--sdk", action="store_true",
        help="also build Zoho bodies with the official SDK (needs the bench extra)",
    )  # fmt: skip
    parser.add_argument(
        "--instructions", action="store_true",
        help="count instructions under valgrind instead of timing (about half an hour)",
    )  # fmt: skip
    parser.add_argument(
        "--latency", type=float, metavar="MS",
        help="only the convert comparisons, every CRM request held MS milliseconds first",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.instructions:
        _count_instructions(args)
        return
    if args.latency is not None:
        _latency(args)
        return
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-") as tmp:
        results = measure(sizes, Path(tmp))
    if args.sdk:
        from benchmarks import _sdk

        results["sdk"] = _sdk.compare(2_000 if args.quick else 20_000, 1 if args.quick else 3)
    results["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_average_at_end": os.getloadavg(),
    }
    results["sizes"] = sizes
    results["seconds"] = time.perf_counter() - started
    results["targets"] = [
        {"target": t, "measured": m, "goal": g, "met": ok} for t, m, g, ok in targets(results)
    ]
    print(table(results))
    print(f"total {results['seconds']:.0f} s; load average {os.getloadavg()[0]:.1f}; "
          f"results written to {args.out}")  # fmt: skip
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _out(args: argparse.Namespace, name: str) -> Path:
    """``--out``, or ``benchmarks/NAME`` when it was not given."""
    default = Path(__file__).resolve().parent / "results.json"
    return default.with_name(name) if args.out == default else Path(args.out)


def _latency(args: argparse.Namespace) -> None:
    if args.latency < 0:
        raise SystemExit("--latency must be 0 or more milliseconds")
    sizes = QUICK if args.quick else FULL
    delay = args.latency / 1000
    _compile_bytecode()
    names, concurrency = _installed()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-") as tmp:
        converts = _converts(sizes, Path(tmp), names, concurrency, _Steps(), delay)
    results = {
        "delay_ms": args.latency,
        "convert": converts,
        "sizes": sizes,
        "seconds": time.perf_counter() - started,
        "load_average_at_end": os.getloadavg(),
    }
    print("\n".join(_convert_table(converts, delay)))
    out = _out(args, "latency.json")
    print(f"total {results['seconds']:.0f} s; results written to {out}")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _count_instructions(args: argparse.Namespace) -> None:
    from benchmarks import _instructions

    if not _instructions.available():
        raise SystemExit("--instructions needs valgrind on PATH (e.g. apt install valgrind)")
    sizes = INSTRUCTIONS_QUICK if args.quick else INSTRUCTIONS
    _compile_bytecode()
    names, concurrency = _installed()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-") as tmp:
        results = _instructions.measure(
            Path(tmp), sizes["plan_lines"], sizes["convert_leads"], concurrency, names, CONVERT
        )
    results["sizes"] = sizes
    results["seconds"] = time.perf_counter() - started
    print(_instructions.table(results))
    out = _out(args, "instructions.json")
    print(f"total {results['seconds']:.0f} s; results written to {out}")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
