"""Dataverse errors -> neutral codes, keyed on error.code whatever the HTTP status."""

from __future__ import annotations

import pytest
from leadconvert_dynamics._answers import created_ids, error_from

from leadconvert import ErrorCode, ProtocolError


def body(code: str, message: str = "message") -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("status", "code", "message", "neutral", "retryable"),
    [
        (412, "0x80040333", "duplicate", ErrorCode.DUPLICATE, False),
        (500, "0x80040333", "duplicate", ErrorCode.DUPLICATE, False),
        (400, "0x80040519", "The lead is already closed.", ErrorCode.ALREADY_CONVERTED, False),
        (429, "0x80072322", "Number of requests exceeded", ErrorCode.RATE_LIMITED, True),
        (503, "0x80072321", "Combined execution time", ErrorCode.RATE_LIMITED, True),
        (429, "0x80072326", "concurrent requests", ErrorCode.RATE_LIMITED, True),
        (403, "0x80040220", "SecLib::AccessCheckEx failed", ErrorCode.PERMISSION_DENIED, False),
        (
            404,
            "0x80040217",
            "account With Id = x Does Not Exist",
            ErrorCode.INVALID_REFERENCE,
            False,
        ),
        (
            400,
            "0x80040203",
            "7 is not a valid status code for state code LeadState.Qualified",
            ErrorCode.INVALID_STATUS,
            False,
        ),
        (400, "0x80044331", "A validation error occurred.", ErrorCode.INVALID_DATA, False),
        (500, "", "", ErrorCode.SERVER_ERROR, True),
        (401, "", "", ErrorCode.AUTH_FAILED, False),
        (418, "", "", ErrorCode.UNKNOWN, False),
    ],
)
def test_the_code_decides_not_the_status(
    status: int, code: str, message: str, neutral: ErrorCode, retryable: bool
) -> None:
    error = error_from(status, body(code, message))
    assert (error.code, error.retryable) == (neutral, retryable)
    assert error.backend_code == (code or None)


def test_an_org_without_sales_is_named_as_such() -> None:
    for status, answer in [
        (404, body("0x80060888", "Resource not found for the segment 'leads'.")),
        (400, body("0x80060888", "Request message has unresolved parameters: QualifyLead")),
    ]:
        error = error_from(status, answer)
        assert "Dynamics 365 Sales is not installed" in error.message
        assert error.code is ErrorCode.NOT_SUPPORTED
    # Another missing segment is only a missing record.
    other = error_from(404, body("0x80060888", "Resource not found for the segment 'widgets'."))
    assert "Sales" not in other.message and other.code is ErrorCode.INVALID_REFERENCE


def test_created_ids_come_from_value_by_type() -> None:
    answer = {
        "value": [
            {
                "@odata.type": "#Microsoft.Dynamics.CRM.account",
                "accountid": "{0A0A0A0A-0000-4000-8000-000000000001}",
            },
            {
                "@odata.type": "#Microsoft.Dynamics.CRM.opportunity",
                "opportunityid": "0a0a0a0a-0000-4000-8000-000000000003",
            },
        ]
    }
    assert created_ids(answer) == {
        "account": "0a0a0a0a-0000-4000-8000-000000000001",
        "opportunity": "0a0a0a0a-0000-4000-8000-000000000003",
    }
    assert created_ids({"value": []}) == {}
    with pytest.raises(ProtocolError):
        created_ids({"error": "no value"})
