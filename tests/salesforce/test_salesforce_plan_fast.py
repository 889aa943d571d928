"""The Salesforce planner's follow-up calls, built with trusted constructors, are the calls the
classes themselves build (equal, with frozen query and headers), for every shape of follow-up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from leadconvert_salesforce._plan import follow_up_body, plan
from leadconvert_salesforce._wire import FOLLOW_UP_KIND, OPPORTUNITY_ID_PLACEHOLDER

from leadconvert import Conversion, CreateOpportunity
from leadconvert.backend import NativeRequest, PlanItem, PlannedCall

_OPPORTUNITIES = [
    CreateOpportunity(name="Deal", stage="Prospecting"),
    CreateOpportunity(close_date=dt.date(2026, 12, 31), amount=Decimal("250.00")),
    CreateOpportunity(name="Deal", fields={"Custom__c": "x", "Probability": 10}),
]


def test_follow_ups_are_the_classes_own() -> None:
    conversions = [
        Conversion(f"00Q00000000000{n}", opportunity=opportunity)
        for n, opportunity in enumerate(_OPPORTUNITIES)
    ]
    planned = plan([PlanItem(c, n) for n, c in enumerate(conversions, 1)], {"api_version": "60.0"})
    follow_ups = planned.calls[1:]
    assert len(follow_ups) == len(conversions)
    for call, conversion in zip(follow_ups, conversions, strict=True):
        body = follow_up_body(conversion)
        assert body is not None
        expected = PlannedCall(
            NativeRequest(
                "PATCH",
                f"/services/data/v60.0/sobjects/Opportunity/{OPPORTUNITY_ID_PLACEHOLDER}",
                json=body,
            ),
            (conversion.lead_id,),
            FOLLOW_UP_KIND,
            "follow-up: convertLead cannot set "
            + ", ".join(body)
            + f"; they are set on the Opportunity created for lead {conversion.lead_id}",
            after=0,
        )
        assert call == expected and type(call) is PlannedCall
        assert type(call.request) is NativeRequest
        assert call.request.to_dict() == expected.request.to_dict()
        assert dict(call.request.query) == {} and dict(call.request.headers) == {}
