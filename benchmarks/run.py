"""Run every benchmark, print one table, write the results as JSON.

    python -m benchmarks [--out benchmarks/results.json] [--quick]

Measures on this machine, side by side in one run: planning throughput against the floor, the
official Zoho SDK building the same bodies, calls against the minimum, peak RSS of
``leadconvert plan`` and ``convert``, and ``convert`` end to end against a bare requests loop.
See docs/performance.md for what exactly is timed.
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

from benchmarks import _planning, _processes, _sdk
from leadconvert._plugins import load_registry, make_plugin_manager

FULL = {
    "planning": 100_000,
    "sdk": 20_000,
    "calls": 10_000,
    "plan_rss": [10_000, 100_000, 1_000_000],
    "convert": [10_000, 100_000],
    "repeats": 3,
}
QUICK = {
    "planning": 10_000,
    "sdk": 2_000,
    "calls": 10_000,
    "plan_rss": [1_000, 10_000],
    "convert": [1_000, 5_000],
    "repeats": 1,
}


def _mb(x: float) -> str:
    return f"{x:.0f} MB"


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


def measure(sizes: dict[str, Any], tmp: Path) -> dict[str, Any]:
    registry = load_registry(make_plugin_manager())
    zoho, salesforce = registry.get("zoho"), registry.get("salesforce")
    results: dict[str, Any] = {}
    step = time.perf_counter()

    def done(name: str) -> None:
        nonlocal step
        now = time.perf_counter()
        print(f"  {name}: {now - step:.1f} s", file=sys.stderr, flush=True)
        step = now

    n, repeats = sizes["planning"], sizes["repeats"]
    results["planning"] = {
        "zoho": _planning.zoho_throughput(zoho, n, repeats),
        "salesforce": _planning.sf_throughput(salesforce, n, repeats),
        "zoho_homogeneous": _planning.zoho_throughput(zoho, n, 1, homogeneous=True),
        "salesforce_homogeneous": _planning.sf_throughput(salesforce, n, 1, homogeneous=True),
    }
    done("planning")
    results["sdk"] = _sdk.compare(zoho, sizes["sdk"], repeats)
    done("sdk")
    results["calls"] = _planning.call_counts(zoho, salesforce, sizes["calls"])
    done("calls")
    results["plan_rss"] = _processes.plan_rss(tmp, "zoho", sizes["plan_rss"])
    done("plan rss")
    results["convert"] = {str(k): _processes.convert_run(tmp, k) for k in sizes["convert"]}
    done("convert")
    largest = max(sizes["convert"])
    results["bare"] = {str(largest): _processes.bare_run(tmp, largest)}
    done("bare loop")
    return results


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, goal, met) for each target of issue #7."""
    z, s = r["planning"]["zoho"], r["planning"]["salesforce"]
    plan_sizes = sorted(r["plan_rss"], key=int)
    conv_sizes = sorted(r["convert"], key=int)
    big_plan, mid_plan = r["plan_rss"][plan_sizes[-1]], r["plan_rss"][plan_sizes[-2]]
    big_conv, mid_conv = r["convert"][conv_sizes[-1]], r["convert"][conv_sizes[-2]]
    bare = r["bare"][conv_sizes[-1]]
    overhead = bare["per_second"] / big_conv["per_second"]
    calls = r["calls"]
    return [
        ("Zoho planning, mixed", _rate(z["per_second"]), ">= 100,000/s", z["per_second"] >= 1e5),
        ("Zoho planning / floor", f"{z['ratio_to_floor']:.1f}x", "<= 3x", z["ratio_to_floor"] <= 3),
        ("Salesforce planning, mixed", _rate(s["per_second"]), ">= 50,000/s",
         s["per_second"] >= 5e4),
        ("Salesforce planning / floor", f"{s['ratio_to_floor']:.1f}x", "<= 3x",
         s["ratio_to_floor"] <= 3),
        ("vs Zoho SDK (bodies)", f"{r['sdk']['speedup']:.1f}x faster", ">= 10x",
         r["sdk"]["speedup"] >= 10),
        ("Zoho calls, homogeneous", f"{calls['zoho']['calls']} (min {calls['zoho']['minimum']})",
         "= minimum", calls["zoho"]["calls"] == calls["zoho"]["minimum"]),
        ("Salesforce calls, homogeneous",
         f"{calls['salesforce']['calls']} (min {calls['salesforce']['minimum']})", "= minimum",
         calls["salesforce"]["calls"] == calls["salesforce"]["minimum"]),
        (f"plan peak RSS at {int(plan_sizes[-1]):,}", _mb(big_plan["peak_rss_mb"]), "< 150 MB",
         big_plan["peak_rss_mb"] < 150),
        (f"plan RSS {int(plan_sizes[-2]):,} -> {int(plan_sizes[-1]):,}",
         f"{big_plan['peak_rss_mb'] / mid_plan['peak_rss_mb'] - 1:+.1%}", "within 10%",
         abs(big_plan["peak_rss_mb"] / mid_plan["peak_rss_mb"] - 1) <= 0.10),
        (f"convert peak RSS at {int(conv_sizes[-1]):,}", _mb(big_conv["peak_rss_mb"]),
         "< 150 MB", big_conv["peak_rss_mb"] < 150),
        (f"convert RSS {int(conv_sizes[-2]):,} -> {int(conv_sizes[-1]):,}",
         f"{big_conv['peak_rss_mb'] / mid_conv['peak_rss_mb'] - 1:+.1%}", "within 10%",
         abs(big_conv["peak_rss_mb"] / mid_conv["peak_rss_mb"] - 1) <= 0.10),
        ("convert overhead vs bare loop", f"{overhead:.2f}x", "<= 1.3x", overhead <= 1.3),
    ]  # fmt: skip


def table(r: dict[str, Any]) -> str:
    z, s, sdk = r["planning"]["zoho"], r["planning"]["salesforce"], r["sdk"]
    zh, sh = r["planning"]["zoho_homogeneous"], r["planning"]["salesforce_homogeneous"]
    lines = [
        "Planning (validate + plan + serialize, one core, mixed input)",
        f"  zoho        {z['conversions']:>9,} conv  {_rate(z['per_second']):>12}  "
        f"floor (json.dumps) {_rate(z['floor_per_second']):>12}  ratio {z['ratio_to_floor']:.1f}x"
        f"  calls {z['calls']:,} {z['calls_by_kind']}",
        f"  salesforce  {s['conversions']:>9,} conv  {_rate(s['per_second']):>12}  "
        f"floor (str join)   {_rate(s['floor_per_second']):>12}  ratio {s['ratio_to_floor']:.1f}x"
        f"  calls {s['calls']:,} {s['calls_by_kind']}",
        "  homogeneous input (every lead alike: one mass convert / convertLead per batch)",
        f"  zoho        {zh['conversions']:>9,} conv  {_rate(zh['per_second']):>12}  "
        f"floor (json.dumps) {_rate(zh['floor_per_second']):>12}  ratio {zh['ratio_to_floor']:.1f}x"
        f"  calls {zh['calls']:,}",
        f"  salesforce  {sh['conversions']:>9,} conv  {_rate(sh['per_second']):>12}  "
        f"floor (str join)   {_rate(sh['floor_per_second']):>12}  ratio {sh['ratio_to_floor']:.1f}x"
        f"  calls {sh['calls']:,}",
        "Zoho single-convert bodies: leadconvert vs zohocrmsdk8-0",
        f"  {sdk['bodies']:,} bodies: SDK {_rate(sdk['sdk_per_second'])}, leadconvert "
        f"{_rate(sdk['leadconvert_per_second'])} ({sdk['speedup']:.1f}x), with validate + plan "
        f"{_rate(sdk['plan_per_second'])} ({sdk['speedup_with_validate_and_plan']:.1f}x)",
        "Peak RSS (own process; Zoho, homogeneous input)",
    ]
    for n, m in sorted(r["plan_rss"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"  plan    {int(n):>9,} lines  {_mb(m['peak_rss_mb']):>7}  {m['seconds']:6.1f} s  "
            f"{_rate(m['per_second']):>10}"
        )
    for n, m in sorted(r["convert"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"  convert {int(n):>9,} lines  {_mb(m['peak_rss_mb']):>7}  {m['seconds']:6.1f} s  "
            f"{_rate(m['per_second']):>10}  (emulator in its own process)"
        )
    for n, m in r["bare"].items():
        lines.append(
            f"  bare requests loop {int(n):,} leads {m['seconds']:6.1f} s  "
            f"{_rate(m['per_second']):>10}  {_mb(m['peak_rss_mb'])}"
        )
    lines.append("Targets")
    width = max(len(t[0]) for t in targets(r))
    for name, measured, goal, met in targets(r):
        lines.append(f"  {name:<{width}}  {measured:>18}  {goal:<13} {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results.json",
        help="where to write the JSON results (default: benchmarks/results.json)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-") as tmp:
        results = measure(sizes, Path(tmp))
    results["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    results["sizes"] = sizes
    results["seconds"] = time.perf_counter() - started
    results["targets"] = [
        {"target": t, "measured": m, "goal": g, "met": ok} for t, m, g, ok in targets(results)
    ]
    print(table(results))
    print(f"total {results['seconds']:.0f} s; results written to {args.out}")
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
