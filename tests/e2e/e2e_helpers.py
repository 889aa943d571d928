"""Helpers shared by the end-to-end tests: run the real CLI against in-process emulators."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from leadconvert_zoho import ZohoEmulator


def _env(backend: str, credentials: Mapping[str, str], **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
    prefix = f"LEADCONVERT_{backend.upper()}_"
    env.update({prefix + k.upper(): v for k, v in credentials.items()})
    env.update({prefix + k.upper(): v for k, v in settings.items()})
    return env


def _zoho_env(emulator: ZohoEmulator) -> dict[str, str]:
    return _env(
        "zoho",
        emulator.credentials(),
        poll_interval="0.02",
        backoff="0.01",
        doubt_wait="2",
        **emulator.settings(),
    )


def _convert(
    tmp_path: Path, env: dict[str, str], backend: str, source: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "leadconvert", "convert", "--backend", backend, str(source), *extra],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = process.communicate(timeout=90)
    return process.returncode, err


def _rows(report: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


def _write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _wait_for_rows(report: Path, rows: int, timeout: float = 60) -> None:
    """Wait until a running convert has recorded at least ``rows`` leads' outcomes.

    They are counted in its journal: the report itself is written, complete and in input
    order, when the run ends (a killed run leaves the previous report as it was).
    """
    journal = report.with_suffix(".journal.sqlite")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _done(journal) >= rows:
            return
        time.sleep(0.02)


def _done(journal: Path) -> int:
    """Leads whose outcome a running (or killed) convert has journaled."""
    if not journal.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return 0
    try:
        return int(db.execute("SELECT count(*) FROM leads WHERE state = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()
