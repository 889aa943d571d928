"""Zoho's request bodies as typed classes, and the one cattrs converter that writes and reads them.

Zoho's keys are mixed case (``Accounts``, ``Deal_Name``, ``assign_to``); the Python names are
snake case and the rename table below is the single place where the two meet.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from leadconvert import ConfigurationError, Module

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "API_VERSIONS",
    "CONVERTER",
    "CONVERT_PATH",
    "DATA_CENTRES",
    "DEAL_KEYS",
    "ENVIRONMENTS",
    "ID_FIELDS",
    "MASS_CONVERT_MAX",
    "MASS_PATH",
    "MODULES_BY_API_NAME",
    "MODULE_API_NAMES",
    "MODULE_ID_SETTINGS",
    "ApiNameRef",
    "ConvertBody",
    "DealsWire",
    "IdRef",
    "MassConvertBody",
    "ModuleRefWire",
    "PortalUserTypeWire",
    "TagsWire",
    "api_version",
    "convert_path",
    "endpoints",
    "mass_convert_path",
    "structure_id",
    "wire_keys",
]

# Where each data centre's API and accounts servers are. Here, not in _client.py, so that
# checking settings (plan, validate) does not import the HTTP stack.
DATA_CENTRES: Mapping[str, tuple[str, str]] = {
    "US": ("zohoapis.com", "accounts.zoho.com"),
    "EU": ("zohoapis.eu", "accounts.zoho.eu"),
    "IN": ("zohoapis.in", "accounts.zoho.in"),
    "CN": ("zohoapis.com.cn", "accounts.zoho.com.cn"),
    "AU": ("zohoapis.com.au", "accounts.zoho.com.au"),
    "JP": ("zohoapis.jp", "accounts.zoho.jp"),
    # Canada's accounts server is zohocloud.ca, not zoho.ca.
    "CA": ("zohoapis.ca", "accounts.zohocloud.ca"),
    "SA": ("zohoapis.sa", "accounts.zoho.sa"),
}
ENVIRONMENTS: Mapping[str, str] = {
    "production": "www",
    "sandbox": "sandbox",
    "developer": "developer",
}


def endpoints(data_centre: str, environment: str) -> tuple[str, str]:
    """(API base URL, accounts URL) of a data centre and environment."""
    try:
        api, accounts = DATA_CENTRES[data_centre.upper()]
    except KeyError:
        raise ConfigurationError(
            f"unknown Zoho data_centre {data_centre!r} (one of {', '.join(DATA_CENTRES)})"
        ) from None
    try:
        prefix = ENVIRONMENTS[environment.lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown Zoho environment {environment!r} (one of {', '.join(ENVIRONMENTS)})"
        ) from None
    # [I] sandbox and developer tokens come from the same accounts server as production.
    return f"https://{prefix}.{api}", f"https://{accounts}"


#: Most lead ids one mass convert takes.
MASS_CONVERT_MAX = 50
API_VERSIONS = ("v7", "v8")

MODULE_API_NAMES: Mapping[Module, str] = {
    Module.CONTACTS: "Contacts",
    Module.ACCOUNTS: "Accounts",
    Module.DEALS: "Deals",
}
MODULES_BY_API_NAME: Mapping[str, Module] = {v: k for k, v in MODULE_API_NAMES.items()}
#: The settings that hold each module's id, which module references need.
MODULE_ID_SETTINGS: Mapping[Module, str] = {
    Module.CONTACTS: "contacts_module_id",
    Module.ACCOUNTS: "accounts_module_id",
    Module.DEALS: "deals_module_id",
}

CONVERT_PATH = re.compile(r"^/crm/(v\d+)/Leads/([^/]+)/actions/convert$")
MASS_PATH = re.compile(r"^/crm/(v\d+)/Leads/actions/mass_convert$")


def api_version(settings: Mapping[str, str]) -> str:
    """The configured API version, checked."""
    version = settings.get("api_version", "v8")
    if version not in API_VERSIONS:
        raise ConfigurationError(f"zoho api_version must be one of {API_VERSIONS}, got {version!r}")
    return version


def convert_path(version: str, lead_id: str) -> str:
    """Single convert's path."""
    return f"/crm/{version}/Leads/{lead_id}/actions/convert"


def mass_convert_path(version: str) -> str:
    """Mass convert's path (POST to start a job, GET with ``job_id`` for its status)."""
    return f"/crm/{version}/Leads/actions/mass_convert"


@frozen
class IdRef:
    """``{"id": ...}``: a record or user reference."""

    id: str


@frozen
class ApiNameRef:
    """Single convert's ``move_attachments_to``: ``{"api_name", "id"?}``.

    The v7 reference shows ``{api_name}``; Zoho's v8 OpenAPI file marks ``id`` (the module's
    id) required, so v8 plans write it whenever the ``<module>_module_id`` setting gives it.
    """

    api_name: str
    id: str | None = None


@frozen
class ModuleRefWire:
    """Mass convert's module reference ``{"api_name", "id"}``."""

    api_name: str
    id: str


@frozen
class PortalUserTypeWire:
    """Mass convert's ``portal_user_type``."""

    id: str
    api_name: str | None = None


@frozen
class TagsWire:
    """Single convert's ``carry_over_tags``: tag names per module."""

    contacts: list[str] | None = None
    accounts: list[str] | None = None
    deals: list[str] | None = None


#: The named Deals keys, in the order the documents write them.
DEAL_KEYS: Mapping[str, str] = {
    "deal_name": "Deal_Name",
    "closing_date": "Closing_Date",
    "stage": "Stage",
    "amount": "Amount",
    "pipeline": "Pipeline",
    "contact_role": "Contact_Role",
}


@frozen
class DealsWire:
    """The ``Deals`` object; ``other`` holds further Deal fields by API name."""

    deal_name: str | None = None
    closing_date: str | None = None
    stage: str | None = None
    amount: Decimal | None = None
    pipeline: str | None = None
    contact_role: str | None = None
    other: dict[str, Any] = field(factory=dict)


@frozen
class ConvertBody:
    """One element of single convert's ``data`` array."""

    overwrite: bool | None = None
    notify_lead_owner: bool | None = None
    notify_new_entity_owner: bool | None = None
    move_attachments_to: ApiNameRef | None = None
    accounts: IdRef | None = None
    contacts: IdRef | None = None
    assign_to: IdRef | None = None
    deals: DealsWire | None = None
    carry_over_tags: TagsWire | None = None
    add_to_existing_record: bool | None = None


@frozen
class MassConvertBody:
    """Mass convert's whole body (not wrapped in ``data``)."""

    ids: list[str]
    deals: DealsWire | None = None
    assign_to: IdRef | None = None
    related_modules: list[ModuleRefWire] | None = None
    carry_over_tags: list[ModuleRefWire] | None = None
    move_attachments_to: ModuleRefWire | None = None
    portal_user_type: PortalUserTypeWire | None = None
    apply_assignment_threshold: bool | None = None


#: Python attribute -> Zoho key, per class: the explicit rename table.
RENAMES: Mapping[type, Mapping[str, str]] = {
    # Leaves first: a generated hook binds its nested classes' hooks when it is built.
    TagsWire: {"contacts": "Contacts", "accounts": "Accounts", "deals": "Deals"},
    ConvertBody: {"accounts": "Accounts", "contacts": "Contacts", "deals": "Deals"},
    MassConvertBody: {"deals": "Deals"},
}


def wire_keys(cls: type) -> dict[str, str]:
    """Attribute -> Zoho key of one wire class, in the order bodies write them (``RENAMES``)."""
    renames = RENAMES.get(cls, {})
    return {a.name: renames.get(a.name, a.name) for a in attrs.fields(cls)}


#: The id fields of each class: Zoho accepts them as strings or as JSON integers (its SDKs type
#: every id as a long), so both are read, an integer exactly as its digits.
ID_FIELDS: Mapping[type, tuple[str, ...]] = {
    IdRef: ("id",),
    ApiNameRef: ("id",),
    ModuleRefWire: ("id",),
    PortalUserTypeWire: ("id",),
    MassConvertBody: ("ids",),
}


def structure_id(value: Any, _: object = None) -> str:
    """An id given as a string, or as a JSON integer read exactly (these exceed 2**53)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float | Decimal):
        # Only an integer literal keeps every digit: 3652397000000624046 read as a float (or
        # written with a fraction or exponent) is not the id it looks like.
        raise TypeError(f"expected an id as a string or an integer, got the number {value!r}")
    raise TypeError(f"expected an id as a string or an integer, got {value!r}")


def _structure_ids(value: Any, _: object) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of ids, got {value!r}")
    return [structure_id(item) for item in value]


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, float):
        # A float amount (as Zoho's SDKs send it) is read as the decimal it prints as:
        # 1234.56, not 1234.55999999999994543031789362430572509765625.
        if not math.isfinite(value):
            raise TypeError(f"expected a finite amount, got {value!r}")
        return Decimal(repr(value))
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(f"expected an exact number, got {value!r}")
    return Decimal(value)


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _build() -> cattrs.Converter:
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    # Amounts stay Decimal: dumps_json writes them as exact JSON numbers.
    conv.register_unstructure_hook(Decimal, lambda d: d)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_unstructure_hook(DealsWire, _unstructure_deals)
    conv.register_structure_hook(DealsWire, _structure_deals)
    # Leaves first (RENAMES lists them so): a generated hook binds its nested classes' hooks.
    for cls in [*ID_FIELDS, *(c for c in RENAMES if c not in ID_FIELDS)]:
        renames = RENAMES.get(cls, {})
        overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
        for name in ID_FIELDS.get(cls, ()):
            hook = _structure_ids if name == "ids" else structure_id
            overrides[name] = override(rename=renames.get(name), struct_hook=hook)
        conv.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)
        )
        conv.register_structure_hook(
            cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **overrides)
        )
    return conv


def _unstructure_deals(deals: DealsWire) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, key in DEAL_KEYS.items():
        value = getattr(deals, attr)
        if value is not None:
            out[key] = value
    out.update(deals.other)
    return out


def _structure_deals(value: Any, _: type) -> DealsWire:
    if not isinstance(value, Mapping):
        raise TypeError(f"Deals must be an object, got {value!r}")
    data = dict(value)
    named: dict[str, Any] = {}
    for attr, key in DEAL_KEYS.items():
        if key in data:
            raw = data.pop(key)
            structure: Callable[[Any, type], Any] = _structure_str
            if attr == "amount":
                structure = _structure_decimal
            elif attr == "contact_role":
                structure = structure_id
            named[attr] = structure(raw, object)
    # Further Deal fields pass through; a float among them is read as the decimal it prints as.
    other = {
        k: _structure_decimal(v, Decimal) if isinstance(v, float) else v for k, v in data.items()
    }
    return DealsWire(**named, other=other)


#: Reads native Zoho bodies (parse, translate) and writes them from wire objects. Built on
#: first use (``__getattr__`` below): planning writes bodies as dicts and never needs it.
CONVERTER: cattrs.Converter


def __getattr__(name: str) -> Any:
    if name == "CONVERTER":
        converter = _build()
        globals()[name] = converter  # found directly from now on
        return converter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
