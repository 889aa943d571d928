"""Issue 13 for Zoho: bodies as Zoho's own SDK builds them (ids as JSON integers, amounts as
floats, explicit false flags, module references with ids) read into the neutral form and plan
back to an equivalent request; v8 move_attachments_to carries the module id; a deal the CRM
would have to name is refused unless defaults name it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from leadconvert_zoho import ZohoBackend

from leadconvert import (
    Conversion,
    CreateOpportunity,
    Defaults,
    InputError,
    Mode,
    Module,
    check,
    read_native,
)
from leadconvert.backend import NativeRequest, PlanItem, PlannedCall

LEAD = 3652397000000624046
MODULE_IDS = {
    "contacts_module_id": "3652397000000002179",
    "accounts_module_id": "3652397000000002177",
    "deals_module_id": "3652397000000002181",
}
#: Single-convert flags Zoho documents with the default false: sent or not, the same request.
_DEFAULT_FALSE = {"overwrite", "notify_lead_owner", "notify_new_entity_owner"}


def _normal(value: Any, key: str = "") -> Any:
    """A body as Zoho reads it: ids as their digits, numbers by value, key order ignored,
    flags documented as default false left out when false."""
    if isinstance(value, dict):
        return {
            k: _normal(v, k) for k, v in value.items() if not (k in _DEFAULT_FALSE and v is False)
        }
    if isinstance(value, list):
        return [_normal(v, key) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and key in ("id", "ids", "Contact_Role"):
        return str(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return value


def _sdk_single(**overrides: Any) -> dict[str, Any]:
    """A single-convert body as the Python SDK's JSONConverter writes it."""
    element: dict[str, Any] = {
        "overwrite": False,
        "notify_lead_owner": True,
        "notify_new_entity_owner": False,
        "Accounts": {"id": 3652397000000624099},
        "assign_to": {"id": 3652397000000281001},
        "Deals": {
            "Deal_Name": "Acme - 50 seats",
            "Closing_Date": "2026-10-26",
            "Stage": "Qualification",
            "Pipeline": "Standard (Standard)",
            "Amount": 1234.56,
            "Contact_Role": 3652397000000006871,
        },
        "carry_over_tags": {"Contacts": ["hot"], "Deals": ["hot", "2026"]},
        "move_attachments_to": {"api_name": "Deals", "id": 3652397000000002181},
    }
    element.update(overrides)
    return {"data": [{k: v for k, v in element.items() if v is not None}]}


def _sdk_mass(**overrides: Any) -> dict[str, Any]:
    """A mass-convert body as the SDK writes it: every id a long."""
    body: dict[str, Any] = {
        "ids": [LEAD, LEAD + 1, LEAD + 2],
        "assign_to": {"id": 3652397000000281001},
        "Deals": {
            "Deal_Name": "Bulk",
            "Closing_Date": "2026-12-31",
            "Stage": "Qualification",
            "Pipeline": "Standard (Standard)",
            "Amount": 0.1,
        },
        "related_modules": [{"api_name": "Tasks", "id": 3652397000000002193}],
        "carry_over_tags": [{"api_name": "Contacts", "id": 3652397000000002179}],
        "move_attachments_to": {"api_name": "Contacts", "id": 3652397000000002179},
        "apply_assignment_threshold": False,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


SINGLES = {
    "sdk": _sdk_single(),
    "all flags true": _sdk_single(overwrite=True, notify_new_entity_owner=True),
    "contact merge": _sdk_single(Contacts={"id": 3652397000000624100}),
    "no deal": _sdk_single(Deals=None),
    "integer amount": _sdk_single(
        Deals={
            "Deal_Name": "x",
            "Closing_Date": "2026-01-01",
            "Stage": "S",
            "Pipeline": "P",
            "Amount": 20000000,
        }
    ),
    "ids as strings": _sdk_single(Accounts={"id": "3652397000000624099"}),
}
MASSES = {
    "sdk": _sdk_mass(),
    "threshold true": _sdk_mass(apply_assignment_threshold=True),
    "no deal, no tags": _sdk_mass(Deals=None, carry_over_tags=None),
    "portal user type": _sdk_mass(portal_user_type={"id": 3652397000000012345}),
}


def _single_request(body: dict[str, Any]) -> str:
    """The request as a file holds it: the SDK serialises with json.dumps."""
    return json.dumps(
        {"method": "POST", "path": f"/crm/v8/Leads/{LEAD}/actions/convert", "json": body}
    )


class TestSdkBodies:
    @pytest.mark.parametrize("name", SINGLES)
    def test_single_convert(self, zoho: ZohoBackend, name: str) -> None:
        """SDK single convert -> neutral -> plan: an equivalent request."""
        body = SINGLES[name]
        (conversion,) = zoho.parse_native(read_native(_single_request(body)))
        assert conversion.lead_id == str(LEAD)
        assert not check(zoho, conversion).errors
        (call,) = zoho.plan([PlanItem(conversion)], MODULE_IDS).calls
        assert call.request.path == f"/crm/v8/Leads/{LEAD}/actions/convert"
        assert _normal(call.request.json) == _normal(body)

    @pytest.mark.parametrize("name", MASSES)
    def test_mass_convert(self, zoho: ZohoBackend, name: str) -> None:
        """SDK mass convert (a bare body) -> neutral -> plan: an equivalent request."""
        body = MASSES[name]
        conversions = zoho.parse_native(read_native(json.dumps(body)))
        assert [c.lead_id for c in conversions] == [str(i) for i in body["ids"]]
        (call,) = zoho.plan([PlanItem(c) for c in conversions], MODULE_IDS).calls
        assert call.kind == "mass_convert"
        assert _normal(call.request.json) == _normal(body)

    def test_python_floats_and_ints_in_memory(self, zoho: ZohoBackend) -> None:
        """A body handed over as Python objects (floats included) reads the same as its JSON."""
        body = _sdk_single()
        from_memory = zoho.parse_native(
            [
                PlannedCall(
                    NativeRequest("POST", f"/crm/v8/Leads/{LEAD}/actions/convert", json=body),
                    (),
                    "",
                )
            ]
        )
        assert from_memory == zoho.parse_native(read_native(_single_request(body)))
        opportunity = from_memory[0].opportunity
        assert isinstance(opportunity, CreateOpportunity)
        assert opportunity.amount == Decimal("1234.56")
        assert opportunity.contact_role == "3652397000000006871"

    def test_ids_beyond_two_to_the_53(self, zoho: ZohoBackend) -> None:
        """Ids past 2**53 keep every digit (a float would change the last ones)."""
        big = 2**63 - 1
        assert float(big) != big
        body = _sdk_mass(ids=[big], Deals=None)
        (conversion,) = zoho.parse_native(read_native(json.dumps(body)))
        assert conversion.lead_id == str(big)

    @pytest.mark.parametrize("bad", ["3652397000000624099.0", "3.652397000000624e18"])
    def test_an_id_that_went_through_a_float_is_refused(self, zoho: ZohoBackend, bad: str) -> None:
        """An id written as a non-integer number may have lost digits: refused, not guessed."""
        text = _single_request(_sdk_single()).replace("3652397000000624099", bad)
        with pytest.raises(InputError, match="id"):
            zoho.parse_native(read_native(text))


class TestMoveAttachments:
    def test_v8_sends_the_module_id_when_known(self, zoho: ZohoBackend) -> None:
        conversion = Conversion(str(LEAD), move_attachments_to=Module.DEALS, notify_lead_owner=True)
        (call,) = zoho.plan([PlanItem(conversion)], MODULE_IDS).calls
        assert call.request.json["data"][0]["move_attachments_to"] == {
            "api_name": "Deals",
            "id": MODULE_IDS["deals_module_id"],
        }
        assert "move_attachments_to is sent" not in call.reason

    def test_v8_says_when_the_id_is_unknown(self, zoho: ZohoBackend) -> None:
        conversion = Conversion(str(LEAD), move_attachments_to=Module.DEALS, notify_lead_owner=True)
        (call,) = zoho.plan([PlanItem(conversion)], {}).calls
        assert call.request.json["data"][0]["move_attachments_to"] == {"api_name": "Deals"}
        assert "deals_module_id" in call.reason

    def test_v7_sends_the_api_name(self, zoho: ZohoBackend) -> None:
        conversion = Conversion(str(LEAD), move_attachments_to=Module.DEALS, notify_lead_owner=True)
        settings = {**MODULE_IDS, "api_version": "v7"}
        (call,) = zoho.plan([PlanItem(conversion)], settings).calls
        assert call.request.json["data"][0]["move_attachments_to"] == {"api_name": "Deals"}


class TestUnnamedDeal:
    def test_refused_with_a_way_out(self, zoho: ZohoBackend) -> None:
        """Zoho cannot let the CRM name a deal: refused, naming the default that fixes it."""
        conversion = Conversion(str(LEAD), opportunity=CreateOpportunity())
        (found,) = check(zoho, conversion).errors
        assert found.rule == "zoho.deal.name_required"
        assert "--default opportunity.name" in found.message

    def test_lenient_leaves_the_deal_out(self, zoho: ZohoBackend) -> None:
        conversion = Conversion(str(LEAD), opportunity=CreateOpportunity(stage="S"))
        checked = check(zoho, conversion, Mode.LENIENT)
        assert not checked.errors and len(checked.warnings) == 1
        (call,) = zoho.plan([PlanItem(conversion)], {}).calls
        assert "Deals" not in call.request.json["data"][0]

    def test_defaults_make_it_plannable(self, zoho: ZohoBackend) -> None:
        """A Salesforce-style "create, let the CRM name it" goes to Zoho with defaults."""
        defaults = Defaults.parse(
            [
                "opportunity.name=From Salesforce",
                "opportunity.stage=Qualification",
                "opportunity.pipeline=Standard (Standard)",
                "opportunity.close_date=2026-12-31",
            ]
        )
        applied = defaults.apply(Conversion(str(LEAD), opportunity=CreateOpportunity(stage="Won")))
        assert not check(zoho, applied.conversion).errors
        assert "opportunity.stage" not in applied.applied  # the conversion's own value wins
        (call,) = zoho.plan([PlanItem(applied.conversion)], {}).calls
        deals = call.request.json["data"][0]["Deals"]
        assert deals["Deal_Name"] == "From Salesforce" and deals["Stage"] == "Won"

    def test_a_deal_without_name_reads(self, zoho: ZohoBackend) -> None:
        """Deals without Deal_Name reads as "let the CRM name it", then the rules refuse it."""
        body = _sdk_single(Deals={"Stage": "S"})
        (conversion,) = zoho.parse_native(read_native(_single_request(body)))
        assert conversion.opportunity == CreateOpportunity(stage="S")


class TestContract:
    def test_check_settings(self, zoho: ZohoBackend) -> None:
        found = zoho.check_settings(
            {"api_version": "v9", "deals_module_id": "Deals", "timeout": "-1", "data_centre": "XX"}
        )
        assert {v.path for v in found} == {
            "api_version",
            "deals_module_id",
            "timeout",
            "data_centre",
        }
        assert zoho.check_settings({"api_version": "v7", **MODULE_IDS}) == []

    def test_example_ids(self, zoho: ZohoBackend) -> None:
        ids = {zoho.example_id(role, n) for role in ("lead", "user") for n in (0, 1, 10**12)}
        assert len(ids) == 6
        assert all(i.isdigit() and not zoho.validate(Conversion(i)) for i in ids)

    def test_bare_single_body_is_refused_with_a_hint(self, zoho: ZohoBackend) -> None:
        with pytest.raises(InputError, match="lead id"):
            zoho.parse_native(read_native(json.dumps(_sdk_single())))


def test_sdk_example_file(zoho: ZohoBackend) -> None:
    """examples/zoho/sdk-mass-convert.body.json (ids as numbers) reads and plans back."""
    from zoho_helpers import EXAMPLES

    text = (EXAMPLES / "sdk-mass-convert.body.json").read_text(encoding="utf-8")
    conversions = zoho.parse_native(read_native(text))
    (call,) = zoho.plan([PlanItem(c) for c in conversions], MODULE_IDS).calls
    assert _normal(call.request.json) == _normal(json.loads(text))
