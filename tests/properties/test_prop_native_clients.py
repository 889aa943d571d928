"""Property (issue 13): a request written the way a widely used client writes it reads back to
the same conversions as the request leadconvert plans.

Zoho's SDKs send ids as JSON integers, amounts as floats and explicit ``false`` flags; jsforce
sends LeadConvert objects as a JSON array with 15- or 18-character ids, booleans as booleans or
strings, and leaves false flags out. None of that may change what a request means.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from leadconvert_salesforce._wire import CONVERTER as SF_CONVERTER

import leadconvert
from leadconvert import Conversion, read_native
from leadconvert.backend import NativeRequest, PlanItem, PlannedCall
from leadconvert.testing import valid_conversions

ZOHO_SETTINGS = {"contacts_module_id": "11", "accounts_module_id": "12", "deals_module_id": "13"}
_ZOHO_ID_KEYS = {"id", "ids"}
_ZOHO_FLAGS = ("overwrite", "notify_lead_owner", "notify_new_entity_owner")


def _sdk(value: Any, draw: st.DrawFn, key: str = "") -> Any:
    """``value`` as Zoho's SDK might write it: ids as integers, amounts as floats."""
    if isinstance(value, dict):
        out = {k: _sdk(v, draw, k) for k, v in value.items()}
        if "Deal_Name" in out and isinstance(out.get("Contact_Role"), str) and draw(st.booleans()):
            out["Contact_Role"] = int(out["Contact_Role"])
        return out
    if isinstance(value, list):
        return [_sdk(v, draw, key) for v in value]
    if key in _ZOHO_ID_KEYS and isinstance(value, str) and value.isdigit() and draw(st.booleans()):
        return int(value)
    if key == "Amount" and isinstance(value, Decimal):
        as_float = float(value)
        # A float only when it prints as the same decimal (what "read as it prints" promises).
        if Decimal(repr(as_float)) == value and draw(st.booleans()):
            return as_float
    return value


def test_zoho_sdk_bodies_read_the_same(registry: leadconvert.Registry) -> None:
    zoho = registry.get("zoho")

    @given(valid_conversions(zoho, settings=ZOHO_SETTINGS), st.data())
    def prop(conversion: Conversion, data: st.DataObject) -> None:
        calls = zoho.plan([PlanItem(conversion)], ZOHO_SETTINGS).calls
        ours = zoho.parse_native(calls)
        theirs = []
        for call in calls:
            body = _sdk(call.request.json, data.draw)
            if call.kind == "convert" and data.draw(st.booleans()):
                # The SDK writes every flag it holds, false included.
                for flag in _ZOHO_FLAGS:
                    body["data"][0].setdefault(flag, False)
            # As it travels: the SDK's json.dumps, read back by the core's loader.
            text = json.dumps({"path": call.request.path, "json": body}, default=str)
            theirs.extend(zoho.parse_native(read_native(text)))
        assert theirs == ours

    prop()


def _jsforce(row: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if isinstance(value, bool):
            if not value and draw(st.booleans()):
                continue  # jsforce leaves false flags out; Salesforce reads them as false
            out[key] = draw(st.sampled_from([value, "true" if value else "false"]))
        elif key.endswith("Id") and len(value) == 18 and draw(st.booleans()):
            out[key] = value[:15]
        else:
            out[key] = value
    return out


def test_jsforce_arrays_read_the_same(registry: leadconvert.Registry) -> None:
    salesforce = registry.get("salesforce")

    @given(
        st.lists(valid_conversions(salesforce), max_size=4),
        st.data(),
    )
    def prop(conversions: list[Conversion], data: st.DataObject) -> None:
        calls = salesforce.plan([PlanItem(c) for c in conversions], {}).calls
        for call in calls:
            if call.kind != "convertLead":
                continue
            ours = salesforce.parse_native([call])
            rows = [SF_CONVERTER.unstructure(c) for c in call.request.content]
            array = [_jsforce(row, data.draw) for row in rows]
            bare = PlannedCall(NativeRequest("POST", "", json=array), (), "")
            theirs = salesforce.parse_native([bare])
            assert [_canonical(salesforce, c) for c in theirs] == [
                _canonical(salesforce, c) for c in ours
            ]

    prop()


def _canonical(backend: leadconvert.backend.Backend, conversion: Conversion) -> Conversion:
    """Ids in their one spelling (a 15-character id names the same record as its 18 form)."""
    from leadconvert._translate import relabel_ids

    return relabel_ids(conversion, lambda role, value: backend.canonical_id(value, role))
