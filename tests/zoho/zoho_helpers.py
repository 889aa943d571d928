"""Helpers shared by the Zoho tests (a plain module: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from leadconvert import loads_json

if TYPE_CHECKING:
    from leadconvert_zoho import ZohoEmulator

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


def access_token(emulator: ZohoEmulator) -> str:
    """A fresh access token from the emulator's OAuth endpoint (its refresh token granted)."""
    keys = ("client_id", "client_secret", "refresh_token")
    answer = requests.post(
        emulator.base_url + "/oauth/v2/token",
        data={"grant_type": "refresh_token", **{k: emulator.credentials()[k] for k in keys}},
        timeout=5,
    )
    return str(answer.json()["access_token"])
