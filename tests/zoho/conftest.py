"""Fixtures of the Zoho backend tests: the backend, the documents' samples, one emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from leadconvert_zoho import ZohoBackend, ZohoEmulator
from zoho_helpers import FAST

import leadconvert


@pytest.fixture(scope="session")
def zoho(registry: leadconvert.Registry) -> ZohoBackend:
    """The Zoho backend as installed through its entry point."""
    backend = registry.get("zoho")
    assert isinstance(backend, ZohoBackend)
    return backend


@pytest.fixture(scope="module")
def emulator() -> Iterator[ZohoEmulator]:
    """One emulator per test module, with a short token lifetime and fast jobs."""
    em = ZohoEmulator(job_delay=0.05, refresh_limit=1000, quiet=True)
    with em:
        yield em


@pytest.fixture
def emu(emulator: ZohoEmulator) -> Iterator[ZohoEmulator]:
    """The module's emulator, reset to its seed and fault-free for each test."""
    emulator.reset()
    emulator.concurrency_limit = 10
    emulator.busy_retry_after = 1.0
    emulator.token_lifetime = 3600
    yield emulator
    emulator.clear_faults()


@pytest.fixture
def client(zoho: ZohoBackend, emu: ZohoEmulator) -> Iterator[leadconvert.backend.Client]:
    """A real client (requests over loopback) connected to the emulator."""
    with zoho.connect(emu.credentials(), {**FAST, **emu.settings()}) as c:
        yield c
