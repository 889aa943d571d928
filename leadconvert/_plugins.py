"""The plugin manager factory and the registry of backends it yields.

Nothing is loaded at import time: ``make_plugin_manager`` builds a manager on demand, and
``load_registry`` asks every plugin to register its backends.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from types import MappingProxyType

import pluggy

from . import hookspecs
from ._exceptions import DuplicateBackendError, PluginError, UnknownBackendError
from .backend import Backend

__all__ = ["ENTRY_POINT_GROUP", "Registry", "load_registry", "make_plugin_manager"]

ENTRY_POINT_GROUP = "leadconvert"


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with leadconvert's hooks and, by default, every installed plugin."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            # A broken third-party plugin must say which one it is, not crash with its traceback.
            raise PluginError(f"a leadconvert plugin failed to load: {exc}") from exc
    return pm


class Registry:
    """The installed backends, by name."""

    def __init__(self, backends: Mapping[str, Backend], plugin_manager: pluggy.PluginManager):
        self._backends = MappingProxyType(dict(sorted(backends.items())))
        self.plugin_manager = plugin_manager

    @property
    def backends(self) -> Mapping[str, Backend]:
        """Every registered backend, by name, sorted."""
        return self._backends

    def get(self, name: str) -> Backend:
        """The backend called ``name``, or an error that lists the installed ones."""
        try:
            return self._backends[name]
        except KeyError:
            known = ", ".join(self._backends) or "none"
            raise UnknownBackendError(
                f"no backend named {name!r} is installed (installed: {known})"
            ) from None

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._backends.values())

    def __len__(self) -> int:
        return len(self._backends)


def load_registry(plugin_manager: pluggy.PluginManager | None = None) -> Registry:
    """Ask every plugin to register its backends; two backends with one name is an error."""
    pm = plugin_manager if plugin_manager is not None else make_plugin_manager()
    found: dict[str, Backend] = {}
    owners: dict[str, str] = {}

    def register(backend: Backend, *, plugin: str) -> None:
        if not isinstance(backend, Backend):
            raise PluginError(
                f"plugin {plugin!r} registered {backend!r}, which is not a leadconvert Backend"
            )
        name = getattr(backend, "name", "")
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"plugin {plugin!r} registered a backend with bad name {name!r}")
        if name in found:
            raise DuplicateBackendError(
                f"backend {name!r} is registered twice: by plugin {owners[name]!r} and by "
                f"plugin {plugin!r}; uninstall one of them"
            )
        found[name] = backend
        owners[name] = plugin

    # Each implementation is called on its own so that a duplicate names both plugins.
    for impl in pm.hook.leadconvert_register_backends.get_hookimpls():
        impl.function(register=functools.partial(register, plugin=impl.plugin_name))
    return Registry(found, pm)
