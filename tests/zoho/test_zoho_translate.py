"""Pure translation: golden payloads, Zoho's rules, the planner, parsing and round trips."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leadconvert_zoho import ModuleRef, ZohoBackend, ZohoOptions
from zoho_helpers import EXAMPLES, example

from leadconvert import (
    AttachOpportunity,
    CarryOverTags,
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    InputError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Mode,
    Module,
    NeutralConverter,
    check,
    dumps_json,
    loads_json,
    read_native,
)
from leadconvert.backend import MEANINGS, PlanItem, Support

OWNER = "3652397000000281001"
MASS_SETTINGS = {"contacts_module_id": "3652397000000002179"}


def neutral(converter: NeutralConverter, name: str) -> list[Conversion]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    return [converter.structure(loads_json(line)) for line in text.splitlines() if line.strip()]


def wire(value: Any) -> Any:
    """A body as it goes on the wire and comes back (Decimal written as an exact number)."""
    return loads_json(dumps_json(value))


def parse(zoho: ZohoBackend, payload: str) -> list[Conversion]:
    """What ``leadconvert parse -b zoho`` reads from a payload file."""
    return zoho.parse_native(read_native(payload))


def items(conversions: list[Conversion]) -> list[PlanItem]:
    return [PlanItem(c) for c in conversions]


def rules(zoho: ZohoBackend, conversion: Conversion) -> set[str]:
    return {v.rule for v in zoho.validate(conversion)}


class TestZohoDeclarations:
    def test_capabilities_cover_every_meaning(self, zoho: ZohoBackend) -> None:
        """Both columns declare every meaning of the contract, and converted_status is ignored."""
        assert [c.title for c in zoho.capabilities] == ["Zoho single convert", "Zoho mass convert"]
        for column in zoho.capabilities:
            assert set(column.entries) == set(MEANINGS)
            assert column.entries["converted_status"].support is Support.IGNORED

    def test_options_schema_is_closed(self, zoho: ZohoBackend) -> None:
        """The options schema forbids unknown keys."""
        schema = zoho.options_schema()
        assert schema is not None and schema["additionalProperties"] is False

    def test_options_round_trip_through_neutral_json(self, converter: NeutralConverter) -> None:
        """options.zoho structures into ZohoOptions and back."""
        data = {
            "lead_id": "1",
            "owner_id": "2",
            "options": {"zoho": {"related_modules": [{"api_name": "Tasks", "id": "3"}]}},
        }
        conversion = converter.structure(data)
        assert conversion.options == (ZohoOptions(related_modules=(ModuleRef("Tasks", "3"),)),)
        assert converter.unstructure(conversion) == data


class TestZohoGolden:
    def test_documented_single_convert_body(
        self, zoho: ZohoBackend, converter: NeutralConverter
    ) -> None:
        """The neutral form of the documented sample plans to exactly the documented body."""
        plan = zoho.plan(items(neutral(converter, "convert-lead.jsonl")), {"api_version": "v7"})
        (call,) = plan.calls
        assert call.kind == "convert"
        assert call.request.path == "/crm/v7/Leads/3652397000007566544/actions/convert"
        assert wire(call.request.json) == example("convert-lead.body.json")
        assert 'Amount": 20000000,' in dumps_json(call.request.json)

    def test_documented_mass_convert_body(
        self, zoho: ZohoBackend, converter: NeutralConverter
    ) -> None:
        """Two leads sharing the documented options plan to exactly the documented mass body."""
        plan = zoho.plan(items(neutral(converter, "mass-convert.jsonl")), MASS_SETTINGS)
        (call,) = plan.calls
        assert call.kind == "mass_convert"
        assert call.request.path == "/crm/v8/Leads/actions/mass_convert"
        assert wire(call.request.json) == example("mass-convert.body.json")

    @pytest.mark.parametrize(
        "name",
        ["convert-lead.body.json", "kaizen-merge.body.json", "kaizen-create.body.json"],
    )
    def test_single_bodies_round_trip(self, zoho: ZohoBackend, name: str) -> None:
        """Documented single-convert body -> neutral -> body is the identity."""
        body = example(name)
        payload = dumps_json({"lead_id": "4876876000007400001", "json": body})
        (conversion,) = parse(zoho, payload)
        plan = zoho.plan([PlanItem(conversion)], {})
        assert wire(plan.calls[0].request.json) == body

    def test_mass_body_round_trips(self, zoho: ZohoBackend) -> None:
        """Documented mass-convert body -> neutral -> body is the identity."""
        body = example("mass-convert.body.json")
        conversions = parse(zoho, dumps_json(body))
        assert [c.lead_id for c in conversions] == body["ids"]
        plan = zoho.plan(items(conversions), MASS_SETTINGS)
        assert wire(plan.calls[0].request.json) == body

    def test_kaizen_merge_meaning(self, zoho: ZohoBackend) -> None:
        """The Kaizen merge sample reads as merges into the matched account and contact."""
        body = example("kaizen-merge.body.json")
        (c,) = parse(zoho, dumps_json({"lead_id": "1", "json": body}))
        assert c.account == MergeAccount("4876876000007421010")
        assert c.contact == MergeContact("4876876000007421001")
        assert isinstance(c.opportunity, CreateOpportunity)
        assert c.opportunity.amount == Decimal(20000000)

    def test_parse_plan_request_and_whole_plan(self, zoho: ZohoBackend) -> None:
        """A planned request and a whole plan JSON both parse back to their conversions."""
        request = example("convert-lead.request.json")
        (c,) = parse(zoho, dumps_json(request))
        assert c.lead_id == "3652397000007566544"
        whole = {
            "backend": "zoho",
            "requests": [
                request,
                {
                    "path": "/crm/v8/Leads/actions/mass_convert",
                    "json": example("mass-convert.body.json"),
                },
            ],
        }
        assert len(parse(zoho, dumps_json(whole))) == 3

    def test_bare_single_body_needs_lead_id(self, zoho: ZohoBackend) -> None:
        """A bare single-convert body is refused with a hint: it carries no lead id."""
        with pytest.raises(InputError, match="lead id"):
            parse(zoho, dumps_json(example("kaizen-create.body.json")))

    def test_unknown_key_is_refused(self, zoho: ZohoBackend) -> None:
        """parse_native refuses keys Zoho does not document."""
        with pytest.raises(InputError):
            parse(zoho, dumps_json({"lead_id": "1", "json": {"data": [{"Bogus": 1}]}}))

    def test_v8_add_to_existing_record(self, zoho: ZohoBackend) -> None:
        """add_to_existing_record is sent on v8 and warned (not sent) on v7."""
        c = Conversion(
            "1", account=MergeAccount("2"), options=(ZohoOptions(add_to_existing_record=True),)
        )
        v8 = zoho.plan([PlanItem(c)], {"api_version": "v8"})
        assert v8.calls[0].request.json["data"][0]["add_to_existing_record"] is True
        v7 = zoho.plan([PlanItem(c)], {"api_version": "v7"})
        assert "add_to_existing_record" not in v7.calls[0].request.json["data"][0]
        assert [w.violation.rule for w in v7.warnings] == ["zoho.add_to_existing_record.v8_only"]


DEAL = CreateOpportunity(
    "D", stage="Qualification", close_date=dt.date(2025, 1, 1), pipeline="Standard (Standard)"
)


class TestZohoRules:
    def test_deal_needs_close_date_stage_pipeline(self, zoho: ZohoBackend) -> None:
        """A deal without close date, stage and pipeline breaks three rules at once."""
        found = zoho.validate(Conversion("1", opportunity=CreateOpportunity("D")))
        assert {(v.rule, v.path) for v in found} == {
            ("zoho.deal.close_date_required", "opportunity.close_date"),
            ("zoho.deal.stage_required", "opportunity.stage"),
            ("zoho.deal.pipeline_required", "opportunity.pipeline"),
        }

    def test_ids_are_numeric(self, zoho: ZohoBackend) -> None:
        """Lead, owner, account, contact and contact role ids must be numeric strings."""
        c = Conversion(
            "abc",
            owner_id="u1",
            account=MergeAccount("a1"),
            contact=MergeContact("c1"),
            opportunity=CreateOpportunity(
                DEAL.name,
                stage="S",
                close_date=dt.date(2025, 1, 1),
                pipeline="P",
                contact_role="r1",
            ),
        )
        paths = {v.path for v in zoho.validate(c) if v.rule == "zoho.id.syntax"}
        assert paths == {
            "lead_id",
            "owner_id",
            "account.id",
            "contact.id",
            "opportunity.contact_role",
        }

    @pytest.mark.parametrize(
        ("conversion", "rule"),
        [
            (Conversion("1", account=MergePersonAccount("2")), "zoho.account.person_account"),
            (Conversion("1", opportunity=AttachOpportunity("2")), "zoho.opportunity.attach"),
            (Conversion("1", overwrite_lead_source=True), "zoho.contact.overwrite_lead_source"),
        ],
    )
    def test_unsupported_meanings(
        self, zoho: ZohoBackend, conversion: Conversion, rule: str
    ) -> None:
        """Person accounts, attaching a deal and overwriting lead source are unsupported."""
        (v,) = zoho.validate(conversion)
        assert v.rule == rule and v.unsupported

    def test_lenient_turns_unsupported_into_warnings(self, zoho: ZohoBackend) -> None:
        """In lenient mode an unsupported option is a warning, not an error."""
        checked = check(zoho, Conversion("1", overwrite_lead_source=True), Mode.LENIENT)
        assert not checked.errors and len(checked.warnings) == 1

    def test_single_convert_options_are_valid(self, zoho: ZohoBackend) -> None:
        """Notify flags, per-lead targets and overwrite are valid (they force single convert)."""
        c = Conversion(
            "1",
            account=MergeAccount("2"),
            contact=MergeContact("3"),
            notify_lead_owner=True,
            notify_new_owner=True,
            overwrite_account_name=True,
            carry_over_tags=CarryOverTags(contacts=("t",)),
        )
        assert zoho.validate(c) == []

    def test_all_tags_need_an_owner(self, zoho: ZohoBackend) -> None:
        """ "all" tags need mass convert, which needs assign_to."""
        assert "zoho.mass_convert.owner_required" in rules(
            zoho, Conversion("1", carry_over_tags=CarryOverTags(contacts="all"))
        )

    def test_all_tags_conflict_with_single_only_options(self, zoho: ZohoBackend) -> None:
        """ "all" tags with a per-lead target cannot be one Zoho call: unsupported."""
        c = Conversion(
            "1", owner_id="2", account=MergeAccount("3"), carry_over_tags=CarryOverTags(deals="all")
        )
        found = [v for v in zoho.validate(c) if v.rule == "zoho.mass_convert.conflict"]
        assert found and all(v.unsupported for v in found)

    def test_deal_field_conflict(self, zoho: ZohoBackend) -> None:
        """A named Deals key cannot also come through opportunity.fields."""
        opp = CreateOpportunity(
            "D", stage="S", close_date=dt.date(2025, 1, 1), pipeline="P", fields={"Stage": "x"}
        )
        assert "zoho.deal.field_conflict" in rules(zoho, Conversion("1", opportunity=opp))

    def test_add_to_existing_record_needs_target(self, zoho: ZohoBackend) -> None:
        """add_to_existing_record without an account or contact to add to is a violation."""
        c = Conversion("1", options=(ZohoOptions(add_to_existing_record=True),))
        assert "zoho.add_to_existing_record.needs_target" in rules(zoho, c)

    def test_converted_status_is_ignored_with_warning(self, zoho: ZohoBackend) -> None:
        """converted_status is valid but warned in the plan and never sent."""
        c = Conversion("1", converted_status="Qualified")
        assert zoho.validate(c) == []
        plan = zoho.plan([PlanItem(c)], {})
        assert [w.violation.rule for w in plan.warnings] == ["zoho.converted_status.ignored"]
        assert "Qualified" not in dumps_json(plan.calls[0].request.json)

    def test_bad_api_version(self, zoho: ZohoBackend) -> None:
        """An unknown api_version is a configuration error."""
        with pytest.raises(ConfigurationError):
            zoho.plan([PlanItem(Conversion("1"))], {"api_version": "v2"})


class TestZohoPlan:
    def test_120_compatible_leads_make_3_mass_calls(self, zoho: ZohoBackend) -> None:
        """120 leads sharing options give mass-convert calls of 50, 50 and 20, in input order."""
        ids = [str(1000 + i) for i in range(120)]
        plan = zoho.plan(items([Conversion(i, owner_id=OWNER, opportunity=DEAL) for i in ids]), {})
        assert [c.kind for c in plan.calls] == ["mass_convert"] * 3
        assert [len(c.lead_ids) for c in plan.calls] == [50, 50, 20]
        assert [lead for c in plan.calls for lead in c.lead_ids] == ids
        assert all(c.reason for c in plan.calls)

    def test_per_lead_option_forces_single_converts(self, zoho: ZohoBackend) -> None:
        """Leads with per-lead Accounts targets are planned one single convert each, with why."""
        plan = zoho.plan(
            items(
                [Conversion(str(i), owner_id=OWNER, account=MergeAccount("9")) for i in range(3)]
            ),
            {},
        )
        assert [c.kind for c in plan.calls] == ["convert"] * 3
        assert "per-lead Accounts target" in plan.calls[0].reason

    def test_lead_without_owner_goes_single(self, zoho: ZohoBackend) -> None:
        """Mass convert needs assign_to: leads without an owner are single converts."""
        plan = zoho.plan(items([Conversion("1"), Conversion("2")]), {})
        assert [c.kind for c in plan.calls] == ["convert", "convert"]
        assert "assign_to" in plan.calls[0].reason

    def test_groups_by_options(self, zoho: ZohoBackend) -> None:
        """Leads group by identical options; order follows each group's first lead."""
        a = [Conversion(str(i), owner_id=OWNER) for i in range(3)]
        b = [Conversion(str(10 + i), owner_id="5") for i in range(2)]
        plan = zoho.plan(items([a[0], b[0], a[1], b[1], a[2]]), {})
        assert [c.lead_ids for c in plan.calls] == [("0", "1", "2"), ("10", "11")]

    def test_lone_lead_uses_single_convert(self, zoho: ZohoBackend) -> None:
        """A lead whose options nobody shares goes single convert (answers at once)."""
        (call,) = zoho.plan([PlanItem(Conversion("1", owner_id=OWNER))], {}).calls
        assert call.kind == "convert" and "no other lead" in call.reason

    def test_all_tags_need_module_ids(self, zoho: ZohoBackend) -> None:
        """ "all" tags without the module id setting is a configuration error, never dropped."""
        c = [
            Conversion(str(i), owner_id=OWNER, carry_over_tags=CarryOverTags(accounts="all"))
            for i in range(2)
        ]
        with pytest.raises(ConfigurationError, match="accounts_module_id"):
            zoho.plan(items(c), {})

    def test_attachments_without_module_id_go_single(self, zoho: ZohoBackend) -> None:
        """move_attachments_to without the module id setting falls back to single convert."""
        c = [Conversion(str(i), owner_id=OWNER, move_attachments_to=Module.DEALS) for i in range(2)]
        plan = zoho.plan(items(c), {})
        assert [x.kind for x in plan.calls] == ["convert", "convert"]
        assert "deals_module_id" in plan.calls[0].reason
        plan = zoho.plan(items(c), {"deals_module_id": "7"})
        assert [x.kind for x in plan.calls] == ["mass_convert"]

    def test_plan_is_deterministic(self, zoho: ZohoBackend) -> None:
        """The same input gives the same plan."""
        c = items([Conversion(str(i), owner_id=OWNER if i % 2 else None) for i in range(20)])
        assert zoho.plan(c, {}) == zoho.plan(c, {})


ids = st.from_regex(r"[1-9][0-9]{5,18}", fullmatch=True)
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
).filter(str.strip)
tags = st.lists(text, max_size=3, unique=True).map(tuple)
deals = st.builds(
    CreateOpportunity,
    name=text,
    stage=text,
    close_date=st.dates(),
    pipeline=text,
    amount=st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2),
    contact_role=st.none() | ids,
    fields=st.dictionaries(
        st.sampled_from(["Description", "Probability", "Type"]), st.integers() | text, max_size=2
    ),
)
single = st.builds(
    Conversion,
    lead_id=ids,
    account=st.just(None).map(lambda _: Conversion("1").account) | ids.map(MergeAccount),
    contact=st.just(None).map(lambda _: Conversion("1").contact) | ids.map(MergeContact),
    opportunity=st.just(Conversion("1").opportunity) | deals,
    owner_id=st.none() | ids,
    notify_lead_owner=st.booleans(),
    notify_new_owner=st.booleans(),
    overwrite_account_name=st.booleans(),
    move_attachments_to=st.none() | st.sampled_from(list(Module)),
    carry_over_tags=st.builds(CarryOverTags, contacts=tags, accounts=tags, deals=tags),
)


class TestZohoRoundTrip:
    @given(single)
    def test_single_convert_round_trip(self, conversion: Conversion) -> None:
        """neutral -> single-convert body -> neutral is the identity for valid conversions."""
        zoho = ZohoBackend()
        assert zoho.validate(conversion) == []
        (call,) = zoho.plan([PlanItem(conversion)], {}).calls
        request = {"path": call.request.path, "json": wire(call.request.json)}
        assert parse(zoho, dumps_json(request)) == [conversion]

    @given(
        st.lists(ids, min_size=2, max_size=60, unique=True),
        ids,
        st.none() | deals,
        st.sampled_from([CarryOverTags(), CarryOverTags(contacts="all", deals="all")]),
        st.none() | st.sampled_from(list(Module)),
        st.none() | st.booleans(),
    )
    def test_mass_convert_round_trip(
        self,
        lead_ids: list[str],
        owner: str,
        deal: CreateOpportunity | None,
        tag_sel: CarryOverTags,
        attachments: Module | None,
        threshold: bool | None,
    ) -> None:
        """neutral -> mass-convert bodies -> neutral is the identity for shared options."""
        zoho = ZohoBackend()
        opts = (ZohoOptions(apply_assignment_threshold=threshold),) if threshold is not None else ()
        conversions = [
            Conversion(
                i,
                owner_id=owner,
                opportunity=deal or Conversion("1").opportunity,
                carry_over_tags=tag_sel,
                move_attachments_to=attachments,
                options=opts,
            )
            for i in lead_ids
        ]
        settings = {"contacts_module_id": "1", "accounts_module_id": "2", "deals_module_id": "3"}
        plan = zoho.plan(items(conversions), settings)
        assert all(c.kind == "mass_convert" for c in plan.calls)
        back = [c for call in plan.calls for c in parse(zoho, dumps_json(wire(call.request.json)))]
        assert back == conversions
