"""Every Python example of docs/offline-testing.md runs as it is, in a fresh interpreter: the
page promises copy-paste examples, so a broken one fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "offline-testing.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def test_the_page_has_an_example_per_crm() -> None:
    assert any("ZohoEmulator" in b and "/__emulator" in b and "/faults" in b for b in BLOCKS)
    assert any("SalesforceEmulator" in b and "/__emulator" in b and "/faults" in b for b in BLOCKS)
    assert any("DynamicsEmulator" in b and "/__emulator" in b and "/faults" in b for b in BLOCKS)
    assert any("DataverseClient" in b and "records.update" in b for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_example_runs(block: str, tmp_path: Path) -> None:
    if "zohocrmsdk" in block:
        pytest.importorskip(
            "zohocrmsdk", reason="Zoho's SDK is not installed: pip install 'leadconvert[sdk]'"
        )
    if "PowerPlatform.Dataverse" in block:
        pytest.importorskip(
            "PowerPlatform.Dataverse.client",
            reason="Microsoft's Dataverse client is not installed: pip install 'leadconvert[sdk]'",
        )
    script = tmp_path / "example.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
