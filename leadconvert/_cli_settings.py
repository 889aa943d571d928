"""The ``--set KEY=VALUE`` option, shared by every command that takes backend settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["default_option", "parse_settings", "set_option"]

set_option = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend setting, e.g. api_version=v7 (see `leadconvert backends`).",
)

default_option = click.option(
    "--default",
    "defaults",
    multiple=True,
    metavar="PATH=VALUE",
    help="A value for a target field the conversion leaves unset, e.g. "
    "opportunity.stage=Qualification (also [<backend>.defaults] in --config); shown in the plan.",
)


def parse_settings(backend: Backend, pairs: Iterable[str]) -> dict[str, str]:
    """``--set`` pairs as settings of ``backend``; a usage error names the settings it has."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        if key not in backend.settings:
            known = ", ".join(backend.settings) or "none"
            raise click.BadParameter(
                f"backend {backend.name!r} has no setting {key!r} (settings: {known})",
                param_hint="--set",
            )
        out[key] = value
    return out
