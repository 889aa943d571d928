"""Seeds: the JSON documents an emulated org starts from, read with errors a user can act on."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .._exceptions import InputError

__all__ = ["read_seed", "seed_errors"]


def read_seed(
    source: Path | str | Mapping[str, Any] | None, *, default: Traversable
) -> dict[str, Any]:
    """The seed document at ``source`` (a path), ``source`` itself (a mapping) or ``default``.

    A missing or unreadable file, text that is not JSON and JSON that is not an object are each an
    ``InputError`` naming the file (and the line and column for bad JSON), never a traceback.
    """
    if isinstance(source, Mapping):
        return dict(source)
    origin = str(source) if source is not None else str(default)
    try:
        text = (
            Path(source).read_text(encoding="utf-8")
            if source is not None
            else default.read_text(encoding="utf-8")
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"seed {origin}: cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"seed {origin}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"seed {origin}: the document must be a JSON object, not {type(data).__name__}"
        )
    return data


@contextlib.contextmanager
def seed_errors(origin: str) -> Iterator[None]:
    """Turn what a malformed seed makes an org's loader trip over into an ``InputError``.

    A loader reads its seed plainly (``seed["leads"]``, ``int(...)``, ``record["id"]``); a key
    that is missing, a value of the wrong type or shape becomes one message naming the seed.
    """
    try:
        yield
    except InputError as exc:
        if str(exc).startswith(f"seed {origin}:"):
            raise
        raise InputError(f"seed {origin}: {exc}") from None
    except KeyError as exc:
        raise InputError(f"seed {origin}: the key {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(f"seed {origin}: malformed ({type(exc).__name__}: {exc})") from None
