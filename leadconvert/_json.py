"""The neutral JSON form: one cattrs converter, built once per set of installed backends.

Canonical form: defaults are left out, targets are tagged with ``"action"``, dates are ISO 8601
strings and amounts are decimal strings (numbers are accepted on input and never pass through a
float: JSON is parsed with ``parse_float=Decimal``).
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import cattrs
import simplejson
from cattrs.gen import make_dict_unstructure_fn

from ._exceptions import InputError, ValidationError
from ._model import (
    AccountTarget,
    AttachOpportunity,
    BackendOptions,
    ContactTarget,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    FieldError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    NoOpportunity,
    OpportunityTarget,
)
from ._results import Violation

__all__ = [
    "ACTION_TAGS",
    "NeutralConverter",
    "dumps_json",
    "loads_json",
]

#: The ``"action"`` tag of each target class in the neutral JSON form.
ACTION_TAGS: Mapping[type, str] = {
    CreateAccount: "create",
    MergeAccount: "merge",
    MergePersonAccount: "merge_person_account",
    CreateContact: "create",
    MergeContact: "merge",
    NoOpportunity: "none",
    CreateOpportunity: "create",
    AttachOpportunity: "attach",
}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


# Built once, as simplejson builds its own default coders: ``loads(use_decimal=True)`` and
# ``dumps(use_decimal=True, ensure_ascii=False)`` would build one per call, with these settings.
_DECODER = simplejson.JSONDecoder(encoding=None, parse_float=Decimal)
_ENCODER = simplejson.JSONEncoder(
    skipkeys=False,
    ensure_ascii=False,
    check_circular=True,
    allow_nan=False,
    indent=None,
    separators=None,
    encoding="utf-8",
    default=None,
    use_decimal=True,
    namedtuple_as_object=True,
    tuple_as_array=True,
    iterable_as_array=False,
    bigint_as_string=False,
    sort_keys=False,
    item_sort_key=None,
    for_json=False,
    ignore_nan=False,
    int_as_string_bitcount=None,
)


def loads_json(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as an exact ``Decimal``."""
    # As simplejson.loads does it: bytes are read as UTF-8.
    return _DECODER.decode(str(text, "utf-8") if isinstance(text, bytes) else text)


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Write JSON with ``Decimal`` as an exact number literal, never through a float."""
    if indent is None:
        return _ENCODER.encode(value)
    return simplejson.dumps(value, use_decimal=True, indent=indent, ensure_ascii=False)


def _structure_date(value: Any, _: type) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"expected an ISO 8601 date YYYY-MM-DD, got {value!r}")
    return dt.date.fromisoformat(value)


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a decimal amount, got a boolean")
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, str) and _DECIMAL.match(value.strip()):
        amount = Decimal(value.strip())
    else:
        # A float here means the caller parsed JSON without parse_float=Decimal: refusing it
        # beats silently storing a rounded amount.
        raise TypeError(f"expected a decimal amount as a string or exact number, got {value!r}")
    if not amount.is_finite():
        raise ValueError(f"expected a finite amount, got {value!r}")
    return amount


def _structure_tags(value: Any, _: type) -> tuple[str, ...] | str:
    if value == "all":
        return "all"
    if isinstance(value, list | tuple) and all(isinstance(tag, str) for tag in value):
        return tuple(value)
    raise TypeError(f'expected a list of tag names or "all", got {value!r}')


def _structure_bool(value: Any, _: type) -> bool:
    # cattrs would take bool("no") for True; a flag must be a JSON boolean.
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _register_tagged_union(conv: cattrs.Converter, union: Any) -> None:
    members: tuple[type, ...] = typing.get_args(union)
    by_tag = {ACTION_TAGS[member]: member for member in members}
    expected = ", ".join(by_tag)
    field_fns: dict[type, Callable[[Any], dict[str, Any]]] = {
        member: make_dict_unstructure_fn(member, conv, _cattrs_omit_if_default=True)
        for member in members
    }

    def structure(value: Any, _: type) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f'expected an object with an "action" ({expected}), got {value!r}')
        data = dict(value)
        tag = data.pop("action", None)
        if tag is None:
            raise ValueError(f'"action" is missing (one of {expected})')
        member = by_tag.get(tag)
        if member is None:
            raise ValueError(f"unknown action {tag!r} (one of {expected})")
        return conv.structure(data, member)

    def unstructure(value: Any) -> dict[str, Any]:
        # The tag comes first so that a human reading the JSON sees what kind of target it is.
        return {"action": ACTION_TAGS[type(value)], **field_fns[type(value)](value)}

    conv.register_structure_hook_func(lambda t: t == union, structure)
    conv.register_unstructure_hook_func(lambda t: t == union, unstructure)


def _structure_fields(value: Any, _: type) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object of field names to values, got {value!r}")
    return dict(value)


class NeutralConverter:
    """Structures and unstructures conversions in the neutral JSON form.

    ``option_types`` maps each installed backend's name to its options class, so that
    ``options.<backend>`` is structured into that backend's typed options.
    """

    def __init__(self, option_types: Mapping[str, type[BackendOptions]]) -> None:
        self.option_types = dict(option_types)
        conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
        conv.register_structure_hook(dt.date, _structure_date)
        conv.register_unstructure_hook(dt.date, dt.date.isoformat)
        conv.register_structure_hook(Decimal, _structure_decimal)
        conv.register_unstructure_hook(Decimal, str)
        tags_type: Any = tuple[str, ...] | str
        conv.register_structure_hook_func(lambda t: t == tags_type, _structure_tags)
        conv.register_unstructure_hook_func(
            lambda t: t == tags_type, lambda v: v if isinstance(v, str) else list(v)
        )
        fields_type: Any = Mapping[str, Any]
        conv.register_structure_hook_func(lambda t: t == fields_type, _structure_fields)
        conv.register_unstructure_hook_func(lambda t: t == fields_type, dict)
        options_type: Any = tuple[BackendOptions, ...]
        conv.register_structure_hook_func(lambda t: t == options_type, self._structure_options)
        conv.register_unstructure_hook_func(lambda t: t == options_type, self._unstructure_options)
        conv.register_structure_hook(bool, _structure_bool)
        conv.register_structure_hook(str, _structure_str)
        for union in (AccountTarget, ContactTarget, OpportunityTarget):
            _register_tagged_union(conv, union)
        self._conv = conv

    @property
    def cattrs(self) -> cattrs.Converter:
        """The underlying cattrs converter."""
        return self._conv

    def _structure_options(self, value: Any, _: type) -> tuple[BackendOptions, ...]:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object keyed by backend name, got {value!r}")
        out: list[BackendOptions] = []
        for backend, raw in value.items():
            option_type = self.option_types.get(backend)
            if option_type is None:
                known = ", ".join(sorted(self.option_types)) or "none"
                raise ValueError(
                    f"no installed backend {backend!r} takes options (backends with options: "
                    f"{known})"
                )
            out.append(self._conv.structure(raw, option_type))
        return tuple(out)

    def _unstructure_options(self, value: tuple[BackendOptions, ...]) -> dict[str, Any]:
        return {item.backend: self._conv.unstructure(item) for item in value}

    def structure(self, data: Any) -> Conversion:
        """A conversion from its neutral JSON form.

        Raises ``ValidationError`` listing every problem (unknown or missing fields, values of
        the wrong type), never another library's exception.
        """
        conversion, problems = self.violations(data)
        if conversion is None:
            raise ValidationError(problems)
        return conversion

    def unstructure(self, conversion: Conversion) -> dict[str, Any]:
        """The canonical neutral JSON form of a conversion."""
        data: dict[str, Any] = self._conv.unstructure(conversion)
        return data

    def unstructure_any(self, value: Any) -> Any:
        """The JSON form of any neutral value (results, violations, reports)."""
        return self._conv.unstructure(value)

    def violations(self, data: Any) -> tuple[Conversion | None, tuple[Violation, ...]]:
        """Structure ``data``; instead of raising, return every problem as a violation."""
        if not isinstance(data, Mapping):
            return None, (
                Violation(
                    rule="input.not_object",
                    path="",
                    message=f"a conversion is a JSON object, got {type(data).__name__}",
                ),
            )
        try:
            return self._conv.structure(data, Conversion), ()
        except Exception as exc:
            return None, tuple(_violations_from(exc))


def _violations_from(exc: BaseException) -> list[Violation]:
    out: list[Violation] = []
    for text in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        message, _, path = text.rpartition(" @ ")
        path = path.removeprefix("$").removeprefix(".")
        field_name, sep, detail = message.partition(_FIELD_MARK)
        if sep:
            path = f"{path}.{field_name}" if path else field_name
            message = detail
        rule = "input.invalid_value"
        if message.startswith("unknown field"):
            rule = "input.unknown_field"
        elif message.startswith("required field missing"):
            rule = "input.missing_field"
        out.append(Violation(rule=rule, path=path, message=message))
    return out


_FIELD_MARK = "\x00"


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, FieldError):
        return f"{exc.field}{_FIELD_MARK}{exc.detail}"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or cattrs.v.format_exception(exc, type_)


def load_json_document(text: str, what: str) -> Any:
    """Parse a whole JSON document, naming ``what`` it was in the error."""
    try:
        return loads_json(text)
    except simplejson.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from exc
