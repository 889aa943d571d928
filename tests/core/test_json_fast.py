"""The neutral JSON form's fast path: the same conversions, or the detailed path's violations.

``NeutralConverter.violations`` first tries a fast path that checks each value once and builds
the model objects without attrs' validators. It must never accept what the detailed path (cattrs'
hooks, then attrs' validators) refuses, and what it accepts must be exactly what the detailed
path builds; everything else goes the detailed way, so violations are the detailed path's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import leadconvert
from leadconvert import (
    CarryOverTags,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    NeutralConverter,
    Registry,
    dumps_json,
    loads_json,
)
from leadconvert._json import _DECODER, _quick_conversion, json_writer, loads_json_line
from leadconvert._model import FieldError, trusted_constructor
from leadconvert.testing import conversions


@pytest.fixture(scope="module")
def fast(registry: Registry) -> NeutralConverter:
    return NeutralConverter({b.name: b.options_type for b in registry if b.options_type})


@pytest.fixture(scope="module")
def detailed(registry: Registry) -> NeutralConverter:
    converter = NeutralConverter({b.name: b.options_type for b in registry if b.options_type})
    converter.cattrs  # noqa: B018 - taking the cattrs converter turns the fast path off
    return converter


def _same(left: Any, right: Any) -> None:
    """Equal, and equal field by field with the same types (Decimal('1') is not Decimal('1.0'))."""
    assert left == right
    assert repr(left) == repr(right)
    assert type(left) is type(right)
    if attrs.has(type(left)):
        for attribute in attrs.fields(type(left)):
            _same(getattr(left, attribute.name), getattr(right, attribute.name))


def _check(data: Any, fast: NeutralConverter, detailed: NeutralConverter) -> Conversion | None:
    quick = _quick_conversion(data, fast._structure_options) if type(data) is dict else None
    assert fast.violations(data) == detailed.violations(data)
    expected, problems = detailed.violations(data)
    if quick is not None:
        assert not problems, f"the fast path took what the detailed path refuses: {problems}"
        _same(quick, expected)
    return quick


# Values near the ones each field takes, and some that break its rules.
_ids = st.sampled_from(["4876876000007421010", "00QB00000000000MAA", "x", "a b", "", " ", "a\n"])
_texts = st.sampled_from(["Spring", "", "  ", "\t", "a\x00b", "all", "contacts", "deals"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([Decimal("1.50"), Decimal("1"), Decimal("1E+2"), Decimal("-0.0")])
    | st.sampled_from(["2026-12-31", "2026-02-30", "2026-1-1", "1500.00", " 2.5 ", "1e3", "NaN"])
    | _ids
    | _texts
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["action", "id", "name", "x", "contacts"]), inner, max_size=3
        )
    ),
    max_leaves=6,
)
_actions = st.sampled_from(["create", "merge", "merge_person_account", "none", "attach", "Create"])
_opportunity_keys = st.sampled_from(
    ["name", "stage", "close_date", "pipeline", "amount", "contact_role", "fields", "extra"]
)
_targets = st.fixed_dictionaries(
    {"action": _actions},
    optional={"id": _ids | _scalars, "name": _texts | _scalars, "extra": _scalars},
)
_opportunities = st.builds(
    lambda action, rest: {"action": action, **rest},
    _actions,
    st.dictionaries(
        _opportunity_keys,
        _scalars | _json | st.dictionaries(_texts, _scalars, max_size=2),
        max_size=4,
    ),
)
_tags = st.dictionaries(
    st.sampled_from(["contacts", "accounts", "deals", "other"]),
    st.sampled_from(["all", "*", ""]) | st.lists(_texts, max_size=3) | _scalars,
    max_size=3,
)
_options = st.dictionaries(
    st.sampled_from(["salesforce", "zoho", "dynamics", "other"]),
    st.dictionaries(
        st.sampled_from(["bypass_account_dedupe_check", "trigger", "x"]), _scalars, max_size=2
    )
    | _scalars,
    max_size=2,
)
_fields = {
    "lead_id": _ids | _scalars,
    "account": _targets | _json,
    "contact": _targets | _json,
    "opportunity": _opportunities | _json,
    "owner_id": _ids | _scalars,
    "notify_lead_owner": _scalars,
    "notify_new_owner": _scalars,
    "overwrite_account_name": _scalars,
    "overwrite_lead_source": _scalars,
    "converted_status": _texts | _scalars,
    "move_attachments_to": st.sampled_from(["contacts", "accounts", "deals", "Deals"]) | _scalars,
    "carry_over_tags": _tags | _json,
    "options": _options | _json,
    "unknown": _scalars,
}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    """A record of keys and values drawn near the neutral form's."""
    keys = draw(st.lists(st.sampled_from(sorted(_fields)), unique=True, max_size=6))
    if draw(st.booleans()):
        keys.insert(0, "lead_id")
    return {key: draw(_fields[key]) for key in dict.fromkeys(keys)}


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid conversion's canonical JSON with one or two values (or nested ones) replaced."""
    data: dict[str, Any] = loads_json(
        dumps_json(NeutralConverter({}).unstructure(draw(conversions())))
    )
    for key in draw(st.lists(st.sampled_from(sorted(_fields)), max_size=2)):
        inner = data.get(key)
        if isinstance(inner, dict) and inner and draw(st.booleans()):
            inner[draw(st.sampled_from(sorted(inner)))] = draw(_scalars | _json)
        else:
            data[key] = draw(_fields[key])
    return data


class TestFastPath:
    @given(data=conversions())
    def test_takes_every_canonical_conversion(
        self, data: Conversion, fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """Every conversion, through its canonical JSON text, takes the fast path unchanged."""
        text = dumps_json(fast.unstructure(data))
        quick = _check(loads_json(text), fast, detailed)
        if "options" not in text:
            assert quick is not None
            _same(quick, data)

    @given(data=_records())
    def test_never_accepts_what_the_detailed_path_refuses(
        self, data: dict[str, Any], fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """Near-valid and invalid records: the same conversion or the same violations."""
        _check(data, fast, detailed)

    @given(data=_mutated())
    def test_valid_records_with_a_value_changed(
        self, data: dict[str, Any], fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """Valid records with a value replaced: the same conversion or the same violations."""
        _check(data, fast, detailed)

    @given(data=_records() | _mutated())
    def test_same_answer_twice(
        self, data: dict[str, Any], fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """Remembered values (ids, dates, amounts, opportunities) answer as the first time."""
        _check(data, fast, detailed)
        _check(data, fast, detailed)

    @pytest.mark.parametrize(
        "opportunity",
        [
            {"action": "create", "amount": "1"},
            {"action": "create", "amount": 1},
            {"action": "create", "amount": True},
            {"action": "create", "amount": Decimal("1.0")},
            {"action": "create", "amount": "1"},
        ],
    )
    def test_values_equal_across_types_are_not_confused(
        self, opportunity: dict[str, Any], fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """1, True, Decimal('1.0') and '1' compare equal in part; each is read as it is."""
        _check({"lead_id": "1", "opportunity": opportunity}, fast, detailed)

    @pytest.mark.parametrize(
        "data",
        [
            {
                "lead_id": "1",
                "opportunity": {"action": "create", "close_date": dt.date(2026, 1, 2)},
            },
            {"lead_id": "1", "carry_over_tags": {"contacts": ("a",)}},
            {"lead_id": "1", "move_attachments_to": leadconvert.Module.DEALS},
            {"lead_id": "1", "options": {"salesforce": {"bypass_account_dedupe_check": True}}},
            {"lead_id": "1", "options": {"salesforce": {"bypass_account_dedupe_check": 1}}},
            {"lead_id": "1", "options": {"nobody": {}}},
            {"lead_id": "1", "carry_over_tags": {"deals": ["a", "a"]}},
            {"lead_id": "1", "opportunity": {"action": "create", "fields": {" ": 1}}},
            {"lead_id": "1", "opportunity": {"action": "create", "fields": {"A": [1]}}},
            {"lead_id": "1\n"},
        ],
    )
    def test_python_values_and_edge_cases(
        self, data: dict[str, Any], fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        """Values given from Python (dates, tuples, enums) and rule edges: as the detailed path."""
        _check(data, fast, detailed)

    def test_options_structured_by_their_backend(
        self, registry: Registry, fast: NeutralConverter, detailed: NeutralConverter
    ) -> None:
        for backend in registry:
            if backend.options_type is None:
                continue
            data = {"lead_id": "1", "options": {backend.name: {}}}
            quick = _check(data, fast, detailed)
            assert quick is not None
            assert quick.options == (backend.options_type(),)

    def test_hooks_registered_on_cattrs_are_followed(self, registry: Registry) -> None:
        """Taking the cattrs converter turns the fast path off: its hooks then apply."""
        converter = NeutralConverter({b.name: b.options_type for b in registry if b.options_type})
        converter.cattrs.register_structure_hook(str, lambda value, _: str(value).upper())
        conversion = converter.structure({"lead_id": "abc", "owner_id": "xyz"})
        assert (conversion.lead_id, conversion.owner_id) == ("ABC", "XYZ")


class TestTrustedConstructor:
    def test_builds_what_the_class_builds(self) -> None:
        build = trusted_constructor(CreateOpportunity)
        fields = leadconvert.CreateOpportunity(name="x", amount="2.50").fields
        built = build("x", None, None, None, Decimal("2.50"), None, fields)
        _same(built, CreateOpportunity(name="x", amount="2.50"))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.name = "y"  # type: ignore[misc]

    def test_the_class_still_validates(self) -> None:
        trusted_constructor(MergeAccount)("a b")  # no check: the caller checked
        with pytest.raises(FieldError):
            MergeAccount("a b")
        with pytest.raises(FieldError):
            CarryOverTags(contacts=("a", "a"))

    def test_every_field_is_set(self) -> None:
        args = [object() for _ in attrs.fields(Conversion)]
        built = trusted_constructor(Conversion)(*args)
        assert [getattr(built, a.name) for a in attrs.fields(Conversion)] == args


def _read(load: Any, text: Any) -> tuple[str, str]:
    try:
        return "value", repr(load(text))
    except Exception as exc:
        return type(exc).__name__, str(exc)


_json_lines = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
).map(dumps_json)


class TestJsonLine:
    @given(
        text=_json_lines.flatmap(
            lambda line: st.sampled_from(
                [line, line + "\n", line + "\r\n", " " + line, "\ufeff" + line, line + " x\n"]
            )
        )
        | st.text(max_size=12)
    )
    def test_same_value_or_same_error(self, text: str) -> None:
        """loads_json_line reads a line as loads_json does: the same value or the same error."""
        assert _read(loads_json_line, text) == _read(loads_json, text)


_writable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    # Finite: a float that is not is the one value the writer does not refuse (json_writer).
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False)
    | st.text(max_size=5)
    | st.just(object()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=2).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.integers() | st.none(), inner, max_size=3)
    ),
    max_leaves=6,
)


def _simplejson(text: str | bytes) -> Any:
    return _DECODER.decode(str(text, "utf-8") if isinstance(text, bytes) else text)


class TestLoadsJson:
    @given(text=_json_lines | st.text(max_size=30) | st.binary(max_size=30))
    def test_what_simplejson_reads(self, text: str | bytes) -> None:
        """msgspec reads first; the value (types included: Decimal, int) or the error is the
        one simplejson gives, on JSON and on anything else."""
        assert _read(loads_json, text) == _read(_simplejson, text)

    @pytest.mark.parametrize(
        "text",
        [
            '\ufeff{"a": 1}',
            '{"x": "\\ud800"}',
            '{"n": 1E400, "z": -0.0, "big": 123456789012345678901234567890, "a": 1, "a": 2}',
            "NaN",
            '{"k": 1}x',
            b'{"e": "\xc3\xa9", "f": 1.50}',
            b"\xff",
        ],
    )
    def test_edges(self, text: str | bytes) -> None:
        assert _read(loads_json, text) == _read(_simplejson, text)


def _outcome(dumps: Any, value: Any) -> tuple[str, Any]:
    """What ``dumps`` makes of ``value``: the JSON value of its text (numbers exact), or its
    error."""
    try:
        return "json", loads_json(dumps(value))
    except Exception as exc:
        return type(exc).__name__, str(exc)


class TestJsonWriter:
    @given(values=st.lists(_writable, min_size=1, max_size=5))
    def test_same_json_or_same_error(self, values: list[Any]) -> None:
        """A writer encodes value after value as dumps_json does, errors included."""
        write = json_writer()
        for value in values:
            assert _outcome(write, value) == _outcome(dumps_json, value)

    def test_compact_exact_decimals_and_what_msgspec_refuses(self) -> None:
        write = json_writer()
        assert write({"amount": Decimal("1500.00"), "n": 10**30, "l": [None, "é \n"]}) == (
            '{"amount":1500.00,"n":1000000000000000000000000000000,"l":[null,"é \\n"]}'
        )
        # A key msgspec refuses is written by dumps_json, as dumps_json writes it.
        assert write({None: 1}) == dumps_json({None: 1})
        with pytest.raises(TypeError):
            write({"x": object()})

    def test_circular_values_refused_every_time(self) -> None:
        write = json_writer()
        loop: list[Any] = []
        loop.append(loop)
        for _ in range(2):
            with pytest.raises(ValueError, match="Circular"):
                write(loop)
            assert write({"a": [1, 2]}) == '{"a":[1,2]}'
