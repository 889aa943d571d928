"""The Salesforce backend's pure side: ids, rules, planning, the WSDL, the inverse, answers."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import attrs
import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st
from leadconvert_salesforce import SalesforceBackend, SalesforceOptions, canonical_id, to_18
from leadconvert_salesforce._answers import read_convert_answer
from leadconvert_salesforce._ids import IdError
from leadconvert_salesforce._wire import (
    CONVERTED_STATUS_PLACEHOLDER,
    LEAD_CONVERT_ORDER,
    PARTNER_NS,
    SESSION_PLACEHOLDER,
    parse_rows,
)

import leadconvert as lc
from leadconvert import (
    AuthenticationError,
    Conversion,
    CreateOpportunity,
    ErrorCode,
    InputError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Mode,
    Outcome,
    ProtocolError,
    RateLimitedError,
    ServerError,
    check,
)
from leadconvert.backend import MEANINGS, NativeAnswer, PlanItem, PlannedCall, Support

LEAD = "00Q000000000001"
ACCOUNT = "001000000000001"
CONTACT = "003000000000001"


def rules(backend: SalesforceBackend, conversion: Conversion) -> set[str]:
    return {v.rule for v in backend.validate(conversion)}


def plan(
    backend: SalesforceBackend, *conversions: Conversion, **settings: str
) -> lc.backend.BackendPlan:
    return backend.plan([PlanItem(c) for c in conversions], settings)


def shown(backend: SalesforceBackend, call: PlannedCall) -> str:
    """The envelope of a planned convertLead call, as the plan shows it."""
    body = backend.render(call.request).body
    assert body is not None
    return body


def parse(backend: SalesforceBackend, payload: str) -> list[Conversion]:
    """What ``leadconvert parse -b salesforce`` reads from a payload file."""
    return backend.parse_native(lc.read_native(payload))


def read_answer(call: PlannedCall, answer: NativeAnswer) -> list[lc.ConversionResult]:
    return read_convert_answer(call.lead_ids, answer.status, answer.body, answer.headers)


# --- strategies ---------------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def ids(prefix: str) -> st.SearchStrategy[str]:
    return st.text(_ALNUM, min_size=12, max_size=12).map(lambda s: to_18(prefix + s))


xml_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
        lambda c: c in "\t\n\r" or ord(c) >= 0x20
    ),
    min_size=1,
    max_size=80,
).filter(lambda s: s.strip())


@st.composite
def conversions(draw: st.DrawFn) -> Conversion:
    account = draw(st.sampled_from(["create", "merge"]))
    contact = draw(st.booleans()) and account == "merge"
    opportunity = draw(
        st.one_of(
            st.just(lc.NoOpportunity()),
            xml_text.map(lambda n: CreateOpportunity(name=n)),
            # Named by Salesforce (after the lead's company): opportunityName left out.
            st.just(CreateOpportunity()),
            ids("006").map(lc.AttachOpportunity),
        )
    )
    options = draw(
        st.one_of(
            st.just(()),
            st.tuples(
                st.builds(
                    SalesforceOptions,
                    st.none() | st.booleans(),
                    st.none() | st.booleans(),
                ).filter(
                    lambda o: (
                        o.bypass_account_dedupe_check is not None
                        or o.bypass_contact_dedupe_check is not None
                    )
                )
            ),
        )
    )
    return Conversion(
        lead_id=draw(ids("00Q")),
        account=MergeAccount(draw(ids("001"))) if account == "merge" else lc.CreateAccount(),
        contact=MergeContact(draw(ids("003"))) if contact else lc.CreateContact(),
        opportunity=opportunity,
        owner_id=draw(st.none() | ids("005")),
        notify_new_owner=draw(st.booleans()),
        overwrite_lead_source=contact and draw(st.booleans()),
        converted_status=draw(st.none() | xml_text),
        options=options,
    )


def convert_lead_elements(body: str) -> list[ET.Element]:
    root = ET.fromstring(body)
    return root.findall(f".//{{{PARTNER_NS}}}convertLead")


# --- tests ----------------------------------------------------------------------------------------


class TestSalesforceIds:
    @pytest.mark.parametrize(
        ("id15", "id18"),
        [
            ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
            ("00Q000000000001", "00Q000000000001EAA"),
            ("0015000000Gv7qJ", "0015000000Gv7qJAAR"),
            ("003D000000QOE0K", "003D000000QOE0KIAX"),
        ],
    )
    def test_known_pairs(self, id15: str, id18: str) -> None:
        """A 15-character id gets its documented 18-character case-safe form."""
        assert to_18(id15) == id18
        assert canonical_id(id15) == id18
        assert canonical_id(id18) == id18

    def test_lower_cased_18_restores_case(self) -> None:
        """An 18-character id whose letters lost their case is restored from its suffix."""
        assert canonical_id("001a0000006vm9riac") == "001A0000006Vm9rIAC"

    @pytest.mark.parametrize("bad", ["", "00Q", "00Q00000000000!", "00Q0000000000001", "x" * 19])
    def test_malformed(self, bad: str) -> None:
        """Ids that are not 15 or 18 letters and digits are refused."""
        with pytest.raises(IdError):
            canonical_id(bad)

    def test_wrong_object(self) -> None:
        """An id of another object is refused by its key prefix."""
        with pytest.raises(IdError) as info:
            canonical_id(ACCOUNT, "Lead")
        assert info.value.wrong_object

    def test_rules_check_prefixes(self, backend: SalesforceBackend) -> None:
        """Every id of a conversion is checked against its object's key prefix before any call."""
        conversion = Conversion(
            lead_id=ACCOUNT,
            account=MergeAccount(CONTACT),
            contact=MergeContact(LEAD),
            opportunity=lc.AttachOpportunity(ACCOUNT),
            owner_id=CONTACT,
        )
        paths = {
            v.path for v in backend.validate(conversion) if v.rule == "salesforce.id.wrong_object"
        }
        assert paths == {"lead_id", "account.id", "contact.id", "opportunity.id", "owner_id"}
        assert "salesforce.id.malformed" in rules(backend, Conversion("00Q12"))


class TestSalesforceRules:
    def test_valid(self, backend: SalesforceBackend) -> None:
        """A conversion within the rules has no violation, even without a converted status."""
        assert backend.validate(Conversion(LEAD)) == []

    def test_contact_needs_account(self, backend: SalesforceBackend) -> None:
        """contactId needs accountId."""
        found = backend.validate(Conversion(LEAD, contact=MergeContact(CONTACT)))
        assert [(v.rule, v.path) for v in found] == [
            ("salesforce.contact.needs_account", "contact.id")
        ]

    def test_person_account_takes_no_contact(self, backend: SalesforceBackend) -> None:
        """A person account merge takes only the account id."""
        conversion = Conversion(
            LEAD, account=MergePersonAccount(ACCOUNT), contact=MergeContact(CONTACT)
        )
        assert "salesforce.person_account.no_contact" in rules(backend, conversion)

    def test_opportunity_name_length(self, backend: SalesforceBackend) -> None:
        """opportunityName is at most 80 characters."""
        assert rules(backend, Conversion(LEAD, opportunity=CreateOpportunity("x" * 80))) == set()
        assert rules(backend, Conversion(LEAD, opportunity=CreateOpportunity("x" * 81))) == {
            "salesforce.opportunity.name_too_long"
        }

    def test_overwrite_lead_source_needs_contact(self, backend: SalesforceBackend) -> None:
        """overwriteLeadSource needs contactId."""
        assert "salesforce.overwrite_lead_source.needs_contact" in rules(
            backend, Conversion(LEAD, overwrite_lead_source=True)
        )

    def test_queue_cannot_own(self, backend: SalesforceBackend) -> None:
        """The new owner must be a user, not a queue."""
        assert "salesforce.owner.must_be_user" in rules(
            backend, Conversion(LEAD, owner_id="00G000000000001")
        )

    def test_invalid_xml_character(self, backend: SalesforceBackend) -> None:
        """Characters XML 1.0 cannot carry are a validation error, never sent."""
        conversion = Conversion(
            LEAD, opportunity=CreateOpportunity("bad\x01name"), converted_status="a\x02"
        )
        found = {(v.rule, v.path) for v in backend.validate(conversion)}
        assert found == {
            ("salesforce.xml.invalid_character", "opportunity.name"),
            ("salesforce.xml.invalid_character", "converted_status"),
        }

    def test_every_violation_at_once(self, backend: SalesforceBackend) -> None:
        """All violations of one conversion are reported together."""
        conversion = Conversion(
            LEAD,
            contact=MergeContact(CONTACT),
            opportunity=CreateOpportunity("y" * 100),
            notify_lead_owner=True,
        )
        assert rules(backend, conversion) == {
            "salesforce.contact.needs_account",
            "salesforce.opportunity.name_too_long",
            "salesforce.notify_lead_owner",
        }

    def test_unsupported_options(self, backend: SalesforceBackend) -> None:
        """Options Salesforce cannot express are unsupported: errors strict, warnings lenient."""
        conversion = Conversion(
            LEAD,
            notify_lead_owner=True,
            overwrite_account_name=True,
            move_attachments_to=lc.Module.CONTACTS,
            carry_over_tags=lc.CarryOverTags(contacts=("vip",)),
            opportunity=CreateOpportunity("Deal", pipeline="Standard", contact_role="x1"),
        )
        found = backend.validate(conversion)
        assert len(found) == 6 and all(v.unsupported for v in found)
        assert len(check(backend, conversion, Mode.STRICT).errors) == 6
        lenient = check(backend, conversion, Mode.LENIENT)
        assert lenient.errors == () and len(lenient.warnings) == 6
        body = shown(backend, plan(backend, conversion).calls[0])
        assert body is not None and "Standard" not in body


class TestSalesforcePlan:
    def test_capabilities_cover_every_meaning(self, backend: SalesforceBackend) -> None:
        """The capability column names every meaning of the mapping."""
        (column,) = backend.capabilities
        assert column.title == "Salesforce LeadConvert"
        assert set(column.entries) == set(MEANINGS)
        assert column.entries["opportunity.create"].support is Support.NATIVE
        assert "FOLLOW_UP" in column.entries["opportunity.create"].note
        assert column.entries["notify_lead_owner"].support is Support.REJECTED

    def test_registered(self, registry: lc.Registry) -> None:
        """The entry point registers the backend."""
        assert isinstance(registry.get("salesforce"), SalesforceBackend)

    def test_batching(self, backend: SalesforceBackend) -> None:
        """250 leads make 3 convertLead calls of 100, 100 and 50."""
        leads = [Conversion(f"00QB{i:011d}") for i in range(250)]
        calls = plan(backend, *leads).calls
        assert [len(c.lead_ids) for c in calls] == [100, 100, 50]
        assert all(c.kind == "convertLead" for c in calls)
        assert calls[0].request.path == "/services/Soap/u/59.0"
        assert calls[0].request.headers["SOAPAction"] == '""'

    def test_api_version_setting(self, backend: SalesforceBackend) -> None:
        """The api_version setting picks the endpoint."""
        assert (
            plan(backend, Conversion(LEAD), api_version="58.0").calls[0].request.path
            == "/services/Soap/u/58.0"
        )
        with pytest.raises(lc.ConfigurationError):
            plan(backend, Conversion(LEAD), api_version="latest")

    def test_no_secret_and_required_elements(self, backend: SalesforceBackend) -> None:
        """The planned body holds a session placeholder and every non-nillable element."""
        body = shown(backend, plan(backend, Conversion(LEAD)).calls[0])
        assert body is not None
        assert f"<sessionId>{SESSION_PLACEHOLDER}</sessionId>" in body
        (row,) = parse_rows(body)[0]
        assert row == {
            "convertedStatus": CONVERTED_STATUS_PLACEHOLDER,
            "doNotCreateOpportunity": "true",
            "leadId": to_18(LEAD),
            "overwriteLeadSource": "false",
            "sendNotificationEmail": "false",
        }

    def test_escaping(self, backend: SalesforceBackend) -> None:
        """Values are escaped, and a carriage return survives as a character reference."""
        name = "R&D <\"quoted\"> 'x'\r\nline"
        body = shown(
            backend, plan(backend, Conversion(LEAD, opportunity=CreateOpportunity(name))).calls[0]
        )
        assert body is not None and "&amp;" in body and "&lt;" in body and "&#13;" in body
        assert parse(backend, body)[0].opportunity == CreateOpportunity(name)

    def test_follow_up_planned(self, backend: SalesforceBackend) -> None:
        """Stage, close date, amount and other fields become a planned Opportunity update."""
        conversion = Conversion(
            LEAD,
            opportunity=CreateOpportunity(
                "Deal",
                stage="Prospecting",
                close_date=dt.date(2026, 3, 1),
                amount=Decimal("9.99"),
                fields={"NextStep": "Call"},
            ),
        )
        convert, follow_up = plan(backend, conversion).calls
        assert "Prospecting" not in shown(backend, convert)
        assert follow_up.kind == "opportunityUpdate"
        assert follow_up.request.method == "PATCH"
        assert (
            follow_up.request.path
            == "/services/data/v59.0/sobjects/Opportunity/{convertedOpportunityId}"
        )
        assert follow_up.request.json == {
            "StageName": "Prospecting",
            "CloseDate": "2026-03-01",
            "Amount": Decimal("9.99"),
            "NextStep": "Call",
        }
        assert follow_up.lead_ids == (LEAD,)

    def test_options_schema(self, backend: SalesforceBackend) -> None:
        """The options schema is closed."""
        schema = backend.options_schema()
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == {
            "bypass_account_dedupe_check",
            "bypass_contact_dedupe_check",
        }

    @given(st.lists(conversions(), min_size=1, max_size=5))
    def test_envelopes_validate_against_wsdl(
        self,
        partner_schema: xmlschema.XMLSchema,
        backend: SalesforceBackend,
        items: list[Conversion],
    ) -> None:
        """Every planned convertLead validates against the v58 WSDL (element order, types, nils)."""
        for call in plan(backend, *items).calls:
            root = ET.fromstring(shown(backend, call))
            for element in (
                root.find(f".//{{{PARTNER_NS}}}convertLead"),
                root.find(f".//{{{PARTNER_NS}}}SessionHeader"),
            ):
                assert element is not None
                partner_schema.validate(ET.tostring(element, encoding="unicode"))
            for lead_convert in root.iter(f"{{{PARTNER_NS}}}leadConverts"):
                names = [child.tag.rpartition("}")[2] for child in lead_convert]
                assert names == sorted(names, key=LEAD_CONVERT_ORDER.index)
                assert all(child.text for child in lead_convert)

    def test_schema_rejects_wrong_order(self, partner_schema: xmlschema.XMLSchema) -> None:
        """The relaxed schema still enforces the WSDL order (the check has teeth)."""
        bad = (
            f'<convertLead xmlns="{PARTNER_NS}"><leadConverts><leadId>{to_18(LEAD)}</leadId>'
            "<convertedStatus>x</convertedStatus><doNotCreateOpportunity>true</doNotCreateOpportunity>"
            "<overwriteLeadSource>false</overwriteLeadSource><sendNotificationEmail>false"
            "</sendNotificationEmail></leadConverts></convertLead>"
        )
        assert not partner_schema.is_valid(bad)


class TestSalesforceRoundTrip:
    @given(st.lists(conversions(), min_size=1, max_size=4))
    def test_envelope_round_trip(self, backend: SalesforceBackend, items: list[Conversion]) -> None:
        """neutral -> envelope -> neutral is the identity, from the plan and from the shown plan."""
        calls = plan(backend, *items).calls
        assert backend.parse_native(calls) == items
        shown_calls = [attrs.evolve(c, request=backend.render(c.request)) for c in calls]
        assert all(c.request.content is None for c in shown_calls)
        assert backend.parse_native(shown_calls) == items

    def test_fifteen_character_ids_come_back_canonical(self, backend: SalesforceBackend) -> None:
        """15-character ids come back in their 18-character form."""
        body = shown(
            backend, plan(backend, Conversion(LEAD, account=MergeAccount(ACCOUNT))).calls[0]
        )
        assert parse(backend, body) == [
            Conversion(to_18(LEAD), account=MergeAccount(to_18(ACCOUNT)))
        ]

    def test_json_list(self, backend: SalesforceBackend) -> None:
        """A JSON list of LeadConvert objects is parsed too."""
        payload = (
            '[{"leadId": "00Q000000000001", "convertedStatus": "Closed - Converted", '
            '"doNotCreateOpportunity": false, "opportunityName": "Deal", "accountId": null, '
            '"bypassAccountDedupeCheck": true, "overwriteLeadSource": false, "sendNotificationEmail": true}]'
        )
        (conversion,) = parse(backend, payload)
        assert conversion == Conversion(
            LEAD,
            opportunity=CreateOpportunity("Deal"),
            converted_status="Closed - Converted",
            notify_new_owner=True,
            options=(SalesforceOptions(True, None),),
        )

    @pytest.mark.parametrize(
        "payload",
        [
            '[{"leadId": "00Q000000000001", "doNotCreateOpportunity": true, "opportunityName": "x"}]',
            '[{"leadId": "00Q000000000001", "doNotCreateOpportunity": false, "opportunityId": "006000000000001", "opportunityName": "x"}]',
            '[{"leadId": "00Q000000000001", "accountRecord": {}}]',
            "not a payload",
            "<a><b></a>",
        ],
    )
    def test_refused(self, backend: SalesforceBackend, payload: str) -> None:
        """Payloads the neutral model cannot express are refused with an InputError."""
        with pytest.raises(InputError):
            parse(backend, payload)


def _answer(results: str, status: int = 200) -> NativeAnswer:
    return NativeAnswer(
        status,
        (
            '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns="{PARTNER_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f"<convertLeadResponse>{results}</convertLeadResponse></soapenv:Body></soapenv:Envelope>"
        ).encode(),
    )


def _fault(code: str) -> NativeAnswer:
    return NativeAnswer(
        500,
        (
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>sf:{code}</faultcode><faultstring>{code}: boom</faultstring><detail>"
            f"<sf:UnexpectedErrorFault><sf:exceptionCode>{code}</sf:exceptionCode>"
            "</sf:UnexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        ).encode(),
        {"Retry-After": "7"},
    )


OK = (
    "<result><accountId>001000000000001AAA</accountId><contactId>003000000000001AAA</contactId>"
    '<leadId>00Q000000000001EAA</leadId><opportunityId xsi:nil="true"/><success>true</success></result>'
)


def _failed(status: str, lead: str = "00Q000000000002") -> str:
    return (
        '<result><accountId xsi:nil="true"/><contactId xsi:nil="true"/><errors><fields>x</fields>'
        f"<message>nope</message><statusCode>{status}</statusCode></errors><leadId>{to_18(lead)}</leadId>"
        '<opportunityId xsi:nil="true"/><success>false</success></result>'
    )


class TestSalesforceAnswers:
    @pytest.fixture
    def call(self, backend: SalesforceBackend) -> lc.backend.PlannedCall:
        return plan(backend, Conversion(LEAD), Conversion("00Q000000000002")).calls[0]

    def test_partial_success_and_nil_ids(
        self, backend: SalesforceBackend, call: lc.backend.PlannedCall
    ) -> None:
        """One result per input in order; a nil id is None; a failure carries its codes."""
        ok, failed = read_answer(call, _answer(OK + _failed("INVALID_STATUS")))
        assert ok.outcome is Outcome.CONVERTED and ok.lead_id == LEAD
        assert ok.account_id == "001000000000001AAA" and ok.opportunity_id is None
        assert failed.outcome is Outcome.FAILED and failed.error is not None
        assert failed.error.code is ErrorCode.INVALID_STATUS
        assert failed.error.backend_code == "INVALID_STATUS" and failed.error.fields == ("x",)

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            ("INVALID_CROSS_REFERENCE_KEY", ErrorCode.INVALID_REFERENCE),
            ("ENTITY_IS_DELETED", ErrorCode.INVALID_REFERENCE),
            ("REQUIRED_FIELD_MISSING", ErrorCode.REQUIRED_FIELD_MISSING),
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ErrorCode.INVALID_DATA),
            ("STRING_TOO_LONG", ErrorCode.INVALID_DATA),
            ("DUPLICATES_DETECTED", ErrorCode.DUPLICATE),
            ("INSUFFICIENT_ACCESS_OR_READONLY", ErrorCode.PERMISSION_DENIED),
            ("UNABLE_TO_LOCK_ROW", ErrorCode.LOCKED),
            ("SOMETHING_NEW", ErrorCode.UNKNOWN),
        ],
    )
    def test_status_codes(
        self, backend: SalesforceBackend, call: lc.backend.PlannedCall, status: str, code: ErrorCode
    ) -> None:
        """Per-record status codes map to neutral codes."""
        result = read_answer(call, _answer(OK + _failed(status)))[1]
        assert result.error is not None and result.error.code is code

    def test_already_converted(
        self, backend: SalesforceBackend, call: lc.backend.PlannedCall
    ) -> None:
        """CANNOT_UPDATE_CONVERTED_LEAD is the already-converted outcome."""
        result = read_answer(call, _answer(OK + _failed("CANNOT_UPDATE_CONVERTED_LEAD")))[1]
        assert result.outcome is Outcome.ALREADY_CONVERTED

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("INVALID_SESSION_ID", AuthenticationError),
            ("REQUEST_LIMIT_EXCEEDED", RateLimitedError),
            ("SERVER_UNAVAILABLE", ServerError),
        ],
    )
    def test_faults_raise(
        self,
        backend: SalesforceBackend,
        call: lc.backend.PlannedCall,
        code: str,
        error: type[Exception],
    ) -> None:
        """Session, rate-limit and outage faults raise typed errors."""
        with pytest.raises(error) as info:
            read_answer(call, _fault(code))
        assert getattr(info.value, "backend_code", None) == code
        if error is RateLimitedError:
            assert info.value.retry_after == 7.0  # type: ignore[attr-defined]

    def test_limit_fault_fails_every_lead(
        self, backend: SalesforceBackend, call: lc.backend.PlannedCall
    ) -> None:
        """EXCEEDED_LEAD_CONVERT_LIMIT fails every lead with limit_exceeded."""
        results = read_answer(call, _fault("EXCEEDED_LEAD_CONVERT_LIMIT"))
        assert [r.error.code for r in results if r.error] == [ErrorCode.LIMIT_EXCEEDED] * 2

    @pytest.mark.parametrize(
        "answer",
        [
            _answer(OK),
            NativeAnswer(200, b"<not xml"),
            NativeAnswer(200, b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"),
        ],
    )
    def test_protocol_errors(
        self, backend: SalesforceBackend, call: lc.backend.PlannedCall, answer: NativeAnswer
    ) -> None:
        """A wrong result count, a body that is not XML, or entities are protocol errors."""
        with pytest.raises(ProtocolError):
            read_answer(call, answer)

    def test_plain_5xx(self, backend: SalesforceBackend, call: lc.backend.PlannedCall) -> None:
        """A 5xx without a SOAP fault is a server error."""
        with pytest.raises(ServerError):
            read_answer(call, NativeAnswer(503, b"Service Unavailable"))
