"""Echo CRM's native shapes, and the one converter that writes and reads them.

The API (relative to the base URL; every request carries ``Authorization: Bearer <token>``):

* ``POST /v1/convert`` with ``{"leads": [{"id", "account_id"?, "contact_id"?, "deal"?: {"name",
  "amount"?}, "owner_id"?}]}``, at most 2 leads; answers ``{"results": [{"id", "ok": true,
  "account_id", "contact_id", "deal_id"} | {"id", "ok": false, "error", "message"}]}``, one per
  lead in order. ``401 {"error": "UNAUTHORIZED"}``, ``429`` with ``Retry-After``, ``503`` when
  the CRM is down (nothing was done).
* ``GET /v1/leads?ids=L1,L2``: ``{"leads": [{"id", "converted", "account_id", "contact_id",
  "deal_id"}]}`` (unknown ids are left out).
* ``GET /v1/leads/<id>/matches``: ``{"contacts": [{"id", "name", "account_id"}], "accounts":
  [{"id", "name"}]}``.

Ids are a letter for the kind of record and digits: ``L`` lead, ``A`` account, ``C`` contact,
``D`` deal, ``U`` user.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import cattrs
from attrs import frozen
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "CONVERT_PATH",
    "ID_PATTERN",
    "MAX_BATCH",
    "PREFIXES",
    "ConvertBody",
    "DealWire",
    "LeadWire",
    "structure",
    "unstructure",
]

CONVERT_PATH = "/v1/convert"
MAX_BATCH = 2
#: The letter each kind of record's ids start with.
PREFIXES = {"lead": "L", "account": "A", "contact": "C", "opportunity": "D", "user": "U"}
ID_PATTERN = re.compile(r"^[LACDU][0-9]{1,12}$")


@frozen
class DealWire:
    """The deal a conversion creates."""

    name: str
    amount: Decimal | None = None


@frozen
class LeadWire:
    """One lead of a convert request."""

    lead_id: str
    account_id: str | None = None
    contact_id: str | None = None
    deal: DealWire | None = None
    owner_id: str | None = None


@frozen
class ConvertBody:
    """The body of ``POST /v1/convert``."""

    leads: tuple[LeadWire, ...]


def _decimal(value: Any, _: type) -> Decimal:
    # Exact: amounts are written as strings, and a JSON number arrives as Decimal already.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"an amount is a decimal string, got {value!r}")
    return Decimal(value)


def _text(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _build() -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(str, _text)
    # The rename table: our attribute names on the left, Echo CRM's keys on the right.
    lead_id = override(rename="id")
    conv.register_structure_hook(LeadWire, make_dict_structure_fn(LeadWire, conv, lead_id=lead_id))
    conv.register_unstructure_hook(
        LeadWire,
        make_dict_unstructure_fn(LeadWire, conv, _cattrs_omit_if_default=True, lead_id=lead_id),
    )
    return conv


CONVERTER = _build()


def unstructure(body: ConvertBody) -> dict[str, Any]:
    """The JSON-ready body."""
    data: dict[str, Any] = CONVERTER.unstructure(body)
    return data


def structure(data: Any) -> ConvertBody:
    """A body read back; raises cattrs' errors, which ``_parse`` turns into ``InputError``."""
    return CONVERTER.structure(data, ConvertBody)
