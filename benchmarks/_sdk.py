"""The official Zoho SDK (zohocrmsdk8-0) building the same single-convert bodies as leadconvert.

Offline: ``Initializer.initialize`` gets a dummy access token, an in-memory token store and
``find_user=False``, so it makes no call; the Deals field metadata the SDK would fetch once
with the Fields API is written beforehand to its resource folder, as its cache would hold it.
Timed for the SDK: building ``LeadConverter`` / ``Record`` / ``MinifiedUser`` /
``CarryOverTags`` objects, a ``CommonAPIHandler`` set up as ``ConvertLeadOperations.convert_lead``
sets it up, ``JSONConverter.form_request`` and ``append_to_request`` (``json.dumps``), i.e. all
the SDK does for a request body before the HTTP call. Timed for leadconvert: ``to_convert_body``
and ``dumps_json`` from the same neutral conversions. Best of ``repeats`` runs, CPU seconds, in
memory, in one process (``python -m benchmarks --sdk``).
"""

from __future__ import annotations

import gc
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from leadconvert_zoho._plan import to_convert_body

from leadconvert import Conversion, CreateOpportunity, MergeAccount, MergeContact, dumps_json

from . import _workloads as w

_CHOICE = "zohocrmsdk.src.com.zoho.crm.api.util.Choice"
_DEALS_FIELDS = {
    "Deal_Name": {"required": True, "type": "String", "name": "Deal_Name"},
    "Closing_Date": {"type": "Date", "name": "Closing_Date"},
    "Stage": {"required": True, "type": _CHOICE, "picklist": True, "name": "Stage",
              "values": ["Qualification", "Needs Analysis", "Closed Won"]},
    "Pipeline": {"type": _CHOICE, "picklist": True, "name": "Pipeline",
                 "values": [w.ZOHO_PIPELINE]},
    "Amount": {"type": "Double", "name": "Amount"},
    "Description": {"type": "String", "name": "Description"},
}  # fmt: skip


class _SDK:
    def __init__(self, resource_dir: str) -> None:
        from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
        from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import TokenStore
        from zohocrmsdk.src.com.zoho.crm.api import convert_lead, record, users
        from zohocrmsdk.src.com.zoho.crm.api.dc import USDataCenter
        from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
        from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
        from zohocrmsdk.src.com.zoho.crm.api.util import Choice, CommonAPIHandler, Constants
        from zohocrmsdk.src.com.zoho.crm.api.util.json_converter import JSONConverter

        class MemoryStore(TokenStore):  # type: ignore[misc]
            def find_token(self, token: Any) -> None:
                return None

            def save_token(self, token: Any) -> None:
                pass

            def delete_token(self, id: Any) -> None:
                pass

            def get_tokens(self) -> list[Any]:
                return []

            def delete_tokens(self) -> None:
                pass

            def find_token_by_id(self, id: Any) -> None:
                return None

        token = OAuthToken(access_token="1000.benchmark." + "0" * 40, find_user=False)
        Initializer.initialize(
            environment=USDataCenter.PRODUCTION(),
            token=token,
            store=MemoryStore(),
            sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
            resource_path=resource_dir,
        )
        folder = os.path.join(resource_dir, Constants.FIELD_DETAILS_DIRECTORY)
        os.makedirs(folder, exist_ok=True)
        name = JSONConverter(CommonAPIHandler()).get_encoded_file_name()
        with open(os.path.join(folder, name), "w", encoding="utf-8") as stream:
            json.dump({"deals": _DEALS_FIELDS}, stream)
        self.cl = convert_lead
        self.Record = record.Record
        self.MinifiedUser = users.MinifiedUser
        self.Choice = Choice
        self.Handler = CommonAPIHandler
        self.Constants = Constants
        self.JSONConverter = JSONConverter

    def body(self, conversion: Conversion) -> bytes:
        """What the SDK sends for ``conversion``: its objects, its converter, its json.dumps."""
        cl = self.cl
        lc = cl.LeadConverter()
        if conversion.overwrite_account_name:
            lc.set_overwrite(True)
        if conversion.notify_lead_owner:
            lc.set_notify_lead_owner(True)
        if conversion.notify_new_owner:
            lc.set_notify_new_entity_owner(True)
        if isinstance(conversion.account, MergeAccount):
            account = self.Record()
            account.set_id(int(conversion.account.id))
            lc.set_accounts(account)
        if isinstance(conversion.contact, MergeContact):
            contact = self.Record()
            contact.set_id(int(conversion.contact.id))
            lc.set_contacts(contact)
        if conversion.owner_id:
            user = self.MinifiedUser()
            user.set_id(int(conversion.owner_id))
            lc.set_assign_to(user)
        opportunity = conversion.opportunity
        if isinstance(opportunity, CreateOpportunity):
            deal = self.Record()
            deal.add_key_value("Deal_Name", opportunity.name)
            if opportunity.close_date:
                deal.add_key_value("Closing_Date", opportunity.close_date)
            if opportunity.stage:
                deal.add_key_value("Stage", self.Choice(opportunity.stage))
            if opportunity.amount is not None:
                deal.add_key_value("Amount", float(opportunity.amount))
            if opportunity.pipeline:
                deal.add_key_value("Pipeline", self.Choice(opportunity.pipeline))
            for key, value in opportunity.fields.items():
                deal.add_key_value(key, value)
            lc.set_deals(deal)
        tags = conversion.carry_over_tags
        if not tags.is_empty():
            carry = cl.CarryOverTags()
            if tags.contacts:
                carry.set_contacts(list(tags.contacts))
            if tags.accounts:
                carry.set_accounts(list(tags.accounts))
            if tags.deals:
                carry.set_deals(list(tags.deals))
            lc.set_carry_over_tags(carry)
        wrapper = cl.BodyWrapper()
        wrapper.set_data([lc])
        c = self.Constants
        handler = self.Handler()
        handler.set_api_path(f"/crm/v8/Leads/{conversion.lead_id}/actions/convert")
        handler.set_http_method(c.REQUEST_METHOD_POST)
        handler.set_category_method(c.REQUEST_CATEGORY_CREATE)
        handler.set_content_type("application/json")
        handler.set_request(wrapper)
        handler.set_mandatory_checker(True)
        if isinstance(opportunity, CreateOpportunity):
            # convert_lead sets it always; then a body with Accounts or Contacts but no Deals
            # fails the SDK's own mandatory check (it checks Accounts against the Deals
            # fields), so it is set only when the body carries Deals.
            handler.set_module_api_name("Deals")
        converter = self.JSONConverter(handler)
        request = converter.form_request(wrapper, wrapper.__class__.__module__, None, None)
        data: bytes = converter.append_to_request(None, request)
        return data


def _normalised(value: Any) -> Any:
    """JSON with ids as strings and numbers exact: the SDK writes ids (Long) as JSON numbers."""
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _same(ours: str, sdk: bytes) -> bool:
    a = json.loads(ours, parse_float=Decimal)
    b = json.loads(sdk, parse_float=Decimal)
    return bool(_normalised(a) == _normalised(b))


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` runs, in CPU seconds of this process."""
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def compare(n: int, repeats: int) -> dict[str, Any]:
    """leadconvert against the SDK on ``n`` single-convert bodies of the Zoho mix."""
    conversions: Sequence[Conversion] = [c for _, c in w.zoho_mixed(n)]
    with tempfile.TemporaryDirectory(prefix="leadconvert-bench-sdk-") as resources:
        sdk = _SDK(resources)
        for conversion in conversions:
            ours = dumps_json(to_convert_body(conversion, "v8"))
            theirs = sdk.body(conversion)
            assert _same(ours, theirs), (ours, theirs)
        sdk_seconds = best_of(repeats, lambda: [sdk.body(c) for c in conversions])
    ours_seconds = best_of(
        repeats, lambda: [dumps_json(to_convert_body(c, "v8")) for c in conversions]
    )
    return {
        "bodies": n,
        "sdk_seconds": sdk_seconds,
        "sdk_per_second": n / sdk_seconds,
        "leadconvert_seconds": ours_seconds,
        "leadconvert_per_second": n / ours_seconds,
        "speedup": sdk_seconds / ours_seconds,
    }
