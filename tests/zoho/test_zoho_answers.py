"""read_answer: every documented answer and error shape, read from the body, not the status."""

from __future__ import annotations

from typing import Any

import pytest
from leadconvert_zoho import ZohoBackend
from leadconvert_zoho._answers import read_answer, read_match

from leadconvert import ErrorCode, Module, Outcome, dumps_json
from leadconvert.backend import NativeAnswer, NativeRequest, PlannedCall

SINGLE = PlannedCall(NativeRequest("POST", "/crm/v8/Leads/1/actions/convert"), ("1",), "convert")
MASS = PlannedCall(
    NativeRequest("POST", "/crm/v8/Leads/actions/mass_convert"), ("1", "2"), "mass_convert"
)


def answer(body: Any, status: int = 200) -> NativeAnswer:
    return NativeAnswer(status, dumps_json(body).encode() if body is not None else b"")


def err(code: str, details: Any = None, message: str = "m") -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


class TestZohoReadAnswer:
    def test_documented_success(self, zoho: ZohoBackend) -> None:
        """The documented success answer gives CONVERTED with the three record ids."""
        body = {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {
                        "Contacts": {"name": "Paul Daly", "id": "3652397000007603014"},
                        "Deals": {"name": "test", "id": "3652397000007603019"},
                        "Accounts": {"name": "Zylker", "id": "3652397000000624046"},
                    },
                    "message": "The record has been converted successfully",
                    "status": "success",
                }
            ]
        }
        (r,) = read_answer(SINGLE, answer(body))
        assert (r.outcome, r.account_id, r.contact_id, r.opportunity_id) == (
            Outcome.CONVERTED,
            "3652397000000624046",
            "3652397000007603014",
            "3652397000007603019",
        )

    def test_success_without_deal(self, zoho: ZohoBackend) -> None:
        """Deals: null (Kaizen case II) gives no opportunity id."""
        body = {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"Contacts": {"id": "1"}, "Deals": None, "Accounts": {"id": "2"}},
                    "message": "",
                    "status": "success",
                }
            ]
        }
        (r,) = read_answer(SINGLE, answer(body))
        assert r.outcome is Outcome.CONVERTED and r.opportunity_id is None

    @pytest.mark.parametrize(
        ("code", "neutral"),
        [
            ("DUPLICATE_DATA", ErrorCode.DUPLICATE),
            ("MANDATORY_NOT_FOUND", ErrorCode.REQUIRED_FIELD_MISSING),
            ("MAPPING_MISMATCH", ErrorCode.INVALID_DATA),
            ("RECORD_LOCKED", ErrorCode.LOCKED),
            ("NOT_APPROVED", ErrorCode.NOT_APPROVED),
            ("NO_PERMISSION", ErrorCode.PERMISSION_DENIED),
            ("AUTHORIZATION_FAILED", ErrorCode.PERMISSION_DENIED),
            ("LIMIT_EXCEEDED", ErrorCode.LIMIT_EXCEEDED),
            ("TOO_MANY_REQUESTS", ErrorCode.RATE_LIMITED),
            ("INVALID_TOKEN", ErrorCode.AUTH_FAILED),
            ("AUTHENTICATION_FAILURE", ErrorCode.AUTH_FAILED),
            ("OAUTH_SCOPE_MISMATCH", ErrorCode.AUTH_FAILED),
            ("INTERNAL_ERROR", ErrorCode.SERVER_ERROR),
            ("AMBIGUITY_DURING_PROCESSING", ErrorCode.INVALID_REFERENCE),
            ("INVALID_URL_PATTERN", ErrorCode.INVALID_DATA),
            ("SOMETHING_NEW", ErrorCode.UNKNOWN),
        ],
    )
    def test_codes_in_both_shapes(self, zoho: ZohoBackend, code: str, neutral: ErrorCode) -> None:
        """Each Zoho code maps to its neutral code, per record in data and at top level."""
        for body in ({"data": [err(code)]}, err(code)):
            (r,) = read_answer(SINGLE, answer(body, 400))
            assert r.outcome is Outcome.FAILED and r.error is not None
            assert (r.error.code, r.error.backend_code) == (neutral, code)

    def test_mandatory_keeps_fields(self, zoho: ZohoBackend) -> None:
        """MANDATORY_NOT_FOUND keeps details.api_name and json_path as fields."""
        body = {
            "data": [
                err(
                    "MANDATORY_NOT_FOUND",
                    {"api_name": "Pipeline", "json_path": "$.data[0].Deals.Pipeline"},
                    "required field not found",
                )
            ]
        }
        (r,) = read_answer(SINGLE, answer(body, 202))
        assert r.error is not None
        assert r.error.fields == ("Pipeline", "$.data[0].Deals.Pipeline")
        assert r.error.message == "required field not found"

    def test_already_converted(self, zoho: ZohoBackend) -> None:
        """ID_ALREADY_CONVERTED (top level, resource_path_index) is ALREADY_CONVERTED."""
        (r,) = read_answer(
            SINGLE,
            answer(
                err("ID_ALREADY_CONVERTED", {"resource_path_index": 0}, "id already converted"), 400
            ),
        )
        assert r.outcome is Outcome.ALREADY_CONVERTED
        assert r.error is not None and r.error.code is ErrorCode.ALREADY_CONVERTED

    @pytest.mark.parametrize(
        ("details", "neutral"),
        [
            (
                {"api_name": "Accounts", "json_path": "$.data[0].Accounts"},
                ErrorCode.INVALID_REFERENCE,
            ),
            (
                {"api_name": "assign_to", "json_path": "$.data[0].assign_to"},
                ErrorCode.INVALID_REFERENCE,
            ),
            ({"resource_path_index": 0}, ErrorCode.INVALID_REFERENCE),
            (
                {
                    "api_name": "Closing_Date",
                    "json_path": "$.data[0].Deals.Closing_Date",
                    "expected_data_type": "date",
                },
                ErrorCode.INVALID_DATA,
            ),
        ],
    )
    def test_invalid_data_reference_or_data(
        self, zoho: ZohoBackend, details: Any, neutral: ErrorCode
    ) -> None:
        """INVALID_DATA on a reference is invalid_reference, otherwise invalid_data."""
        (r,) = read_answer(SINGLE, answer({"data": [err("INVALID_DATA", details)]}, 400))
        assert r.error is not None and r.error.code is neutral

    def test_mass_convert_scheduled(self, zoho: ZohoBackend) -> None:
        """The documented SCHEDULED answer makes every lead SCHEDULED with the job id."""
        body = {
            "code": "SCHEDULED",
            "details": {"job_id": "3652397000009835020"},
            "message": "Mass Convert scheduled successfully",
            "status": "success",
        }
        results = read_answer(MASS, answer(body))
        assert [(r.outcome, r.job_id) for r in results] == [
            (Outcome.SCHEDULED, "3652397000009835020")
        ] * 2

    def test_mass_convert_limit(self, zoho: ZohoBackend) -> None:
        """A top-level LIMIT_EXCEEDED fails every lead of the call."""
        results = read_answer(MASS, answer(err("LIMIT_EXCEEDED"), 400))
        assert {r.error.code for r in results if r.error} == {ErrorCode.LIMIT_EXCEEDED}

    def test_malformed_and_empty_are_unknown(self, zoho: ZohoBackend) -> None:
        """A body that is not JSON, or none, proves nothing: UNKNOWN."""
        for raw in (b'{"data": [', b""):
            (r,) = read_answer(SINGLE, NativeAnswer(200, raw))
            assert r.outcome is Outcome.UNKNOWN

    def test_5xx_without_body(self, zoho: ZohoBackend) -> None:
        """An HTTP 503 without a body is a retryable server error."""
        (r,) = read_answer(SINGLE, NativeAnswer(503, b"oops"))
        assert r.error is not None and r.error.code is ErrorCode.SERVER_ERROR and r.error.retryable


class TestZohoMatchReport:
    def test_kaizen_conversion_options(self) -> None:
        """The Kaizen conversion options read as two contacts and one account, contacts first."""
        body = {
            "__conversion_options": {
                "module_preference": {"api_name": "Contacts", "id": "4876876000000002179"},
                "Contacts": [
                    {
                        "Full_Name": "Boyle",
                        "Email": "pat.boyle@zylker.com",
                        "Phone": None,
                        "Locked__s": False,
                        "Account_Name": None,
                        "$editable": True,
                        "id": "4876876000007437017",
                        "$approval_state": "approved",
                    },
                    {
                        "Full_Name": "Pat Boyle",
                        "Email": None,
                        "Phone": "9844444444",
                        "Locked__s": False,
                        "Account_Name": {
                            "name": "Zylker Biotech",
                            "Locked__s": False,
                            "id": "4876876000007421010",
                        },
                        "$editable": True,
                        "id": "4876876000007421001",
                        "$approval_state": "approved",
                    },
                ],
                "preference_field_matched_value": {
                    "Contacts": [
                        {
                            "field": {"api_name": "Phone", "id": "1"},
                            "matched_lead_value": "9844444444",
                        },
                        {
                            "field": {"api_name": "Email", "id": "2"},
                            "matched_lead_value": "pat.boyle@zylker.com",
                        },
                    ],
                    "Accounts": [
                        {
                            "field": {"api_name": "Account_Name", "id": "3"},
                            "matched_lead_value": "Zylker Biotech",
                        }
                    ],
                },
                "Accounts": [
                    {
                        "Account_Name": "Zylker Biotech",
                        "$editable": True,
                        "id": "4876876000007421010",
                        "$approval_state": "approved",
                        "Locked__s": False,
                    }
                ],
            }
        }
        report = read_match("9", 200, body)
        assert report.preferred_module is Module.CONTACTS
        assert [
            (c.id, c.account_id, [f.field for f in c.matched_fields]) for c in report.contacts
        ] == [
            ("4876876000007437017", None, ["Email"]),
            ("4876876000007421001", "4876876000007421010", ["Phone"]),
        ]
        assert report.accounts[0].name == "Zylker Biotech" and report.accounts[0].usable

    def test_204_is_empty(self) -> None:
        """HTTP 204 means nothing matches."""
        assert read_match("9", 204, None).empty
