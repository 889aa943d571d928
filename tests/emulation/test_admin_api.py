"""Every registered backend's emulator answers the one admin API the same way, makes leads with
``add_lead`` and counts each convert request: the contract of ``leadconvert.backend.Emulator``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from leadconvert import Conversion, PluginError, load_registry, make_plugin_manager
from leadconvert.backend import Backend, Emulator, PlanItem
from leadconvert.emulation import ADMIN_PREFIX, HttpEmulator

REGISTRY = load_registry(make_plugin_manager())
NAMES = sorted(b.name for b in REGISTRY)


def _emulator_of(backend: Backend) -> Emulator:
    try:
        return backend.emulator()
    except PluginError:
        pytest.skip(f"backend {backend.name} ships no emulator")


@pytest.fixture(params=NAMES)
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[Backend, Emulator]]:
    backend = REGISTRY.get(request.param)
    em = _emulator_of(backend)
    em.start()
    try:
        yield backend, em
    finally:
        close = getattr(em, "close", None)
        close() if callable(close) else em.stop()


def _http(em: Emulator) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    if isinstance(em, HttpEmulator) and em.tls:
        session.verify = em.ca_bundle_path
    return session


def test_built_on_the_kit(emulator: tuple[Backend, Emulator]) -> None:
    _, em = emulator
    assert isinstance(em, HttpEmulator), "build emulators on leadconvert.emulation.HttpEmulator"


def test_one_admin_api(emulator: tuple[Backend, Emulator]) -> None:
    """Leads, counts, faults, state, sessions and reset: same paths, verbs and shapes."""
    _, em = emulator
    http, admin = _http(em), em.base_url + ADMIN_PREFIX
    made = http.post(admin + "/leads", json={}, timeout=5)
    assert made.status_code == 201, made.text
    lead_id = made.json()["id"]
    assert http.get(f"{admin}/leads/{lead_id}", timeout=5).status_code == 200
    assert http.get(f"{admin}/counts/{lead_id}", timeout=5).json() == {
        "convert": 0,
        "follow_up": 0,
    }
    assert dict(em.counts(lead_id)) == {"convert": 0, "follow_up": 0}
    posted = http.post(admin + "/faults", json={"status": 503, "operation": "none"}, timeout=5)
    assert posted.status_code == 201 and posted.json()["pending"] == 1
    assert len(http.get(admin + "/faults", timeout=5).json()["faults"]) == 1
    assert http.delete(admin + "/faults", timeout=5).json()["faults"] == []
    bad = http.post(admin + "/faults", json={"status": "soon"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]
    state = http.get(admin + "/state", timeout=5)
    assert state.status_code == 200 and isinstance(state.json(), dict)
    assert http.post(admin + "/seed", json=[], timeout=5).status_code == 400
    assert http.delete(admin + "/sessions", timeout=5).status_code in (200, 501)
    assert http.post(admin + "/reset", timeout=5).status_code == 200
    assert http.get(f"{admin}/leads/{lead_id}", timeout=5).status_code == 404
    assert http.get(admin + "/nothing", timeout=5).status_code == 404


def test_a_new_lead_converts_and_is_counted_once(emulator: tuple[Backend, Emulator]) -> None:
    """``add_lead()`` alone makes a convertible lead; its one convert request is counted."""
    backend, em = emulator
    lead_id = em.add_lead()
    settings = {**em.settings(), "retry_base_delay": "0.01"}
    with backend.connect(em.credentials(), settings) as client:
        for index, call in enumerate(backend.plan([PlanItem(Conversion(lead_id))], settings).calls):
            client.execute(call, call_index=index)
    assert em.counts(lead_id)["convert"] == 1


def test_the_unknown_url_is_not_a_success(emulator: tuple[Backend, Emulator]) -> None:
    _, em = emulator
    answer = _http(em).get(em.base_url + "/no/such/api", timeout=5)
    assert answer.status_code == 404


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_seed_is_a_message(name: str, tmp_path: Path) -> None:
    """``leadconvert sandbox --seed`` with a broken file: exit 2 and one line, no traceback."""
    seed = tmp_path / "seed.json"
    seed.write_text('{"leads": [', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "leadconvert", "sandbox", name, "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"seed {seed}: not JSON" in done.stderr and "Traceback" not in done.stderr
