"""Fixtures of the Dynamics 365 backend's tests: the backend, a fresh emulator, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from leadconvert_dynamics import DynamicsBackend, DynamicsClient, DynamicsEmulator

#: Retries without real waiting, so fault tests stay fast (Retry-After is honoured in full).
FAST = {"retry_base_delay": "0.01", "max_retries": "3", "timeout": "10"}


@pytest.fixture(scope="session")
def backend() -> DynamicsBackend:
    """The backend (pure parts need no emulator)."""
    return DynamicsBackend()


@pytest.fixture(scope="session")
def _served() -> Iterator[tuple[DynamicsEmulator, dict[str, Any]]]:
    """One emulator for the session (stopping one takes half a second), and its seed."""
    with DynamicsEmulator() as emu:
        yield emu, dict(emu.seed)


@pytest.fixture
def emulator(_served: tuple[DynamicsEmulator, dict[str, Any]]) -> DynamicsEmulator:
    """The emulated org back at the shipped seed: records, faults, counters and log reset."""
    emu, seed = _served
    emu.reseed(seed)
    return emu


@pytest.fixture
def make_client(
    backend: DynamicsBackend, emulator: DynamicsEmulator
) -> Iterator[Callable[..., DynamicsClient]]:
    """Clients on the emulator, closed at the end; settings override ``FAST``."""
    made: list[DynamicsClient] = []

    def make(credentials: dict[str, str] | None = None, **settings: Any) -> DynamicsClient:
        client = backend.connect(
            credentials if credentials is not None else dict(emulator.credentials()),
            {**FAST, **{k: str(v) for k, v in settings.items()}},
        )
        assert isinstance(client, DynamicsClient)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., DynamicsClient]) -> DynamicsClient:
    """A client on the emulator with fast retries."""
    return make_client()
