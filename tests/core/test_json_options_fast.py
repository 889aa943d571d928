"""The options fast path of the JSON reader gives what cattrs' detailed path gives."""

from __future__ import annotations

from typing import Any

import pytest
from leadconvert_dynamics._options import DynamicsOptions
from leadconvert_salesforce._options import SalesforceOptions
from leadconvert_zoho._options import ZohoOptions

from leadconvert._json import NeutralConverter

_TYPES: dict[str, Any] = {
    "salesforce": SalesforceOptions,
    "dynamics": DynamicsOptions,
    "zoho": ZohoOptions,
}

_VALUES: list[Any] = [True, False, None, "", "x", "true", 0, 1, 1.5, [], {}, ["a"]]

_CASES: list[Any] = [
    {},
    {"salesforce": {}},
    {"salesforce": None},
    {"salesforce": []},
    {"nope": {}},
    {"salesforce": {"unknown": True}},
    {"salesforce": {"bypass_account_dedupe_check": True}, "dynamics": {"currency_id": "c"}},
    {"salesforce": {"bypass_account_dedupe_check": True}, "zoho": {}},
    {"zoho": {"related_modules": []}},
    *({"salesforce": {"bypass_account_dedupe_check": v}} for v in _VALUES),
    *(
        {"salesforce": {"bypass_contact_dedupe_check": v, "bypass_account_dedupe_check": True}}
        for v in _VALUES
    ),
    *({"dynamics": {"currency_id": v}} for v in _VALUES),
    *({"dynamics": {"suppress_duplicate_detection": v}} for v in _VALUES),
]


@pytest.mark.parametrize("options", _CASES)
def test_options_fast_path_matches_detailed_path(options: Any) -> None:
    fast = NeutralConverter(_TYPES)
    detailed = NeutralConverter(_TYPES)
    detailed.cattrs  # noqa: B018 - taking it switches that converter to the detailed path
    data = {"lead_id": "00QB00000000000MAA", "options": options}
    assert fast.violations(data) == detailed.violations(data)
