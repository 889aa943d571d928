"""Peak RSS of ``leadconvert plan`` / ``convert`` and end-to-end throughput, in child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from . import _workloads as w

LEADCONVERT = [sys.executable, "-m", "leadconvert"]
LAUNCHER = Path(__file__).resolve().parent / "_launch.py"
ZOHO_SEED = Path(__file__).resolve().parent.parent / "plugins" / "leadconvert_zoho" / "seed.json"


def run_measured(
    argv: list[str], *, stdout: IO[Any] | int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``argv``; its wall time and its own peak RSS (``wait4``'s ``ru_maxrss``)."""
    start = time.perf_counter()
    # -S: the launcher imports nothing, so its own RSS (inherited by the child) stays small.
    proc = subprocess.run(
        [sys.executable, "-S", str(LAUNCHER), *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    err = proc.stderr.decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {err[-2000:]}")
    kib = int(err.rpartition("LAUNCH_MAXRSS_KB=")[2])
    return {"seconds": seconds, "peak_rss_mb": kib / 1024}


def write_input(path: Path, backend: str, n: int) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        stream.writelines(w.jsonl_lines(backend, n))
    return path


def plan_rss(tmp: Path, backend: str, sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        source = write_input(tmp / f"{backend}-{n}.jsonl", backend, n)
        target = tmp / f"{backend}-{n}.plan.json"
        with target.open("w", encoding="utf-8") as stream:
            result = run_measured(
                [*LEADCONVERT, "plan", "--backend", backend, str(source)], stdout=stream
            )
        result["per_second"] = n / result["seconds"]
        out[str(n)] = result
        if n > 100_000:
            source.unlink()
            target.unlink()
    return out


class ZohoEmulatorProcess:
    """The Zoho emulator, seeded with ``n`` plain leads, in a process of its own."""

    def __init__(self, tmp: Path, n: int) -> None:
        seed = json.loads(ZOHO_SEED.read_text(encoding="utf-8"))
        seed["generated_leads"] = {"count": n, "first_id": w.ZOHO_FIRST_LEAD}
        # The emulator's duplicate check scans every contact for each lead (quadratic at 100k);
        # the generated leads have unique phones, so the check is switched off, not bypassed.
        seed["unique_fields"] = {}
        self.seed = tmp / f"zoho-seed-{n}.json"
        self.seed.write_text(json.dumps(seed), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._emulator", "zoho", str(self.seed)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.proc.stdout is not None
        self.credentials: dict[str, str] = json.loads(self.proc.stdout.readline())

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("client_id", "client_secret", "refresh_token", "api_domain", "accounts_url"):
            env[f"LEADCONVERT_ZOHO_{key.upper()}"] = self.credentials[key]
        env["LEADCONVERT_ZOHO_POLL_INTERVAL"] = "0.01"
        return env

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.seed.unlink()


def convert_run(tmp: Path, n: int) -> dict[str, Any]:
    """``leadconvert convert`` of ``n`` Zoho leads on a fresh emulator process."""
    source = tmp / f"zoho-{n}.jsonl"
    if not source.exists():
        write_input(source, "zoho", n)
    emulator = ZohoEmulatorProcess(tmp, n)
    try:
        report = tmp / f"convert-{n}.report.jsonl"
        result = run_measured(
            [*LEADCONVERT, "convert", "--backend", "zoho", "--report", str(report), str(source)],
            stdout=subprocess.DEVNULL,
            env=emulator.env(),
        )
        converted = sum(1 for line in report.open(encoding="utf-8") if '"converted"' in line)
        assert converted == n, (converted, n)
    finally:
        emulator.close()
    result["per_second"] = n / result["seconds"]
    return result


def bare_run(tmp: Path, n: int) -> dict[str, Any]:
    """The bare requests loop over the same plan, on a fresh emulator process."""
    plan = tmp / f"zoho-{n}.plan.json"
    if not plan.exists():
        source = tmp / f"zoho-{n}.jsonl"
        if not source.exists():
            write_input(source, "zoho", n)
        with plan.open("w", encoding="utf-8") as stream:
            subprocess.run(
                [*LEADCONVERT, "plan", "--backend", "zoho", str(source)], stdout=stream, check=True
            )
    emulator = ZohoEmulatorProcess(tmp, n)
    try:
        credentials = tmp / "credentials.json"
        credentials.write_text(
            json.dumps({"base_url": emulator.credentials["api_domain"], **emulator.credentials})
        )
        out = tmp / "bare.out"
        with out.open("w") as stream:
            result = run_measured(
                [sys.executable, "-m", "benchmarks._bare", str(plan), str(credentials)],
                stdout=stream,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            )
        assert json.loads(out.read_text())["converted"] == n
    finally:
        emulator.close()
    result["per_second"] = n / result["seconds"]
    return result
