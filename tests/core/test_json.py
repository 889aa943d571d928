"""The neutral JSON form: one converter, exact round trips, every problem reported."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jsonschema
from hypothesis import given

from leadconvert import (
    Conversion,
    CreateOpportunity,
    MergeAccount,
    NeutralConverter,
    Registry,
    conversion_schema,
    dumps_json,
    loads_json,
)
from leadconvert.testing import conversions


def _option_types(registry: Registry) -> dict[str, Any]:
    return {b.name: b.options_type for b in registry if b.options_type is not None}


class TestRoundTrip:
    @given(data=conversions())
    def test_model_json_model(self, data: Conversion, converter: NeutralConverter) -> None:
        """structure(unstructure(x)) == x for every valid conversion."""
        assert converter.structure(converter.unstructure(data)) == data

    @given(data=conversions())
    def test_json_model_json(self, data: Conversion, converter: NeutralConverter) -> None:
        """Canonical JSON, through text and the model, comes back identical."""
        canonical = converter.unstructure(data)
        text = dumps_json(canonical)
        assert converter.unstructure(converter.structure(loads_json(text))) == canonical

    @given(data=conversions())
    def test_canonical_json_validates(
        self, data: Conversion, converter: NeutralConverter, registry: Registry
    ) -> None:
        """Every canonical conversion validates against the published JSON Schema."""
        jsonschema.Draft202012Validator(conversion_schema(registry)).validate(
            converter.unstructure(data)
        )

    def test_with_backend_options(self, registry: Registry, converter: NeutralConverter) -> None:
        """Installed backends' options survive the round trip under options.<backend>."""
        for name, option_type in _option_types(registry).items():
            c = Conversion(lead_id="1", options=(option_type(),))
            data = converter.unstructure(c)
            assert list(data["options"]) == [name]
            assert converter.structure(data) == c


class TestCanonicalForm:
    def test_defaults_left_out(self, converter: NeutralConverter) -> None:
        """The canonical form of a bare conversion is just its lead id."""
        assert converter.unstructure(Conversion(lead_id="7")) == {"lead_id": "7"}

    def test_targets_are_tagged(self, converter: NeutralConverter) -> None:
        """Targets carry an "action" tag first, then their fields."""
        data = converter.unstructure(Conversion(lead_id="7", account=MergeAccount(id="9")))
        assert list(data["account"].items()) == [("action", "merge"), ("id", "9")]

    def test_amount_never_through_float(self, converter: NeutralConverter) -> None:
        """A JSON number amount is read exactly and written back as a decimal string."""
        c = converter.structure(
            loads_json(
                '{"lead_id": "1", "opportunity": {"action": "create", "name": "d", '
                '"amount": 12345678901234567.10}}'
            )
        )
        assert isinstance(c.opportunity, CreateOpportunity)
        assert c.opportunity.amount == Decimal("12345678901234567.10")
        assert converter.unstructure(c)["opportunity"]["amount"] == "12345678901234567.10"

    def test_dumps_json_writes_exact_numbers(self) -> None:
        """Decimals are written as exact JSON numbers for native payloads."""
        assert dumps_json({"Amount": Decimal("0.10")}) == '{"Amount": 0.10}'


class TestViolations:
    def _rules(self, converter: NeutralConverter, text: str) -> set[tuple[str, str]]:
        conversion, problems = converter.violations(loads_json(text))
        assert conversion is None
        return {(v.rule, v.path) for v in problems}

    def test_every_problem_reported(self, converter: NeutralConverter) -> None:
        """All structural problems of one conversion are reported together, with paths."""
        rules = self._rules(
            converter,
            '{"lead_idx": "1", "notify_lead_owner": "yes", '
            '"opportunity": {"action": "create", "name": "d", "close_date": "2020-13-01"}}',
        )
        assert ("input.missing_field", "lead_id") in rules
        assert ("input.unknown_field", "") in rules
        assert ("input.invalid_value", "notify_lead_owner") in rules
        assert ("input.invalid_value", "opportunity.close_date") in rules

    def test_unknown_action(self, converter: NeutralConverter) -> None:
        """An unknown target action names the valid ones."""
        _, problems = converter.violations(
            loads_json('{"lead_id": "1", "account": {"action": "adopt"}}')
        )
        assert "one of create, merge, merge_person_account" in problems[0].message
        assert problems[0].path == "account"

    def test_strings_are_not_coerced(self, converter: NeutralConverter) -> None:
        """A number is not silently turned into an id string."""
        assert ("input.invalid_value", "lead_id") in self._rules(converter, '{"lead_id": 5}')

    def test_not_an_object(self, converter: NeutralConverter) -> None:
        """A line that is JSON but not an object is reported as such."""
        assert self._rules(converter, "[1, 2]") == {("input.not_object", "")}

    def test_unknown_backend_options(self, converter: NeutralConverter) -> None:
        """Options for a backend that is not installed are refused, not ignored."""
        assert ("input.invalid_value", "options") in self._rules(
            converter, '{"lead_id": "1", "options": {"nocrm": {}}}'
        )


def test_an_id_with_a_trailing_newline_is_refused_when_read(converter: NeutralConverter) -> None:
    """Read from JSON (the reader's fast path and the detailed one alike), ``"123\\n"`` is not an
    id: it names the field and the rule, and the conversion is not built."""
    for data in (
        {"lead_id": "123\n"},
        {"lead_id": "123", "owner_id": "9\n"},
        {"lead_id": "123", "account": {"action": "merge", "id": "7\n"}},
    ):
        conversion, violations = converter.violations(data)
        assert conversion is None, data
        assert [v.rule for v in violations] == ["input.invalid_value"], violations
        assert violations[0].path in ("lead_id", "owner_id", "account.id"), violations
