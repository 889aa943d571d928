"""A throwaway project that installs leadconvert writes a short property test with the shipped
strategies and fixtures, and it runs (against every installed backend and its emulator)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The example of docs/testing.md, as a user would copy it.
USER_TEST = """\
from hypothesis import given, settings
from leadconvert import Conversion, Outcome
from leadconvert.testing import assert_round_trip, convert_on, valid_conversions


def test_mapping_round_trips(leadconvert_backend, leadconvert_settings):
    @settings(max_examples=25, deadline=None)
    @given(valid_conversions(leadconvert_backend))
    def check(conversion):
        assert_round_trip(leadconvert_backend, conversion, settings=leadconvert_settings)

    check()


def test_new_lead_converts(leadconvert_backend, leadconvert_client, leadconvert_settings,
                           leadconvert_new_lead):
    conversion = Conversion(lead_id=leadconvert_new_lead())
    [result] = convert_on(leadconvert_backend, leadconvert_client, [conversion],
                          settings=leadconvert_settings)
    assert result.outcome is Outcome.CONVERTED
"""


def test_user_project(tmp_path: Path) -> None:
    """Fixtures come from the pytest11 plugin; strategies from leadconvert.testing."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_my_integration.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "HYPOTHESIS"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Every installed backend (Zoho and Salesforce at least) runs both tests, and passes.
    for backend in ("zoho", "salesforce"):
        assert f"PASSED test_my_integration.py::test_new_lead_converts[{backend}]" in run.stdout
        assert f"PASSED test_my_integration.py::test_mapping_round_trips[{backend}]" in run.stdout
    assert " failed" not in run.stdout and " error" not in run.stdout


def test_from_type_draws_conversions(tmp_path: Path) -> None:
    """st.from_type(Conversion) works through hypothesis' entry point, with nothing imported."""
    code = (
        "from hypothesis import HealthCheck, given, settings, strategies as st\n"
        "from leadconvert import Conversion\n"
        "@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])\n"
        "@given(st.from_type(Conversion))\n"
        "def t(c):\n    assert isinstance(c, Conversion)\n"
        "t()\n"
        "print('ok')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr
