"""Issue 13 for Salesforce: every LeadConvert real clients send reads into the neutral form and
plans back to an equivalent request; ids with a wrong case suffix and duplicate-rule matches are
reported so that a user can act on them.

"Real clients" are jsforce (``conn.soap.convertLead([...])``: a JSON array of LeadConvert
objects, optional keys left out) and the SOAP envelope the Salesforce docs sample sends.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import attrs
import pytest
import xmlschema
from leadconvert_salesforce import SalesforceBackend, to_18
from leadconvert_salesforce._answers import matched_in_rest, read_convert_answer
from leadconvert_salesforce._wire import LEAD_CONVERT_ORDER, PARTNER_NS, SOAP_NS

from leadconvert import (
    Conversion,
    CreateOpportunity,
    ErrorCode,
    NoOpportunity,
    check,
    dumps_json,
    read_native,
)
from leadconvert.backend import NativeRequest, PlanItem, PlannedCall

LEAD = "00Q5g000004XYZa"  # 15 characters, as jsforce users often pass them
ACCOUNT = "0015g00000AbCdE"
CONTACT = "0035g00000AbCdE"
OWNER = "0055g00000AbCdE"
OPPORTUNITY = "0065g00000AbCdE"

#: Non-nillable booleans: absent means false (what Salesforce assumes, and what we send).
_FLAGS = ("doNotCreateOpportunity", "overwriteLeadSource", "sendNotificationEmail")
_IDS = ("leadId", "accountId", "contactId", "ownerId", "opportunityId")


def _flag_variants(key: str) -> list[dict[str, Any]]:
    """The key absent, false, true (as JSON booleans, and as the strings jsforce passes on)."""
    return [{}, {key: False}, {key: True}, {key: "false"}, {key: "true"}]


def _jsforce_payloads() -> list[dict[str, Any]]:
    base = {"leadId": LEAD, "convertedStatus": "Closed - Converted"}
    out: list[dict[str, Any]] = [base]
    optional: list[list[dict[str, Any]]] = [
        [{}, {"accountId": ACCOUNT}, {"accountId": ACCOUNT, "contactId": CONTACT}],
        [{}, {"ownerId": OWNER}],
        _flag_variants("sendNotificationEmail"),
        [{}, {"doNotCreateOpportunity": True}, {"opportunityName": "Acme - renewal"}],
        [{}, {"bypassAccountDedupeCheck": False}, {"bypassContactDedupeCheck": True}],
    ]
    for combo in itertools.product(*optional):
        row = dict(base)
        for part in combo:
            row.update(part)
        out.append(row)
    # overwriteLeadSource needs a contact: every spelling, with one.
    for variant in _flag_variants("overwriteLeadSource"):
        out.append({**base, "accountId": ACCOUNT, "contactId": CONTACT, **variant})
    # doNotCreateOpportunity false, explicitly, with and without a name; an existing one.
    out.append({**base, "doNotCreateOpportunity": False})
    out.append({**base, "doNotCreateOpportunity": "false", "opportunityName": "Named"})
    out.append({**base, "opportunityId": OPPORTUNITY})
    return out


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    """A LeadConvert as Salesforce reads it: ids as the 18-character form, absent flags false,
    booleans as booleans, key order ignored (a dict)."""
    out: dict[str, Any] = {}
    for key, given in row.items():
        value = given
        if value is None:
            continue
        if key in _IDS:
            value = to_18(value) if len(value) == 15 else value
        elif isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        out[key] = value
    for flag in _FLAGS:
        out.setdefault(flag, False)
    return out


def _elements(envelope: str) -> list[dict[str, Any]]:
    root = ET.fromstring(envelope)
    rows = []
    for lead_convert in root.iter(f"{{{PARTNER_NS}}}leadConverts"):
        rows.append({child.tag.rpartition("}")[2]: child.text for child in lead_convert})
    return rows


def _shown(backend: SalesforceBackend, call: PlannedCall) -> str:
    body = backend.render(call.request).body
    assert body is not None
    return body


class TestJsforceArrays:
    @pytest.mark.parametrize("payload", _jsforce_payloads(), ids=dumps_json)
    def test_reads_and_plans_back_the_same(
        self,
        backend: SalesforceBackend,
        partner_schema: xmlschema.XMLSchema,
        payload: dict[str, Any],
    ) -> None:
        """A jsforce LeadConvert -> neutral -> plan: the same elements and values, and a valid
        envelope (unset optional children omitted, in the WSDL's order)."""
        (conversion,) = backend.parse_native(read_native(dumps_json([payload])))
        assert not check(backend, conversion).errors
        (call,) = backend.plan([PlanItem(conversion)], {}).calls
        envelope = _shown(backend, call)
        (sent,) = _elements(envelope)
        assert _normal(sent) == _normal(payload)
        names = list(sent)
        assert names == sorted(names, key=LEAD_CONVERT_ORDER.index)
        root = ET.fromstring(envelope)
        element = root.find(f"{{{SOAP_NS}}}Body/{{{PARTNER_NS}}}convertLead")
        assert element is not None
        partner_schema.validate(ET.tostring(element, encoding="unicode"))

    def test_the_most_common_call_lets_salesforce_name_the_opportunity(
        self, backend: SalesforceBackend
    ) -> None:
        """{leadId, convertedStatus}: create an opportunity, named by Salesforce."""
        payload = [{"leadId": LEAD, "convertedStatus": "Closed - Converted"}]
        (conversion,) = backend.parse_native(read_native(dumps_json(payload)))
        assert conversion.opportunity == CreateOpportunity()
        assert conversion.converted_status == "Closed - Converted"
        (sent,) = _elements(_shown(backend, backend.plan([PlanItem(conversion)], {}).calls[0]))
        assert "opportunityName" not in sent and sent["doNotCreateOpportunity"] == "false"

    def test_one_object_alone(self, backend: SalesforceBackend) -> None:
        """One LeadConvert object, not in a list (Apex's serialised Database.LeadConvert)."""
        payload = {"leadId": LEAD, "convertedStatus": "Done", "doNotCreateOpportunity": True}
        (conversion,) = backend.parse_native(read_native(dumps_json(payload)))
        assert conversion.opportunity == NoOpportunity()

    def test_missing_status_is_discovered_when_sent(self, backend: SalesforceBackend) -> None:
        """Without convertedStatus the plan shows the discovery placeholder, read back as None."""
        (conversion,) = backend.parse_native(read_native(dumps_json([{"leadId": LEAD}])))
        assert conversion.converted_status is None
        (call,) = backend.plan([PlanItem(conversion)], {}).calls
        shown = attrs.evolve(call, request=backend.render(call.request))
        assert backend.parse_native([shown]) == [attrs.evolve(conversion, lead_id=to_18(LEAD))]


class TestUnnamedOpportunityFollowUp:
    def test_fields_still_follow_up(self, backend: SalesforceBackend) -> None:
        """An unnamed opportunity with a stage: convertLead names it, the update sets the stage,
        and the plan reads back to the same conversion."""
        conversion = Conversion(to_18(LEAD), opportunity=CreateOpportunity(stage="Prospecting"))
        calls = backend.plan([PlanItem(conversion)], {}).calls
        assert [c.kind for c in calls] == ["convertLead", "opportunityUpdate"]
        assert "opportunityName" not in _elements(_shown(backend, calls[0]))[0]
        assert backend.parse_native(calls) == [conversion]


class TestIdSuffix:
    def test_wrong_suffix_names_the_expected_one(self, backend: SalesforceBackend) -> None:
        """00Q5g0000000099AAA: the suffix does not match; EAA does; 15 characters work too."""
        (found,) = backend.validate(Conversion("00Q5g0000000099AAA"))
        assert found.rule == "salesforce.id.case_suffix"
        assert "'EAA'" in found.message and "'00Q5g0000000099'" in found.message
        assert "key prefix" not in found.message
        assert not backend.validate(Conversion("00Q5g0000000099"))
        assert not backend.validate(Conversion("00Q5g0000000099EAA"))

    def test_lost_case_is_still_restored(self, backend: SalesforceBackend) -> None:
        """An id lower-cased by a case-insensitive system comes back through its suffix."""
        assert backend.canonical_id("00q5g0000000099eaa") == "00Q5g0000000099EAA"
        assert not backend.validate(Conversion("00q5g0000000099eaa"))


_DUPLICATE_RESULT = (
    '<result><accountId xsi:nil="true"/><contactId xsi:nil="true"/>'
    '<errors xsi:type="DuplicateError"><message>Use one of these records?</message>'
    "<statusCode>DUPLICATES_DETECTED</statusCode><duplicateResult><allowSave>false</allowSave>"
    "<duplicateRule>Standard_Contact_Duplicate_Rule</duplicateRule>"
    "<duplicateRuleEntityType>Contact</duplicateRuleEntityType>"
    '<errorMessage xsi:nil="true"/><matchResults><entityType>Contact</entityType>'
    "<matchEngine>FuzzyMatchEngine</matchEngine><matchRecords><matchConfidence>100.0"
    '</matchConfidence><record xsi:type="sf:sObject"><sf:type>Contact</sf:type>'
    "<sf:Id>0035g00000AbCdEAAV</sf:Id></record></matchRecords><matchRecords>"
    '<matchConfidence>90.0</matchConfidence><record xsi:type="sf:sObject"><sf:type>Contact'
    "</sf:type><sf:Id>0035g00000AbCdFAAV</sf:Id></record></matchRecords>"
    "<rule>Standard_Match_Rule_v1_0</rule><size>2</size><success>true</success></matchResults>"
    f"</duplicateResult></errors><leadId>{to_18(LEAD)}</leadId>"
    '<opportunityId xsi:nil="true"/><success>false</success></result>'
)


class TestDuplicates:
    def test_soap_duplicate_result_names_the_matches(self) -> None:
        """DUPLICATES_DETECTED: the matched ids are in the neutral error and its message."""
        body = (
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns="{PARTNER_NS}" '
            'xmlns:sf="urn:sobject.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f"<convertLeadResponse>{_DUPLICATE_RESULT}</convertLeadResponse>"
            "</soapenv:Body></soapenv:Envelope>"
        ).encode()
        (result,) = read_convert_answer([LEAD], 200, body, {})
        assert result.error is not None
        assert result.error.code is ErrorCode.DUPLICATE
        assert result.error.matched_ids == ("0035g00000AbCdEAAV", "0035g00000AbCdFAAV")
        assert "0035g00000AbCdFAAV" in result.error.message

    @pytest.mark.parametrize("key", ["duplicateResut", "duplicateResult"])
    def test_rest_spelling(self, key: str) -> None:
        """REST answers spell it duplicateResut; both spellings are read."""
        content = [
            {
                "errorCode": "DUPLICATES_DETECTED",
                "message": "dup",
                key: {
                    "allowSave": False,
                    "duplicateRule": "R",
                    "matchResults": [
                        {"matchRecords": [{"record": {"Id": "0065g00000AbCdEAAV"}}]},
                        {"matchRecords": [{"record": {"Id": "0065g00000AbCdEAAV"}}]},
                    ],
                },
            }
        ]
        assert matched_in_rest(content) == ["0065g00000AbCdEAAV"]


class TestSettings:
    def test_bad_settings_are_violations(self, backend: SalesforceBackend) -> None:
        """check_settings names each bad setting before any record is read."""
        found = backend.check_settings(
            {"api_version": "latest", "timeout": "soon", "max_retries": "-1"}
        )
        assert {v.path for v in found} == {"api_version", "timeout", "max_retries"}
        assert backend.check_settings({"api_version": "v59.0", "timeout": "30"}) == []


class TestContent:
    def test_plan_holds_rows_and_renders_once(self, backend: SalesforceBackend) -> None:
        """The planned call carries LeadConverts, not text; render writes the envelope."""
        (call,) = backend.plan([PlanItem(Conversion(LEAD))], {}).calls
        assert call.request.body is None and call.request.content is not None
        rendered = backend.render(call.request)
        assert rendered.body is not None and rendered.content is None
        assert backend.render(rendered) == rendered

    def test_example_ids(self, backend: SalesforceBackend) -> None:
        """example_id: valid 18-character ids of each role's object, distinct per n."""
        seen = set()
        for role, prefix in [("lead", "00Q"), ("account", "001"), ("user", "005")]:
            for n in (0, 1, 61, 62, 10**9):
                value = backend.example_id(role, n)
                assert value.startswith(prefix) and len(value) == 18
                assert backend.canonical_id(value, role) == value
                seen.add(value)
        assert len(seen) == 15

    def test_bare_request_without_path(self, backend: SalesforceBackend) -> None:
        """A bare envelope (path "") reads like the planned one."""
        (call,) = backend.plan([PlanItem(Conversion(LEAD))], {}).calls
        bare = PlannedCall(NativeRequest("POST", "", body=_shown(backend, call)), (), "")
        assert backend.parse_native([bare]) == [Conversion(to_18(LEAD))]


def test_jsforce_example_file(backend: SalesforceBackend) -> None:
    """examples/salesforce/jsforce-convertlead.json reads: the first is the most common call."""
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[2] / "examples" / "salesforce" / "jsforce-convertlead.json"
    )
    conversions = backend.parse_native(read_native(path.read_text(encoding="utf-8")))
    assert [c.opportunity for c in conversions] == [
        CreateOpportunity(),
        CreateOpportunity(),
        NoOpportunity(),
    ]
    assert all(not check(backend, c).errors for c in conversions)


def test_duplicate_matches_reach_the_report(tmp_path: Path) -> None:
    """The matched ids of a DUPLICATES_DETECTED answer are in the report row and error file."""
    import csv

    from leadconvert._report import ReportWriter

    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns="{PARTNER_NS}" '
        'xmlns:sf="urn:sobject.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f"<convertLeadResponse>{_DUPLICATE_RESULT}</convertLeadResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()
    (result,) = read_convert_answer([LEAD], 200, body, {})
    writer = ReportWriter.open(tmp_path / "report.csv")
    writer.write(result, 1)
    writer.close()
    (row,) = csv.DictReader((tmp_path / "report.csv").open(encoding="utf-8"))
    assert row["matched_ids"] == "0035g00000AbCdEAAV 0035g00000AbCdFAAV"
    (error_row,) = csv.DictReader((tmp_path / "report.errors.csv").open(encoding="utf-8"))
    assert error_row["matched_ids"] == row["matched_ids"]
