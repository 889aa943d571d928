"""leadconvert-echo: a complete small third-party backend, written from docs/plugins.md alone.

Echo CRM is a tiny fictional CRM with a JSON API (see ``_wire.py``). This package imports only
public leadconvert names; leadconvert's test suite installs it with pip and drives it from the
command line, the Python API and ``leadconvert.testing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from leadconvert.backend import Backend
from leadconvert.hookspecs import hookimpl

from ._backend import EchoBackend

if TYPE_CHECKING:
    from .emulator import EchoEmulator

__all__ = ["EchoBackend", "EchoEmulator", "leadconvert_register_backends"]


@hookimpl
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the echo backend."""
    register(EchoBackend())


@hookimpl
def leadconvert_register_commands(cli: click.Group) -> None:
    """Add ``leadconvert echo-hello``."""

    @cli.command("echo-hello")
    def echo_hello() -> None:
        """Say hello from the echo plugin."""
        click.echo("hello from echo")


def __getattr__(name: str) -> Any:
    # The emulator pulls in werkzeug: only on first use.
    if name == "EchoEmulator":
        from .emulator import EchoEmulator

        return EchoEmulator
    raise AttributeError(name)
