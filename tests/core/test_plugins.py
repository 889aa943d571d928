"""The plugin machinery: documented hooks, the registrar, clear errors for clashes."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadconvert import (
    DuplicateBackendError,
    PluginError,
    Registry,
    UnknownBackendError,
    hookspecs,
    load_registry,
    make_plugin_manager,
)
from leadconvert.backend import MEANINGS, Backend
from leadconvert.hookspecs import hookimpl

ECHO = Path(__file__).parent.parent / "thirdparty" / "leadconvert_echo"


@pytest.fixture
def echo_backend_class(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Backend]]:
    monkeypatch.syspath_prepend(str(ECHO))
    import leadconvert_echo

    yield leadconvert_echo.EchoBackend


class TestHookSpecs:
    def test_every_hook_is_documented(self) -> None:
        """Each hook specification has a one-line docstring."""
        hooks = [
            (name, obj)
            for name, obj in vars(hookspecs).items()
            if name.startswith("leadconvert_") and inspect.isfunction(obj)
        ]
        assert hooks, "no hooks found"
        for name, hook in hooks:
            doc = inspect.getdoc(hook)
            assert doc, f"hook {name} has no docstring"
            assert "\n" not in doc.strip(), f"hook {name}: the docstring must be one line"

    def test_installed_plugins_implement_known_hooks(self) -> None:
        """Every installed plugin implements only hooks that are specified (check_pending)."""
        make_plugin_manager().check_pending()

    def test_factory_builds_a_fresh_manager(self) -> None:
        """The manager is built on demand, not shared from import time."""
        assert make_plugin_manager() is not make_plugin_manager()


class TestRegistry:
    def test_builtin_backends_come_from_entry_points(self, registry: Registry) -> None:
        """The built-in backends are registered through the leadconvert entry-point group."""
        names = {b.name for b in registry}
        assert {"zoho", "salesforce"} <= names
        plugin_names = {name for name, _ in registry.plugin_manager.list_name_plugin()}
        assert {"zoho", "salesforce"} <= plugin_names

    def test_builtin_capabilities_cover_every_meaning(self, registry: Registry) -> None:
        """Each built-in backend says how it expresses every meaning of mapping.md."""
        for name in ("zoho", "salesforce"):
            for column in registry.get(name).capabilities:
                assert set(column.entries) == set(MEANINGS), (name, column.title)

    def test_unknown_backend_lists_installed(self, registry: Registry) -> None:
        """Asking for a backend that is not installed names the ones that are."""
        with pytest.raises(UnknownBackendError, match="installed: .*salesforce"):
            registry.get("hubspot")

    def test_duplicate_name_is_an_error(self, echo_backend_class: type[Backend]) -> None:
        """Two plugins registering one backend name fail loudly, naming both plugins."""
        pm = make_plugin_manager(load_entry_points=False)

        class First:
            @hookimpl
            def leadconvert_register_backends(self, register: Any) -> None:
                register(echo_backend_class())

        class Second:
            @hookimpl
            def leadconvert_register_backends(self, register: Any) -> None:
                register(echo_backend_class())

        pm.register(First(), name="first-plugin")
        pm.register(Second(), name="second-plugin")
        with pytest.raises(DuplicateBackendError) as info:
            load_registry(pm)
        assert "first-plugin" in str(info.value) and "second-plugin" in str(info.value)

    def test_non_backend_is_refused(self) -> None:
        """Registering something that is not a Backend is a PluginError naming the plugin."""
        pm = make_plugin_manager(load_entry_points=False)

        class Bad:
            @hookimpl
            def leadconvert_register_backends(self, register: Any) -> None:
                register(object())

        pm.register(Bad(), name="bad-plugin")
        with pytest.raises(PluginError, match="bad-plugin"):
            load_registry(pm)
