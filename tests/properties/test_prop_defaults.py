"""Defaults fill only what a conversion left unset; "create, let the CRM name it" travels through
every neutral form (model, JSON, schema, CSV)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import leadconvert
from leadconvert import (
    ConfigurationError,
    Conversion,
    CreateOpportunity,
    Defaults,
    NeutralConverter,
    NoOpportunity,
    read_records,
)
from leadconvert._schema import conversion_schema
from leadconvert.testing import conversions

DEFAULTS = Defaults.parse(
    [
        "opportunity.name=Named by default",
        "opportunity.stage=Qualification",
        "opportunity.close_date=2026-12-31",
        "opportunity.pipeline=Standard",
        "opportunity.amount=10.50",
        "opportunity.fields.Lead_Source=Web",
        "owner_id=3652397000000281001",
        "converted_status=Closed - Converted",
    ]
)


@given(conversions())
def test_defaults_fill_only_what_is_unset(conversion: Conversion) -> None:
    """A value the conversion gives always wins; applying twice changes nothing more; the
    applied paths are exactly the fields that changed; no opportunity is ever created."""
    applied = DEFAULTS.apply(conversion)
    after = applied.conversion
    assert type(after.opportunity) is type(conversion.opportunity)
    assert DEFAULTS.apply(after).conversion == after and not DEFAULTS.apply(after).applied
    for path, value in applied.applied.items():
        head, _, rest = path.partition(".")
        if head == "opportunity":
            before, now = conversion.opportunity, after.opportunity
            assert isinstance(before, CreateOpportunity) and isinstance(now, CreateOpportunity)
            if rest.startswith("fields."):
                name = rest.removeprefix("fields.")
                assert name not in before.fields and now.fields[name] == value
            else:
                assert getattr(before, rest) is None and getattr(now, rest) == value
        else:
            assert getattr(conversion, path) is None and getattr(after, path) == value
    untouched = {
        f.name
        for f in attrs.fields(Conversion)
        if f.name not in {p.partition(".")[0] for p in applied.applied}
    }
    for name in untouched:
        assert getattr(after, name) == getattr(conversion, name)
    assert {n.path for n in applied.notes()} == set(applied.applied)


def test_from_config_table_and_flags() -> None:
    """A [zoho.defaults] table (TOML nests dotted keys) and --default flags on top of it."""
    table = {"opportunity": {"stage": "Qualification", "close_date": dt.date(2026, 1, 31)}}
    merged = Defaults.from_mapping(table).merged(Defaults.parse(["opportunity.stage=Won"]))
    assert dict(merged.values) == {
        "opportunity.stage": "Won",
        "opportunity.close_date": dt.date(2026, 1, 31),
    }


@pytest.mark.parametrize(
    "pair",
    [
        "opportunity.bogus=x",
        "opportunity.close_date=31/12/2026",
        "opportunity.amount=1e3",
        "opportunity.stage=",
        "no equals sign",
        "owner_id=has space",
    ],
)
def test_bad_defaults_are_configuration_errors(pair: str) -> None:
    with pytest.raises(ConfigurationError):
        Defaults.parse([pair])


def test_unnamed_opportunity_in_every_neutral_form(
    tmp_path: Path, registry: leadconvert.Registry
) -> None:
    """{"action": "create"} with no name: model, JSON (both ways), schema, and CSV."""
    converter = NeutralConverter({b.name: b.options_type for b in registry if b.options_type})
    conversion = Conversion("1", opportunity=CreateOpportunity(stage="Prospecting"))
    data = converter.unstructure(conversion)
    assert data["opportunity"] == {"action": "create", "stage": "Prospecting"}
    assert converter.structure(data) == conversion
    jsonschema.validate(data, conversion_schema(list(registry)))
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "lead_id,create_opportunity,opportunity_name\n1,true,\n2,,Named\n3,,\n4,false,\n",
        encoding="utf-8",
    )
    got = [r.conversion.opportunity for r in read_records(csv, converter) if r.conversion]
    assert got == [
        CreateOpportunity(),
        CreateOpportunity("Named"),
        NoOpportunity(),
        NoOpportunity(),
    ]


def test_strategies_draw_unnamed_opportunities() -> None:
    """The strategies reach the new meaning (so every property exercises it)."""
    seen: list[bool] = []

    @given(conversions(opportunity=st.builds(CreateOpportunity, name=st.none() | st.just("n"))))
    def prop(conversion: Conversion) -> None:
        assert isinstance(conversion.opportunity, CreateOpportunity)
        seen.append(conversion.opportunity.name is None)

    prop()
    assert any(seen)
