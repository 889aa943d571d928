"""An emulator in a process of its own: ``python -m benchmarks._emulator zoho SEED``.

Prints one JSON line (base URL and credentials), then serves until killed. A separate process
keeps the emulator's memory and CPU out of the measured ``leadconvert convert`` process. The
Zoho emulator runs with ``job_delay=0``: mass-convert jobs complete at once, so the time
measured is the client's, not a simulated queue's.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from leadconvert_zoho._emulator import ZohoEmulator


def main() -> None:
    backend, seed = sys.argv[1], Path(sys.argv[2])
    if backend != "zoho":
        raise SystemExit("only the zoho emulator is benchmarked end to end")
    emulator = ZohoEmulator(seed=seed, job_delay=0.0, quiet=True)
    emulator.start()
    print(json.dumps({"base_url": emulator.base_url, **emulator.credentials()}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
