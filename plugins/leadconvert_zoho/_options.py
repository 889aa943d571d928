"""The typed options only the Zoho backend understands (``options.zoho`` in the neutral form)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from attrs import field, frozen

from leadconvert import BackendOptions, Conversion

__all__ = ["NAME", "ModuleRef", "PortalUserType", "ZohoOptions", "options_of", "options_schema"]

#: The backend's name: ``--backend zoho`` and ``options.zoho``.
NAME = "zoho"


def _non_blank(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-blank string, got {value!r}")


@frozen
class ModuleRef:
    """A Zoho module by API name and id, e.g. ``{"api_name": "Tasks", "id": "3652..."}``."""

    api_name: str = field(validator=_non_blank)
    id: str = field(validator=_non_blank)


@frozen
class PortalUserType:
    """The portal user type given to the contacts mass convert creates."""

    id: str = field(validator=_non_blank)
    api_name: str | None = None


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@frozen
class ZohoOptions(BackendOptions):
    """Zoho-only options; every other backend rejects them.

    ``related_modules``, ``portal_user_type`` and ``apply_assignment_threshold`` exist only in
    mass convert; ``add_to_existing_record`` only in single convert (API v8).
    """

    backend: ClassVar[str] = NAME

    related_modules: tuple[ModuleRef, ...] = field(default=(), converter=_tuple)
    portal_user_type: PortalUserType | None = None
    apply_assignment_threshold: bool | None = None
    add_to_existing_record: bool = False

    def needs_mass_convert(self) -> bool:
        """Whether these options can only be sent by mass convert."""
        return bool(
            self.related_modules
            or self.portal_user_type is not None
            or self.apply_assignment_threshold is not None
        )


#: The options of a conversion that gives none (frozen, so one instance serves all).
_NO_OPTIONS = ZohoOptions()


def options_of(conversion: Conversion) -> ZohoOptions:
    """The Zoho options ``conversion`` carries, or the defaults."""
    if not conversion.options:
        return _NO_OPTIONS
    found = conversion.options_for(NAME)
    return found if isinstance(found, ZohoOptions) else _NO_OPTIONS


_REF = {
    "type": "object",
    "properties": {"api_name": {"type": "string", "pattern": r"\S"}, "id": {"type": "string"}},
    "required": ["api_name", "id"],
    "additionalProperties": False,
}


def options_schema() -> dict[str, Any]:
    """JSON Schema (2020-12 fragment) of ``options.zoho``."""
    return {
        "type": "object",
        "description": "Zoho-only options (mass convert: related_modules, portal_user_type, "
        "apply_assignment_threshold; single convert v8: add_to_existing_record).",
        "properties": {
            "related_modules": {
                "type": "array",
                "items": _REF,
                "description": "Modules (e.g. Tasks, Events, Calls) whose related records move "
                "to the assign_to user (mass convert only).",
            },
            "portal_user_type": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "api_name": {"type": "string"}},
                "required": ["id"],
                "additionalProperties": False,
                "description": "Portal user type for the new contacts (mass convert only).",
            },
            "apply_assignment_threshold": {
                "type": "boolean",
                "description": "Apply the assignment threshold (mass convert only).",
            },
            "add_to_existing_record": {
                "type": "boolean",
                "default": False,
                "description": "v8 single convert: add the lead to the existing records given.",
            },
        },
        "additionalProperties": False,
    }
