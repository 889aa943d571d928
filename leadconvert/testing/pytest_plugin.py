"""leadconvert's pytest plugin (registered through the ``pytest11`` entry point).

Loaded in every pytest run of everyone who installs leadconvert, so it imports nothing heavy and
starts nothing until a test asks for one of its fixtures (all prefixed ``leadconvert_``):

* ``leadconvert_registry``: the installed backends (session);
* ``leadconvert_backend``: parametrised over every installed backend (one test per backend);
* ``leadconvert_emulators``: the session's emulators, each started on first use;
* ``leadconvert_emulator``: the emulator of ``leadconvert_backend`` (skips a backend without one);
* ``leadconvert_client``: a client connected to that emulator (session, one login);
* ``leadconvert_settings``: the settings that client was made with;
* ``leadconvert_new_lead``: makes a fresh lead in that emulator and returns its id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from leadconvert import Registry
    from leadconvert.backend import Backend, Client, Emulator

__all__ = ["EmulatorPool", "new_lead"]


@functools.cache
def _installed_names() -> tuple[str, ...]:
    from leadconvert import load_registry

    return tuple(backend.name for backend in load_registry())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per installed backend for every test that uses ``leadconvert_backend``."""
    if "leadconvert_backend" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "leadconvert_backend" in names:
            return  # the test chose its backends itself
    metafunc.parametrize("leadconvert_backend", _installed_names(), indirect=True, scope="session")


def new_lead(emulator: Emulator, **fields: Any) -> str:
    """A fresh, unconverted lead in ``emulator``; its id (``Emulator.add_lead``)."""
    return emulator.add_lead(fields)


class EmulatorPool:
    """The emulators of one test session: each started on first use, all stopped at the end."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._emulators: dict[str, Emulator] = {}
        self._clients: dict[str, Client] = {}

    def emulator(self, name: str) -> Emulator:
        """The started emulator of backend ``name``."""
        if name not in self._emulators:
            emulator = self.registry.get(name).emulator()
            emulator.start()
            self._emulators[name] = emulator
        return self._emulators[name]

    def settings(self, name: str) -> dict[str, str]:
        """The settings clients of backend ``name``'s emulator are made with."""
        return dict(self.emulator(name).settings())

    def client(self, name: str) -> Client:
        """One client of backend ``name`` connected to its emulator (shared by the session)."""
        if name not in self._clients:
            emulator = self.emulator(name)
            backend = self.registry.get(name)
            self._clients[name] = backend.connect(emulator.credentials(), self.settings(name))
        return self._clients[name]

    def close(self) -> None:
        """Close every client and stop every emulator."""
        for client in self._clients.values():
            client.close()
        for emulator in self._emulators.values():
            emulator.close()
        self._clients.clear()
        self._emulators.clear()


@pytest.fixture(scope="session")
def leadconvert_registry() -> Registry:
    """The leadconvert backends installed in this environment."""
    from leadconvert import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def leadconvert_backend(request: pytest.FixtureRequest, leadconvert_registry: Registry) -> Backend:
    """Each installed backend in turn (the test runs once per backend)."""
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError("leadconvert_backend is parametrised by leadconvert's plugin")
    if not isinstance(name, str):
        return name  # type: ignore[no-any-return]  # a Backend given through parametrize
    return leadconvert_registry.get(name)


@pytest.fixture(scope="session")
def leadconvert_emulators(leadconvert_registry: Registry) -> Iterator[EmulatorPool]:
    """The session's emulators, by backend name, started on first use."""
    pool = EmulatorPool(leadconvert_registry)
    yield pool
    pool.close()


def _started(pool: EmulatorPool, backend: Backend) -> Emulator:
    from leadconvert import PluginError

    try:
        return pool.emulator(backend.name)
    except PluginError as exc:
        pytest.skip(f"backend {backend.name!r} ships no emulator: {exc}")


@pytest.fixture(scope="session")
def leadconvert_emulator(
    leadconvert_backend: Backend, leadconvert_emulators: EmulatorPool
) -> Emulator:
    """The started emulator of ``leadconvert_backend``, shared by the session."""
    return _started(leadconvert_emulators, leadconvert_backend)


@pytest.fixture(scope="session")
def leadconvert_settings(
    leadconvert_backend: Backend, leadconvert_emulators: EmulatorPool
) -> Mapping[str, str]:
    """The settings ``leadconvert_client`` is made with (pass them to ``plan``)."""
    _started(leadconvert_emulators, leadconvert_backend)
    return leadconvert_emulators.settings(leadconvert_backend.name)


@pytest.fixture(scope="session")
def leadconvert_client(leadconvert_backend: Backend, leadconvert_emulators: EmulatorPool) -> Client:
    """A client connected to ``leadconvert_backend``'s emulator (one login for the session)."""
    _started(leadconvert_emulators, leadconvert_backend)
    return leadconvert_emulators.client(leadconvert_backend.name)


@pytest.fixture(scope="session")
def leadconvert_new_lead(leadconvert_emulator: Emulator) -> Callable[..., str]:
    """Makes a fresh lead in the emulator (``leadconvert_new_lead(**fields)``); its id."""
    return functools.partial(new_lead, leadconvert_emulator)
