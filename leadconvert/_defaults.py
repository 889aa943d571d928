"""Defaults for target fields a conversion left unset (``--default opportunity.stage=...``).

Translating to a CRM that needs more than the source gave (Zoho's Deal_Name, Stage, Pipeline and
Closing_Date for a Salesforce opportunity, say) would fail with no way out. ``Defaults`` fills
such fields, and only where the conversion left them unset: a value the conversion gives always
wins, and a default never creates an opportunity the conversion did not ask for. ``apply``
says which defaults it used, so the plan can show them.

Pure: the command line and the config file (a ``[<backend>.defaults]`` table) build one with
``Defaults.parse`` and ``Defaults.from_mapping``; the pipeline applies it before checking.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs
from attrs import field, frozen

from ._exceptions import ConfigurationError
from ._model import Conversion, CreateOpportunity
from ._results import Violation

__all__ = ["DEFAULT_FIELDS", "AppliedDefaults", "Defaults"]

#: The fields a default can fill, path -> what it holds. ``opportunity.fields.<Field>`` fills a
#: further opportunity field by the CRM's own field name (text).
DEFAULT_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "opportunity.name": "name of an opportunity the conversion creates without one",
        "opportunity.stage": "stage of a created opportunity (Zoho: Stage)",
        "opportunity.close_date": "close date of a created opportunity, YYYY-MM-DD",
        "opportunity.pipeline": "pipeline of a created opportunity (Zoho: Pipeline)",
        "opportunity.amount": "amount of a created opportunity, a decimal number",
        "opportunity.contact_role": "contact role id of a created opportunity",
        "opportunity.fields.<Field>": "a further opportunity field, by the CRM's field name",
        "owner_id": "owner of the new records",
        "converted_status": "converted lead status",
    }
)

_FIELD_PREFIX = "opportunity.fields."
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?\Z")
_ID = re.compile(r"^[^\s\x00-\x1f\x7f]+\Z")


def _typed(path: str, raw: object) -> Any:
    """The value of ``path`` from its text (or a TOML value), checked."""
    if path == "opportunity.close_date":
        if isinstance(raw, dt.date):
            return raw
        if isinstance(raw, str) and _ISO_DATE.match(raw.strip()):
            try:
                return dt.date.fromisoformat(raw.strip())
            except ValueError:
                pass
        raise ConfigurationError(f"default {path}: expected a date YYYY-MM-DD, got {raw!r}")
    if path == "opportunity.amount":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return Decimal(raw)
        if isinstance(raw, str) and _DECIMAL.match(raw.strip()):
            try:
                return Decimal(raw.strip())
            except InvalidOperation:
                pass
        # A TOML float is refused like a JSON one would be: write the amount as a string.
        raise ConfigurationError(
            f"default {path}: expected a decimal amount written as text, got {raw!r}"
        )
    if path.startswith(_FIELD_PREFIX):
        if isinstance(raw, str | bool | int) and not (isinstance(raw, str) and not raw.strip()):
            return raw
        raise ConfigurationError(f"default {path}: expected text, a number or a boolean")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError(f"default {path}: expected non-blank text, got {raw!r}")
    if path in ("owner_id", "opportunity.contact_role") and not _ID.match(raw):
        raise ConfigurationError(f"default {path}: expected a record id, got {raw!r}")
    return raw


def _check_path(path: str) -> str:
    path = path.strip()
    if path in DEFAULT_FIELDS and not path.endswith("<Field>"):
        return path
    if path.startswith(_FIELD_PREFIX) and path[len(_FIELD_PREFIX) :].strip():
        return path
    known = ", ".join(DEFAULT_FIELDS)
    raise ConfigurationError(f"no default can be given for {path!r} (defaults exist for {known})")


def _frozen_values(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({_check_path(k): _typed(_check_path(k), v) for k, v in value.items()})


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    # TOML reads ``opportunity.stage = "x"`` as {"opportunity": {"stage": "x"}}: both forms count.
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _frozen_applied(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@frozen
class AppliedDefaults:
    """A conversion after ``Defaults.apply``, and the defaults it took (path -> value)."""

    conversion: Conversion
    applied: Mapping[str, Any] = field(factory=dict, converter=_frozen_applied)

    def notes(self) -> tuple[Violation, ...]:
        """One note per default taken, for the plan (rule ``defaults.applied``)."""
        return tuple(
            Violation(
                rule="defaults.applied",
                path=path,
                message=f"set to {_shown(value)} by a default: the conversion left it unset",
            )
            for path, value in self.applied.items()
        )


def _shown(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


@frozen
class Defaults:
    """Values for target fields, applied to a conversion only where it left them unset.

    ``values`` maps a path of ``DEFAULT_FIELDS`` (``opportunity.stage``, ``owner_id``,
    ``opportunity.fields.Lead_Source``...) to its value; text is converted and checked on
    construction (a close date, an exact amount), and an unknown path or bad value raises
    ``ConfigurationError``.
    """

    values: Mapping[str, Any] = field(factory=dict, converter=_frozen_values)

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> Defaults:
        """Defaults from ``path=value`` texts, as ``--default opportunity.stage=Qualification``
        gives them; a later pair for the same path wins."""
        values: dict[str, str] = {}
        for pair in pairs:
            path, sep, value = pair.partition("=")
            if not sep or not path.strip():
                raise ConfigurationError(
                    f"a default is PATH=VALUE, e.g. opportunity.stage=Qualification; got {pair!r}"
                )
            values[_check_path(path)] = value
        return cls(values)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Defaults:
        """Defaults from a config table (``[zoho.defaults]``), flat or nested by TOML's dots."""
        return cls(_flatten(table))

    def merged(self, other: Defaults) -> Defaults:
        """These defaults with ``other``'s on top (flags over the config file)."""
        return Defaults({**self.values, **other.values})

    def __bool__(self) -> bool:
        return bool(self.values)

    def apply(self, conversion: Conversion) -> AppliedDefaults:
        """``conversion`` with each default set where it left the field unset.

        Opportunity defaults apply only to an opportunity the conversion creates; a default
        never turns "no opportunity" or "attach this one" into "create".
        """
        applied: dict[str, Any] = {}
        changes: dict[str, Any] = {}
        for path in ("owner_id", "converted_status"):
            if path in self.values and getattr(conversion, path) is None:
                changes[path] = applied[path] = self.values[path]
        opportunity = conversion.opportunity
        if isinstance(opportunity, CreateOpportunity):
            updates: dict[str, Any] = {}
            fields = dict(opportunity.fields)
            for path, value in self.values.items():
                if path.startswith(_FIELD_PREFIX):
                    name = path[len(_FIELD_PREFIX) :]
                    if name not in fields:
                        fields[name] = applied[path] = value
                elif path.startswith("opportunity."):
                    attribute = path.removeprefix("opportunity.")
                    if getattr(opportunity, attribute) is None:
                        updates[attribute] = applied[path] = value
            if fields != dict(opportunity.fields):
                updates["fields"] = fields
            if updates:
                changes["opportunity"] = attrs.evolve(opportunity, **updates)
        if not changes:
            return AppliedDefaults(conversion)
        return AppliedDefaults(attrs.evolve(conversion, **changes), applied)
