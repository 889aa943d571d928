"""Measured child processes: ``leadconvert`` as users run it, the floors, the emulators.

Every measured command runs in a process of its own under ``_launch.py``, which reports the
command's own CPU seconds (user + system, threads included) and peak RSS from ``wait4``.
Comparisons are paired: each pair runs the two sides back to back (alternating which goes
first), and the ratio reported is the median of the pairs' ratios, so that load from other work
on the machine, which moves from minute to minute, weighs on both sides of each ratio alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from . import _workloads as w

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "_launch.py"
#: ``leadconvert`` as users run it: the console script installed beside this interpreter (else
#: ``python -m``). Not the first one on PATH: that can belong to another environment, or be a
#: version manager's shim (pyenv's is a shell script that adds about 100 ms to every start).
_SCRIPT = Path(sysconfig.get_path("scripts")) / (
    "leadconvert.exe" if os.name == "nt" else "leadconvert"
)
LEADCONVERT = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "leadconvert"]
PYTHON = [sys.executable]


class BenchmarkError(SystemExit):
    """A benchmark whose two sides did not do the same work: the run stops, loudly."""


def run_measured(
    argv: Sequence[str],
    *,
    stdout: IO[Any] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> dict[str, Any]:
    """Run ``argv``; its wall time, its own CPU seconds and its own peak RSS."""
    start = time.perf_counter()
    # -S: the launcher imports nothing, so its own RSS (inherited by the child) stays small.
    proc = subprocess.run(
        [sys.executable, "-S", str(LAUNCHER), *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode not in ok:
        raise BenchmarkError(f"{' '.join(argv)} exited {proc.returncode}: {err[-3000:]}")
    rss_kib, *usage = err.rpartition("LAUNCH_MAXRSS_KB=")[2].split()
    cpu, system, vcsw = (field.partition("=")[2] for field in usage)
    return {
        "wall": wall,
        "cpu": float(cpu),
        "peak_rss_mb": int(rss_kib) / 1024,
        "sys": float(system),
        "context_switches": int(vcsw),
    }


def write_input(path: Path, workload: str, n: int) -> Path:
    if not path.exists():
        with path.open("w", encoding="utf-8") as stream:
            stream.writelines(w.jsonl_lines(workload, n))
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


#: What a measured run reports: its wall and CPU seconds (and of them the system's), peak RSS,
#: voluntary context switches; a convert run also how long it took to reach the CRM and how long
#: it ran after its last call.
_MEASURES = (
    "wall", "cpu", "sys", "peak_rss_mb", "context_switches", "to_first", "after_last",
)  # fmt: skip


def paired(
    pairs: int, ours: Callable[[], dict[str, Any]], theirs: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``pairs`` paired runs of both sides, alternating which goes first; medians and ratios."""
    runs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for i in range(pairs):
        if i % 2 == 0:
            a = ours()
            b = theirs()
        else:
            b = theirs()
            a = ours()
        runs.append((a, b))
    return {
        "pairs": pairs,
        "ours": {k: median([a[k] for a, _ in runs]) for k in _MEASURES if k in runs[0][0]},
        "theirs": {k: median([b[k] for _, b in runs]) for k in _MEASURES if k in runs[0][1]},
        "cpu_ratio": median([a["cpu"] / b["cpu"] for a, b in runs]),
        "wall_ratio": median([a["wall"] / b["wall"] for a, b in runs]),
        "cpu_ratios": [a["cpu"] / b["cpu"] for a, b in runs],
    }


def same_json(ours: Path, theirs: Path, what: str) -> None:
    """Stop the run unless the two files hold equal JSON (numbers compared exactly)."""
    a = json.loads(ours.read_text(encoding="utf-8"), parse_float=Decimal)
    b = json.loads(theirs.read_text(encoding="utf-8"), parse_float=Decimal)
    if a == b:
        return
    detail = ""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                x, y = a.get(key), b.get(key)
                if isinstance(x, list) and isinstance(y, list):
                    pairs = enumerate(zip(x, y, strict=False))
                    at = next((i for i, (p, q) in pairs if p != q), min(len(x), len(y)))
                    detail = (
                        f"{key}[{at}]: {str(x[at : at + 1])[:600]} != {str(y[at : at + 1])[:600]}"
                    )
                else:
                    detail = f"{key}: {str(x)[:600]} != {str(y)[:600]}"
                break
    raise BenchmarkError(f"{what}: leadconvert's plan and the floor's differ: {detail}")


# --- start-up -----------------------------------------------------------------------------------


def startup(tmp: Path, repeats: int) -> dict[str, Any]:
    """``leadconvert --help`` and ``plan`` of one line, against ``python -c pass``."""
    one = write_input(tmp / "one-line.jsonl", "zoho_homogeneous", 1)
    commands = {
        "python -c pass": [*PYTHON, "-c", "pass"],
        "leadconvert --help": [*LEADCONVERT, "--help"],
        "leadconvert plan (1 line)": [*LEADCONVERT, "plan", "--backend", "zoho", str(one)],
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    for _ in range(repeats):  # interleaved, so that load weighs on each command alike
        for name, argv in commands.items():
            runs[name].append(run_measured(argv))
    out: dict[str, Any] = {}
    for name, measured in runs.items():
        out[name] = {k: median([m[k] for m in measured]) for k in ("wall", "cpu", "peak_rss_mb")}
        out[name]["runs"] = repeats
    return out


# --- emulators and convert ----------------------------------------------------------------------


class EmulatorProcess:
    """A backend's emulator seeded with ``leads`` leads, in a process of its own; ``delay``
    seconds before it answers each CRM request (a CRM across a network)."""

    def __init__(self, tmp: Path, backend: str, leads: int, delay: float = 0.0) -> None:
        self.backend = backend
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._emulator", backend, str(leads), str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        line = self._read()
        self.hello: dict[str, Any] = json.loads(line)
        self.hello_path = tmp / f"{backend}-hello.json"
        self.hello_path.write_text(line, encoding="utf-8")

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchmarkError(f"the {self.backend} emulator stopped")
        return line

    def command(self, name: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return json.loads(self._read())

    def env(self) -> dict[str, str]:
        """The environment that points ``leadconvert`` at this emulator."""
        env = dict(os.environ)
        for key, value in self.hello["credentials"].items():
            env[f"LEADCONVERT_{self.backend.upper()}_{key.upper()}"] = value
        # The bare loop polls a mass-convert job every 10 ms too.
        env["LEADCONVERT_ZOHO_POLL_INTERVAL"] = "0.01"
        return env

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: The emulators' names for the requests that convert leads, by backend (the first of them is
#: when a client's start-up, sign-in, reading and planning are over).
CONVERSIONS = {
    "zoho": {"convert", "mass_convert"},
    "salesforce": {"convertLead"},
    "dynamics": {"qualify_batch"},
}


def convert_vs_bare(
    tmp: Path, workload: str, n: int, pairs: int, workers: int, delay: float = 0.0
) -> dict[str, Any]:
    """``leadconvert convert`` of ``n`` leads against the bare loop over the same emulator
    (``delay``: seconds the emulator holds each CRM request, for both sides alike).

    The emulator is reset before each run (every lead open again); both sides' requests, as the
    emulator counted them, must match: a bare loop making a call leadconvert does not make (or
    more of it) stops the run; calls leadconvert makes beyond the bare loop's are reported.
    """
    backend = w.BACKEND[workload]
    source = write_input(tmp / f"{workload}-{n}.jsonl", workload, n)
    plan = tmp / f"{workload}-{n}.convert-plan.json"
    with plan.open("w", encoding="utf-8") as stream:
        run_measured([*LEADCONVERT, "plan", "--backend", backend, str(source)], stdout=stream)
    emulator = EmulatorProcess(tmp, backend, n, delay)
    logs: dict[str, Any] = {}
    count = {"lc": 0}

    def spanned(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``run``, with how long its process took to send its first conversion request and
        how long it ran after its last request (the emulator's clock: the same machine's)."""
        started = time.time()
        result = run()
        ended = time.time()
        span = emulator.command("span")
        first = min(t for op, t in span["first"].items() if op in CONVERSIONS[backend])
        result["to_first"] = first - started
        result["after_last"] = ended - span["last"]
        return result

    def ours() -> dict[str, Any]:
        emulator.command("reset")
        count["lc"] += 1
        report = tmp / f"convert-{workload}-{count['lc']}.report.jsonl"
        journal = tmp / f"convert-{workload}-{count['lc']}.journal.db"
        result = spanned(
            lambda: run_measured(
                [*LEADCONVERT, "convert", "--backend", backend, "--report", str(report),
                 "--journal", str(journal), str(source)],
                env=emulator.env(),
            )
        )  # fmt: skip
        logs["ours"] = emulator.command("log")
        with report.open(encoding="utf-8") as stream:
            converted = sum(1 for line in stream if '"converted"' in line)
        if converted != n:
            raise BenchmarkError(f"convert {workload}: {converted} of {n} leads converted")
        for path in tmp.glob(f"convert-{workload}-{count['lc']}.*"):
            path.unlink()
        return result

    def theirs() -> dict[str, Any]:
        emulator.command("reset")
        out = tmp / "bare.out"
        with out.open("w", encoding="utf-8") as stream:
            result = spanned(
                lambda: run_measured(
                    [*PYTHON, "-m", "benchmarks._bare", backend, str(plan),
                     str(emulator.hello_path), str(workers)],
                    stdout=stream,
                )
            )  # fmt: skip
        logs["theirs"] = emulator.command("log")
        converted = json.loads(out.read_text(encoding="utf-8"))["converted"]
        if converted != n:
            raise BenchmarkError(f"bare loop {workload}: {converted} of {n} leads converted")
        return result

    try:
        result = paired(pairs, ours, theirs)
    finally:
        emulator.close()
    ours_log, bare_log = logs["ours"], logs["theirs"]
    short = {k: v - ours_log.get(k, 0) for k, v in bare_log.items() if v > ours_log.get(k, 0)}
    if short:
        raise BenchmarkError(f"convert {workload}: the bare loop made calls leadconvert did not: "
                             f"{short} (leadconvert {ours_log}, bare {bare_log})")  # fmt: skip
    result["requests"] = ours_log
    result["extra_requests"] = {
        k: v - bare_log.get(k, 0) for k, v in ours_log.items() if v > bare_log.get(k, 0)
    }
    result["leads"] = n
    result["workers"] = workers
    result["delay"] = delay
    return result
