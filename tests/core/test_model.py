"""The neutral model: explicit defaults, validation when built, immutability."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from leadconvert import (
    CarryOverTags,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    NoOpportunity,
)
from leadconvert._model import FieldError


class TestConversionDefaults:
    def test_defaults_are_explicit(self) -> None:
        """A bare conversion creates account and contact, no opportunity, and asks for nothing else."""
        c = Conversion(lead_id="42")
        assert c.account == CreateAccount()
        assert c.contact == CreateContact()
        assert c.opportunity == NoOpportunity()
        assert (c.notify_lead_owner, c.notify_new_owner) == (False, False)
        assert (c.overwrite_account_name, c.overwrite_lead_source) == (False, False)
        assert c.owner_id is None and c.converted_status is None
        assert c.move_attachments_to is None
        assert c.carry_over_tags.is_empty()
        assert c.options == ()

    def test_frozen(self) -> None:
        """A conversion cannot be changed after it is built."""
        c = Conversion(lead_id="42")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            c.lead_id = "43"  # type: ignore[misc]

    def test_fields_mapping_is_read_only(self) -> None:
        """Further opportunity fields are a read-only copy of what was given."""
        given = {"Description": "x"}
        opp = CreateOpportunity(name="Deal", fields=given)
        given["Description"] = "changed"
        assert opp.fields["Description"] == "x"
        with pytest.raises(TypeError):
            opp.fields["Description"] = "y"  # type: ignore[index]


class TestConversionValidation:
    @pytest.mark.parametrize("bad", ["", " ", "12 3", "a\x01b", "123\n", "\n123"])
    def test_lead_id_must_be_a_record_id(self, bad: str) -> None:
        """Blank ids and ids with whitespace or control characters are refused.

        A trailing newline included: ``$`` would have let it through (it matches before one).
        """
        with pytest.raises(FieldError) as info:
            Conversion(lead_id=bad)
        assert info.value.field == "lead_id"

    def test_target_types_are_checked(self) -> None:
        """A target of the wrong kind is refused when the conversion is built."""
        with pytest.raises(TypeError):
            Conversion(lead_id="1", account=CreateContact())  # type: ignore[arg-type]

    def test_amount_is_exact(self) -> None:
        """Amounts are Decimals; ints and decimal strings convert exactly, floats are refused."""
        assert CreateOpportunity(name="d", amount=20000000).amount == Decimal(20000000)  # type: ignore[arg-type]
        assert CreateOpportunity(name="d", amount="0.10").amount == Decimal("0.10")  # type: ignore[arg-type]
        with pytest.raises(FieldError):
            CreateOpportunity(name="d", amount=0.1)  # type: ignore[arg-type]

    def test_close_date_is_a_date(self) -> None:
        """The close date is a date, not a string."""
        with pytest.raises(TypeError):
            CreateOpportunity(name="d", close_date="2020-01-01")  # type: ignore[arg-type]
        assert CreateOpportunity(name="d", close_date=dt.date(2020, 1, 1)).close_date

    def test_tags_unique_and_named(self) -> None:
        """Tag lists hold distinct, non-blank names, or are "all"."""
        assert CarryOverTags(contacts=["a", "b"]).contacts == ("a", "b")  # type: ignore[arg-type]
        assert CarryOverTags(deals="all").by_module()
        with pytest.raises(FieldError):
            CarryOverTags(contacts=("a", "a"))
        with pytest.raises(FieldError):
            CarryOverTags(accounts=(" ",))

    def test_merge_needs_an_id(self) -> None:
        """Merging into an account needs that account's id."""
        with pytest.raises(FieldError):
            MergeAccount(id="")
