"""A run killed mid-way, then resumed: every lead qualified exactly once (emulator counts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leadconvert_dynamics import DynamicsEmulator

from leadconvert.emulation import Fault

LEADS = [f"{0x1EAD:08x}-0000-4000-8000-{n:012x}" for n in range(20)]


def env_for(emulator: DynamicsEmulator, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCONVERT_")}
    for key, value in emulator.credentials().items():
        env[f"LEADCONVERT_DYNAMICS_{key.upper()}"] = value
    for key, value in settings.items():
        env[f"LEADCONVERT_DYNAMICS_{key.upper()}"] = value
    return env


def convert(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "leadconvert", "convert", "--backend", "dynamics", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / f"run-{time.monotonic_ns()}.err").open("w"),
    )


def counted(emulator: DynamicsEmulator) -> int:
    return sum(1 for lead in LEADS if emulator.counts(lead)["convert"])


@pytest.mark.timeout(120)
def test_sigkill_mid_run_then_resume_qualifies_each_lead_once(
    tmp_path: Path, emulator: DynamicsEmulator
) -> None:
    emulator.reseed({**emulator.seed, "generated_leads": {"count": len(LEADS)}})
    source = tmp_path / "leads.jsonl"
    source.write_text("".join(json.dumps({"lead_id": lead}) + "\n" for lead in LEADS))
    report = tmp_path / "report.jsonl"
    # Each batch waits before Dataverse acts: the kill lands while one is in flight.
    emulator.inject_fault(Fault(delay=0.4, operation="qualify_batch", count=None))
    env = env_for(emulator, batch_size="5")
    run = convert(tmp_path, env, "--concurrency", "1", "--report", str(report), str(source))
    deadline = time.monotonic() + 60
    while counted(emulator) < 5:  # the first batch acted; the second is on its way
        assert run.poll() is None, "the run ended before its kill"
        assert time.monotonic() < deadline, "no batch reached the emulator"
        time.sleep(0.005)
    time.sleep(0.1)
    assert run.poll() is None, "the run ended before its kill"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert 5 <= counted(emulator) < len(LEADS)
    emulator.clear_faults()
    time.sleep(0.6)  # a batch still waiting on the server acts now, with no one to answer
    resumed = convert(tmp_path, env, "--concurrency", "1", "--report", str(report), str(source))
    assert resumed.wait(timeout=90) == 0
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["lead_id"] for r in rows) == sorted(LEADS)
    assert {r["outcome"] for r in rows} == {"converted"}
    # Never a second qualify: the journal's in-flight batch was read back, not sent again.
    assert [emulator.counts(lead)["convert"] for lead in LEADS] == [1] * len(LEADS)
    assert all(emulator.lead(lead)["statecode"] == 1 for lead in LEADS)
