"""Helpers of the crash suite: runs of the real CLI killed on observable events, and the journal
and the emulators read from outside.

A kill is synchronised on something the test can see (a journal row, a request that reached the
emulator, a job still scheduled), never on a sleep; when the run ends before the event, or the
event never comes, the test fails: a kill that misses its window is a failure, not a pass.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest


class Run:
    """One `leadconvert convert` subprocess, its output kept in files (no pipe to fill)."""

    def __init__(self, tmp_path: Path, env: Mapping[str, str], backend: str, *args: str) -> None:
        self.tmp_path = tmp_path
        self.n = len(list(tmp_path.glob("run-*.err")))
        self.err_path = tmp_path / f"run-{self.n}.err"
        with self.err_path.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "leadconvert", "convert", "--backend", backend, *args],
                env=dict(env),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.started = time.monotonic()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig``; fails the test if the run had already ended (the kill missed)."""
        if not self.alive():
            pytest.fail(
                f"run {self.n} ended (exit {self.process.returncode}) before its kill: the kill "
                f"missed its window\n{self.stderr}"
            )
        self.process.send_signal(sig)

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"run {self.n} did not end within {timeout} s\n{self.stderr}")


def wait_for(what: str, predicate: Callable[[], bool], run: Run, timeout: float = 45) -> None:
    """Wait until ``predicate()`` holds while ``run`` is alive; fail when it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if not run.alive():
            if predicate():
                return
            pytest.fail(
                f"run {run.n} ended (exit {run.process.returncode}) before {what}: its kill "
                f"would miss its window\n{run.stderr}"
            )
        if time.monotonic() > deadline:
            run.process.kill()
            pytest.fail(f"no {what} within {timeout} s\n{run.stderr}")
        time.sleep(0.003)


def journal_leads(path: Path) -> dict[str, dict[str, Any]]:
    """The journal's lead rows, read from outside the run (empty before it exists)."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return {}
    try:
        db.row_factory = sqlite3.Row
        leads = {r["lead_id"]: dict(r) for r in db.execute("SELECT * FROM leads")}
        for r in db.execute("SELECT * FROM steps"):
            leads[r["lead_id"]].setdefault("steps", []).append(dict(r))
        return leads
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def converts(emulator: Any, lead_id: str) -> int:
    """How many convert requests named the lead (the kit's counters, or the old emulator's)."""
    if hasattr(emulator, "counts"):
        return int(emulator.counts(lead_id).get("convert", 0))
    return int(emulator.convert_requests[lead_id])


def opportunity_updates(emulator: Any, lead_id: str, opportunity_id: str) -> int:
    """How many opportunity updates (follow-ups) reached the emulator for one lead."""
    counts = emulator.counts(lead_id) if hasattr(emulator, "counts") else None
    if counts is not None and "follow_up" in counts:
        return int(counts["follow_up"])
    return sum(
        1
        for kind, path in emulator.calls
        if kind == "update" and path.rstrip("/").endswith(opportunity_id)
    )


def requests_of(emulator: Any, kind: str) -> int:
    """How many requests of one kind reached the Salesforce emulator (convertLead, update,
    query)."""
    return sum(1 for k, _ in emulator.calls if k == kind)


def zoho_requests(emulator: Any, method: str, fragment: str) -> int:
    return sum(1 for m, path in emulator.calls if m == method and fragment in path)


def env_without_leadconvert() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
