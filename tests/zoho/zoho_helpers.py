"""Helpers shared by the Zoho tests (a plain module: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadconvert import loads_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "zoho"
#: Fast retries and polling so the suite stays well under a minute.
FAST = {
    "backoff": "0.01",
    "poll_interval": "0.02",
    "poll_timeout": "5",
    "timeout": "5",
    # A dropped request is re-read this long before it may be sent again (60 s in real use).
    "doubt_wait": "0.5",
}


def example(name: str) -> Any:
    """An example file of examples/zoho, parsed with exact decimals."""
    return loads_json((EXAMPLES / name).read_text(encoding="utf-8"))
