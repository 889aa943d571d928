"""An emulator in a process of its own: ``python -m benchmarks._emulator BACKEND LEADS [DELAY]``.

Seeds the backend's emulator with its default seed plus ``LEADS`` generated leads (the ids the
workloads use), prints one JSON line (``base_url`` and the ``credentials`` a client needs), then
answers commands on stdin, one a line, each with one JSON line:

* ``reset``: back to the seed (every lead open again, counters and request log cleared);
* ``log``: the CRM requests received since the last reset, counted by method and operation
  (admin requests are not counted), so the benchmark can check that leadconvert and the bare
  loop made the same calls;
* ``span``: when the first of those requests of each operation and the last of them all
  arrived (``time.time()``), so the benchmark can tell a client's start and end from its calls;
* end of input: stop.

A separate process keeps the emulator's memory and CPU out of the measured processes. The Zoho
emulator runs with ``job_delay=0``: mass-convert jobs complete at once, so the time measured is
the client's, not a simulated queue's; its duplicate check is off (it scans every contact for
each lead, which is quadratic; the generated leads have unique phones anyway).

``DELAY`` (seconds, default 0) holds every CRM request that long before the emulator answers it
(a ``Fault`` with only a ``delay``, put back after each ``reset``; sign-in requests are not
held): a CRM across a network, for ``python -m benchmarks --latency``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from leadconvert_zoho import ZohoEmulator

from leadconvert import load_registry, make_plugin_manager
from leadconvert.backend import Emulator
from leadconvert.emulation import Fault

from . import _workloads as w


def seed_for(backend: str, leads: int) -> dict[str, Any]:
    """The backend's default seed with ``leads`` generated leads."""
    text = resources.files(f"leadconvert_{backend}").joinpath("emulator", "seed.json").read_text()
    seed: dict[str, Any] = json.loads(text)
    if backend == "zoho":
        seed["generated_leads"] = {"count": leads, "first_id": w.ZOHO_FIRST_LEAD}
        seed["unique_fields"] = {}
    elif backend == "salesforce":
        seed["bulk_leads"] = {**seed["bulk_leads"], "count": leads, "id_prefix": "00QB"}
    elif backend == "dynamics":
        seed["generated_leads"] = {"count": leads}
    else:
        raise SystemExit(f"no benchmark seed for backend {backend!r}")
    return seed


def start(backend: str, leads: int, folder: Path) -> Emulator:
    seed = seed_for(backend, leads)
    if backend == "zoho":
        # Each measured run signs in once; Zoho's 10 tokens per 10 minutes would refuse the
        # eleventh run on one emulator (seven pairs are fourteen runs).
        return_value: Emulator = ZohoEmulator(
            seed=seed, job_delay=0.0, quiet=True, refresh_limit=1_000
        )
    else:
        path = folder / f"{backend}-seed.json"
        path.write_text(json.dumps(seed), encoding="utf-8")
        return_value = load_registry(make_plugin_manager()).get(backend).emulator(seed=path)
    return_value.start()
    return return_value


def _hold(emulator: Emulator, delay: float) -> None:
    """Hold every CRM request ``delay`` seconds (sign-in aside) until the next reset."""
    if delay > 0:
        emulator.inject_fault(Fault(delay=delay, count=None))  # type: ignore[attr-defined]


def main() -> None:
    backend, leads = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-emulator-") as folder:
        emulator = start(backend, leads, Path(folder))
        _hold(emulator, delay)
        try:
            hello = {"base_url": emulator.base_url, "credentials": dict(emulator.credentials())}
            print(json.dumps(hello), flush=True)
            for line in sys.stdin:
                command = line.strip()
                if command == "reset":
                    emulator.reset()  # type: ignore[attr-defined]
                    _hold(emulator, delay)
                    print(json.dumps({"ok": True}), flush=True)
                elif command == "log":
                    log = Counter(
                        f"{r.method} {r.operation}"
                        for r in emulator.requests  # type: ignore[attr-defined]
                    )
                    print(json.dumps(dict(sorted(log.items()))), flush=True)
                elif command == "span":
                    first: dict[str, float] = {}
                    last = 0.0
                    for r in emulator.requests:  # type: ignore[attr-defined]
                        first.setdefault(r.operation, r.received_at)
                        last = max(last, r.received_at)
                    print(json.dumps({"first": first, "last": last}), flush=True)
                else:
                    print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
        finally:
            emulator.close()


if __name__ == "__main__":
    main()
