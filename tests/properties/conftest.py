"""The properties' emulators: one of each per session, fast, with a logged-in client."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from leadconvert_dynamics import DynamicsEmulator
from leadconvert_salesforce import SalesforceEmulator
from leadconvert_zoho import ZohoEmulator
from prop_helpers import DYNAMICS_SEED

import leadconvert
from leadconvert.backend import Backend, Client
from leadconvert.testing.pytest_plugin import new_lead

#: Settings that keep waits short against the emulators.
FAST: Mapping[str, Mapping[str, str]] = {
    "zoho": {"poll_interval": "0.01", "backoff": "0.01", "doubt_wait": "0.2", "max_retries": "1"},
    "salesforce": {"retry_base_delay": "0.01", "max_retries": "1", "timeout": "10"},
    "dynamics": {"retry_base_delay": "0.01", "max_retries": "1", "timeout": "10"},
}


class Org:
    """One backend with its emulator, a client, the settings to plan with, and fresh leads."""

    def __init__(self, backend: Backend, emulator: Any, client: Client, settings: dict[str, str]):
        self.backend = backend
        self.emulator = emulator
        self.client = client
        self.settings = settings

    def fresh_lead(self) -> str:
        return new_lead(self.emulator)

    def reset(self) -> None:
        reset: Callable[[], None] | None = getattr(self.emulator, "reset", None)
        if reset is not None:
            reset()


@pytest.fixture(scope="session")
def orgs(registry: leadconvert.Registry) -> Iterator[dict[str, Org]]:
    """The three built-in backends against their own emulators (started once for the session);
    Dynamics on the properties' seed, which holds the records the other two seeds share."""
    zoho_em = ZohoEmulator(job_delay=0.01, refresh_limit=1000, quiet=True)
    sf_em = registry.get("salesforce").emulator()
    assert isinstance(sf_em, SalesforceEmulator)
    dyn_em = DynamicsEmulator(seed=DYNAMICS_SEED)
    zoho_em.start()
    sf_em.start()
    dyn_em.start()
    out: dict[str, Org] = {}
    try:
        for name, em, extra in (
            ("zoho", zoho_em, zoho_em.settings()),
            ("salesforce", sf_em, {}),
            ("dynamics", dyn_em, {}),
        ):
            backend = registry.get(name)
            settings = {**FAST[name], **extra}
            client = backend.connect(em.credentials(), settings)
            plan_settings = {k: v for k, v in settings.items() if k.endswith("_module_id")}
            out[name] = Org(backend, em, client, plan_settings)
        yield out
    finally:
        for org in out.values():
            org.client.close()
        zoho_em.stop()
        sf_em.close()
        dyn_em.close()
