"""Credentials and settings for a backend, from environment variables or a config file.

Environment variables are ``LEADCONVERT_<BACKEND>_<NAME>`` (upper case), one per name the backend
declares in ``credential_names`` or ``settings``. The config file is TOML, one table per backend::

    [zoho]
    client_id = "1000.XXXX"
    client_secret = "..."
    refresh_token = "..."

    [zoho.settings]
    api_version = "v8"

    [zoho.defaults]                  # for target fields a conversion leaves unset
    "opportunity.stage" = "Qualification"

Environment variables win over the file. Values are never logged or echoed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._defaults import Defaults
from ._exceptions import ConfigurationError
from ._logging import is_secret_name, remember_secret

if TYPE_CHECKING:
    from .backend import Backend

__all__ = [
    "env_name",
    "load_credentials",
    "load_settings",
    "resolve_defaults",
    "resolve_settings",
]


def env_name(backend: Backend, name: str) -> str:
    """The environment variable that holds ``name`` for ``backend``."""
    return f"LEADCONVERT_{backend.name.upper()}_{name.upper()}"


def _table(config: Path | None, backend: Backend) -> Mapping[str, Any]:
    if config is None:
        return {}
    import tomllib  # only with --config

    try:
        with config.open("rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {config}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {config} is not valid TOML: {exc}") from exc
    table = data.get(backend.name, {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"config file {config}: [{backend.name}] must be a table")
    return table


def _pick(
    backend: Backend,
    names: Mapping[str, str],
    table: Mapping[str, Any],
    environ: Mapping[str, str],
    what: str,
) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        if key in ("settings", "defaults") and what == "credential":
            continue
        if key not in names:
            known = ", ".join(names) or "none"
            raise ConfigurationError(
                f"backend {backend.name!r} has no {what} {key!r} (known: {known})"
            )
        if not isinstance(value, str | int | bool):
            raise ConfigurationError(f"{what} {key!r} of {backend.name!r} must be a string")
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    for key in names:
        value = environ.get(env_name(backend, key))
        if value:
            out[key] = value
    return out


def load_credentials(
    backend: Backend, config: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The credentials given for ``backend``; empty when none are (then the emulator is used)."""
    env = os.environ if environ is None else environ
    found = _pick(backend, backend.credential_names, _table(config, backend), env, "credential")
    for name, value in found.items():
        if is_secret_name(name):
            # Redacted from every output from now on, in every form (raw, stripped, escaped).
            remember_secret(value)
    # A value read from a file saved with CRLF ends in "\r": sent in a header it makes the
    # request fail with an error quoting the header, secret included. Credentials never
    # begin or end with white space.
    return {key: value.strip() for key, value in found.items()}


def load_settings(
    backend: Backend,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings for ``backend``: file, then environment, then ``overrides`` (``--set``)."""
    env = os.environ if environ is None else environ
    table = _table(config, backend).get("settings", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[{backend.name}.settings] must be a table")
    out = _pick(backend, backend.settings, table, env, "setting")
    out.update(overrides or {})
    return out


def resolve_settings(
    backend: Backend,
    *,
    flags: Mapping[str, str] | None = None,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings in force for ``backend``, resolved once for every command.

    In order of precedence: ``flags`` (``--set``), then the environment
    (``LEADCONVERT_<BACKEND>_<SETTING>``), then the ``[<backend>.settings]`` table of ``config``;
    a setting given nowhere takes the backend's default.
    """
    return load_settings(backend, config, environ, overrides=flags)


def resolve_defaults(
    backend: Backend, *, flags: Iterable[str] = (), config: Path | None = None
) -> Defaults:
    """The defaults for missing target fields: ``--default PATH=VALUE`` flags over the
    ``[<backend>.defaults]`` table of ``config``."""
    table = _table(config, backend).get("defaults", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[{backend.name}.defaults] must be a table")
    return Defaults.from_mapping(table).merged(Defaults.parse(flags))
