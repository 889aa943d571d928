"""The plugin manager factory and the registry of backends it yields.

Nothing is loaded at import time: ``make_plugin_manager`` builds a manager on demand, and
``load_registry`` asks every plugin to register its backends. The command line uses a lazy
registry instead (``lazy_registry``): a backend's plugin is loaded when the backend is first
asked for, the others only when every backend is needed (listing them, an unknown name).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs

if TYPE_CHECKING:
    from ._model import BackendOptions
    from .backend import Backend

__all__ = ["ENTRY_POINT_GROUP", "Registry", "lazy_registry", "load_registry", "make_plugin_manager"]

ENTRY_POINT_GROUP = "leadconvert"


def _load_entry_points(pm: pluggy.PluginManager, name: str | None = None) -> int:
    """Load the group's entry points (only the one called ``name`` if given) into ``pm``."""
    try:
        return pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name)
    except Exception as exc:
        from ._exceptions import PluginError

        # A broken third-party plugin must say which one it is, not crash with its traceback.
        raise PluginError(f"a leadconvert plugin failed to load: {exc}") from exc


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with leadconvert's hooks and, by default, every installed plugin."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        _load_entry_points(pm)
    return pm


class Registry:
    """The installed backends, by name."""

    def __init__(self, backends: Mapping[str, Backend], plugin_manager: pluggy.PluginManager):
        self._backends = MappingProxyType(dict(sorted(backends.items())))
        self._plugin_manager = plugin_manager

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager the backends were registered through."""
        return self._plugin_manager

    @property
    def backends(self) -> Mapping[str, Backend]:
        """Every registered backend, by name, sorted."""
        return self._backends

    def get(self, name: str) -> Backend:
        """The backend called ``name``, or an error that lists the installed ones."""
        try:
            return self.backends[name]
        except KeyError:
            from ._exceptions import UnknownBackendError

            known = ", ".join(self.backends) or "none"
            raise UnknownBackendError(
                f"no backend named {name!r} is installed (installed: {known})"
            ) from None

    def option_types(self) -> dict[str, type[BackendOptions]]:
        """Backend name -> its options class, for the backends that have one."""
        return {b.name: b.options_type for b in self if b.options_type is not None}

    def __iter__(self) -> Iterator[Backend]:
        return iter(self.backends.values())

    def __len__(self) -> int:
        return len(self.backends)


class _Registrar:
    """Registers the backends of each plugin once; two backends with one name is an error."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.found: dict[str, Backend] = {}
        self._owners: dict[str, str] = {}
        self._asked: set[int] = set()

    def register(self, backend: Backend, *, plugin: str) -> None:
        from ._exceptions import DuplicateBackendError, PluginError
        from .backend import Backend

        if not isinstance(backend, Backend):
            raise PluginError(
                f"plugin {plugin!r} registered {backend!r}, which is not a leadconvert Backend"
            )
        name = getattr(backend, "name", "")
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"plugin {plugin!r} registered a backend with bad name {name!r}")
        if name in self.found:
            raise DuplicateBackendError(
                f"backend {name!r} is registered twice: by plugin {self._owners[name]!r} and by "
                f"plugin {plugin!r}; uninstall one of them"
            )
        self.found[name] = backend
        self._owners[name] = plugin

    def ask_new_plugins(self) -> None:
        """Ask each plugin not asked yet to register its backends."""
        # Each implementation is called on its own so that a duplicate names both plugins.
        for impl in self.pm.hook.leadconvert_register_backends.get_hookimpls():
            if id(impl) in self._asked:
                continue
            self._asked.add(id(impl))
            impl.function(register=functools.partial(self.register, plugin=impl.plugin_name))


def load_registry(plugin_manager: pluggy.PluginManager | None = None) -> Registry:
    """Ask every plugin to register its backends; two backends with one name is an error."""
    pm = plugin_manager if plugin_manager is not None else make_plugin_manager()
    registrar = _Registrar(pm)
    registrar.ask_new_plugins()
    return Registry(registrar.found, pm)


class _LazyRegistry(Registry):
    """A registry that loads a plugin when one of its backends is first asked for.

    ``get(name)`` loads the entry point called ``name`` (the built-in plugins are named after
    their backend); when that does not register the backend, every plugin is loaded, so an
    unknown name still lists every installed backend. Anything that needs every backend
    (iterating, ``backends``, ``plugin_manager``) loads every plugin first. A name registered
    twice is reported whenever both plugins are loaded.
    """

    def __init__(self) -> None:
        pm = make_plugin_manager(load_entry_points=False)
        super().__init__({}, pm)
        self._registrar = _Registrar(pm)
        self._tried: set[str] = set()
        self._plugins_loaded = False
        self._complete = False

    def _register(self) -> None:
        self._registrar.ask_new_plugins()
        self._backends = MappingProxyType(dict(sorted(self._registrar.found.items())))

    def load_all(self) -> None:
        """Load every installed plugin and register its backends."""
        if not self._complete:
            self._load_plugins()
            self._register()
            self._complete = True

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            _load_entry_points(self._plugin_manager)
            self._plugins_loaded = True

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager, with every installed plugin loaded (their backends are
        registered when first asked for)."""
        self._load_plugins()
        return self._plugin_manager

    @property
    def backends(self) -> Mapping[str, Backend]:
        """Every installed backend, by name, sorted (every plugin is loaded)."""
        self.load_all()
        return self._backends

    def get(self, name: str) -> Backend:
        """The backend called ``name``, loading only its plugin when the plugin is named so."""
        if name not in self._backends and not self._complete and name not in self._tried:
            self._tried.add(name)
            if not self._plugins_loaded:
                _load_entry_points(self._plugin_manager, name)
            self._register()
        if name in self._backends:
            return self._backends[name]
        return super().get(name)

    def option_types(self) -> dict[str, type[BackendOptions]]:
        """Backend name -> options class; each backend is loaded when its options are read."""
        return _LazyOptionTypes(self)


class _LazyOptionTypes(dict[str, "type[BackendOptions]"]):
    """``Registry.option_types`` of a lazy registry: looking a name up loads that backend only;
    listing the names loads every backend."""

    def __init__(self, registry: _LazyRegistry) -> None:
        super().__init__()
        self._registry = registry
        self._complete = False

    def _lookup(self, name: str) -> bool:
        if not super().__contains__(name) and not self._complete:
            from ._exceptions import UnknownBackendError

            try:
                backend = self._registry.get(name)
            except UnknownBackendError:
                self._fill()
                return False
            if backend.options_type is not None:
                super().__setitem__(name, backend.options_type)
        return super().__contains__(name)

    def _fill(self) -> None:
        if not self._complete:
            for backend in self._registry:
                if backend.options_type is not None:
                    super().__setitem__(backend.name, backend.options_type)
            self._complete = True

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name)

    def __getitem__(self, name: str) -> type[BackendOptions]:
        self._lookup(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name, default) if self._lookup(name) else default

    def __iter__(self) -> Iterator[str]:
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def keys(self) -> Any:
        self._fill()
        return super().keys()

    def values(self) -> Any:
        self._fill()
        return super().values()

    def items(self) -> Any:
        self._fill()
        return super().items()

    def __repr__(self) -> str:
        self._fill()
        return super().__repr__()


def lazy_registry() -> _LazyRegistry:
    """A registry that loads each plugin when one of its backends is first used."""
    return _LazyRegistry()
