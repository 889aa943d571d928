"""The hooks a leadconvert plugin may implement.

Plugins are modules or objects named by an entry point in the ``leadconvert`` group; the
built-in Zoho and Salesforce backends are loaded exactly that way. Each hook has a one-line
docstring: ``leadconvert backends`` and the docs rely on it, and a test enforces it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .backend import Backend

hookspec = pluggy.HookspecMarker("leadconvert")
hookimpl = pluggy.HookimplMarker("leadconvert")

__all__ = ["hookimpl", "hookspec"]


@hookspec
def leadconvert_register_backends(register: Callable[[Backend], None]) -> None:
    """Register this plugin's backends by calling ``register(backend)`` once for each."""


@hookspec
def leadconvert_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``leadconvert`` command-line group."""
