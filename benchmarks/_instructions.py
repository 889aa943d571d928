"""The same comparisons counted in instructions: ``python -m benchmarks --instructions``.

CPU seconds on a shared machine move by a fifth from one minute to the next, and the ratios of
``convert`` by a third; the number of instructions a command executes repeats to a fraction of
a percent. This mode runs each side once under cachegrind (``valgrind --tool=cachegrind
--cache-sim=no``: it counts instructions, it simulates no cache) and compares the counts: a
change of 1% shows, where timing needs many pairs to see 10%.

What it cannot see is what costs time without instructions of the process's own: waiting for
the disk (the journal's fsyncs), for the other side of a socket, or for the GIL (valgrind runs
one thread at a time). The timing tables remain the measure of the targets; this one tells
where the work is. The emulator runs in a process of its own, outside valgrind, as in the
timing run; each side must still do the same work (plan documents JSON-equal, the bare loop
making no call ``convert`` does not make, every lead converted).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import _processes as p
from . import _workloads as w

_COUNTED = re.compile(r"I\s+refs:\s+([\d,]+)")
_VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]


def available() -> bool:
    return shutil.which("valgrind") is not None


def count(
    argv: list[str], *, stdout: Any = subprocess.DEVNULL, env: dict[str, str] | None = None
) -> int:
    """Instructions executed by ``argv``'s process (its threads included, no children)."""
    proc = subprocess.run(
        [*_VALGRIND, *argv], stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=p.ROOT,
        check=False,
    )  # fmt: skip
    err = proc.stderr.decode(errors="replace")
    found = _COUNTED.search(err)
    if proc.returncode != 0 or found is None:
        raise p.BenchmarkError(f"{' '.join(argv)} under valgrind: {err[-3000:]}")
    return int(found.group(1).replace(",", ""))


def startup() -> dict[str, int]:
    """``python -c pass``, ``leadconvert --help``: instructions of each."""
    return {
        "python -c pass": count([*p.PYTHON, "-c", "pass"]),
        "leadconvert --help": count([*p.LEADCONVERT, "--help"]),
    }


def plan_vs_floor(tmp: Path, workload: str, n: int) -> dict[str, Any]:
    """``leadconvert plan`` and the floor on ``n`` lines, their documents checked equal."""
    backend = w.BACKEND[workload]
    source = p.write_input(tmp / f"{workload}-{n}.jsonl", workload, n)
    ours, theirs = tmp / f"{workload}-{n}.plan.json", tmp / f"{workload}-{n}.floor.json"
    with ours.open("w", encoding="utf-8") as stream:
        mine = count([*p.LEADCONVERT, "plan", "--backend", backend, str(source)], stdout=stream)
    with theirs.open("w", encoding="utf-8") as stream:
        floor = count([*p.PYTHON, "-m", "benchmarks._floor", backend, str(source)], stdout=stream)
    p.same_json(ours, theirs, f"plan {workload} {n:,}")
    for path in (ours, theirs):
        path.unlink()
    return {"lines": n, "ours": mine, "theirs": floor, "ratio": mine / floor}


def convert_vs_bare(tmp: Path, workload: str, n: int, workers: int) -> dict[str, Any]:
    """``leadconvert convert`` of ``n`` leads and the bare loop, against one emulator; then of
    the first lead alone, which splits each side's count into what it does once (start-up, the
    journal's and the report's set-up, signing in) and what it does per lead."""
    backend = w.BACKEND[workload]
    source = p.write_input(tmp / f"{workload}-{n}.jsonl", workload, n)
    one = p.write_input(tmp / f"{workload}-1.jsonl", workload, 1)
    emulator = p.EmulatorProcess(tmp, backend, n)
    try:
        mine, bare, ours_log = _convert_pair(tmp, emulator, workload, source, n, workers)
        mine_one, bare_one, _ = _convert_pair(tmp, emulator, workload, one, 1, workers)
    finally:
        emulator.close()
    per_lead = (mine - mine_one) / (n - 1), (bare - bare_one) / (n - 1)
    return {"leads": n, "ours": mine, "theirs": bare, "ratio": mine / bare,
            "requests": ours_log, "one_lead": {"ours": mine_one, "theirs": bare_one},
            "per_lead": {"ours": per_lead[0], "theirs": per_lead[1],
                         "ratio": per_lead[0] / per_lead[1]}}  # fmt: skip


def _convert_pair(
    tmp: Path, emulator: p.EmulatorProcess, workload: str, source: Path, n: int, workers: int
) -> tuple[int, int, dict[str, int]]:
    """Instructions of ``convert`` of ``source`` and of the bare loop making the same calls,
    each against the emulator reset; with the CRM requests ``convert`` made."""
    backend = w.BACKEND[workload]
    plan = tmp / f"{workload}-{n}.convert-plan.json"
    with plan.open("w", encoding="utf-8") as stream:
        p.run_measured([*p.LEADCONVERT, "plan", "--backend", backend, str(source)], stdout=stream)
    emulator.command("reset")
    report = tmp / f"instr-{workload}.report.jsonl"
    journal = tmp / f"instr-{workload}.journal.db"
    mine = count(
        [*p.LEADCONVERT, "convert", "--backend", backend, "--report", str(report),
         "--journal", str(journal), str(source)],
        env=emulator.env(),
    )  # fmt: skip
    ours_log = emulator.command("log")
    with report.open(encoding="utf-8") as stream:
        converted = sum(1 for line in stream if '"converted"' in line)
    if converted != n:
        raise p.BenchmarkError(f"convert {workload}: {converted} of {n} leads converted")
    for path in tmp.glob(f"instr-{workload}.*"):
        path.unlink()
    emulator.command("reset")
    out = tmp / "bare.out"
    with out.open("w", encoding="utf-8") as stream:
        bare = count(
            [*p.PYTHON, "-m", "benchmarks._bare", backend, str(plan),
             str(emulator.hello_path), str(workers)],
            stdout=stream,
        )  # fmt: skip
    bare_log = emulator.command("log")
    if json.loads(out.read_text(encoding="utf-8"))["converted"] != n:
        raise p.BenchmarkError(f"bare loop {workload}: not every lead converted")
    short = {k: v - ours_log.get(k, 0) for k, v in bare_log.items() if v > ours_log.get(k, 0)}
    if short:
        raise p.BenchmarkError(f"convert {workload}: the bare loop made calls leadconvert did "
                               f"not: {short}")  # fmt: skip
    return mine, bare, ours_log


def measure(tmp: Path, plan_lines: int, convert_leads: int, concurrency: dict[str, int],
            names: set[str], convert: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    results: dict[str, Any] = {"startup": startup(), "plan": {}, "convert": {}}
    for workload in w.WORKLOADS:
        if w.BACKEND[workload] in names:
            results["plan"][workload] = plan_vs_floor(tmp, workload, plan_lines)
            print(f"  plan {workload}: done", file=sys.stderr, flush=True)
    for workload, backend in convert.items():
        if backend in names:
            results["convert"][workload] = convert_vs_bare(
                tmp, workload, convert_leads, concurrency[backend]
            )
            print(f"  convert {workload}: done", file=sys.stderr, flush=True)
    return results


def table(r: dict[str, Any]) -> str:
    g = 1e9
    lines = ["instructions (cachegrind; whole processes, the emulator not counted)"]
    for name, n in r["startup"].items():
        lines.append(f"  {name:<28} {n / 1e6:>9.1f} M")
    lines.append(f"  {'plan':<18} {'lines':>9} {'leadconvert':>12} {'floor':>9} {'ratio':>6}")
    for workload, m in r["plan"].items():
        lines.append(f"  {workload:<18} {m['lines']:>9,} {m['ours'] / g:>11.3f}G "
                     f"{m['theirs'] / g:>8.3f}G {m['ratio']:>5.2f}x")  # fmt: skip
    lines.append(f"  {'convert':<18} {'leads':>9} {'leadconvert':>12} {'bare':>9} {'ratio':>6}"
                 f"  {'1 lead':>8} {'bare':>8}  {'a lead':>8} {'bare':>8} {'ratio':>6}")
    for workload, m in r["convert"].items():
        one, each = m["one_lead"], m["per_lead"]
        lines.append(f"  {workload:<18} {m['leads']:>9,} {m['ours'] / g:>11.3f}G "
                     f"{m['theirs'] / g:>8.3f}G {m['ratio']:>5.2f}x"
                     f"  {one['ours'] / 1e6:>7.1f}M {one['theirs'] / 1e6:>7.1f}M"
                     f"  {each['ours'] / 1e3:>7.1f}K {each['theirs'] / 1e3:>7.1f}K "
                     f"{each['ratio']:>5.2f}x")  # fmt: skip
    lines.append("  (1 lead: convert of the first lead alone, what each side does once; a lead:"
                 " the rest, per lead)")
    return "\n".join(lines)
