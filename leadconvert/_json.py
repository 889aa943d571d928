"""The neutral JSON form: one cattrs converter, built once per set of installed backends.

Canonical form: defaults are left out, targets are tagged with ``"action"``, dates are ISO 8601
strings and amounts are decimal strings (numbers are accepted on input and never pass through a
float: JSON is parsed with ``parse_float=Decimal``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import simplejson

from ._exceptions import InputError, ValidationError
from ._model import (
    _CREATE_ACCOUNT,
    _CREATE_CONTACT,
    _NO_OPPORTUNITY,
    _NO_TAGS,
    _RECORD_ID,
    AccountTarget,
    AttachOpportunity,
    BackendOptions,
    CarryOverTags,
    ContactTarget,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    FieldError,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    NoOpportunity,
    OpportunityTarget,
    _options,
    trusted_constructor,
)
from ._results import Violation

if TYPE_CHECKING:
    import cattrs

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

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?\Z")


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
    """Parse JSON with every non-integer number as an exact ``Decimal``.

    msgspec reads it first (a CRM's answers, a plan document: 36 us where simplejson takes 61 us
    for a Zoho answer on 50 leads); what msgspec refuses goes to simplejson, whose value or error
    is then the answer. So the result is simplejson's either way: a byte-order mark, an unpaired
    surrogate escape, every error and its message come from simplejson, and a test compares the
    two on any text.
    """
    try:
        return _fast_decoder().decode(text)
    except Exception:  # noqa: S110 - simplejson's answer, value or error, stands
        pass
    # As simplejson.loads does it: bytes are read as UTF-8.
    return _DECODER.decode(str(text, "utf-8") if isinstance(text, bytes) else text)


@functools.cache
def _fast_decoder() -> Any:
    # Imported when first needed: only commands that read JSON need it.
    import msgspec

    return msgspec.json.Decoder(float_hook=Decimal)


def loads_json_line(text: str) -> Any:
    """``loads_json`` of one line of JSON Lines: the same value, or the same error.

    msgspec reads the line (a third of the time simplejson's C scanner took on the benchmark's
    Zoho lines); a line it refuses goes through ``loads_json``, whose value or error stands.
    """
    try:
        return _fast_decoder().decode(text)
    except Exception:
        return loads_json(text)


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Write JSON with ``Decimal`` as an exact number literal, never through a float."""
    if indent is None:
        return _ENCODER.encode(value)
    return simplejson.dumps(value, use_decimal=True, indent=indent, ensure_ascii=False)


def json_writer() -> Callable[[Any], str]:
    """A compact ``dumps_json`` for one writer that encodes many values in turn (a plan
    document's requests and warnings).

    msgspec's JSON encoder, built once, with ``Decimal`` written as the exact number it holds.
    In place of simplejson's C encoder it took 12-18% of the instructions of a 100,000-line
    ``plan`` away on three of the benchmark's workloads (docs/performance.md). The text is the
    JSON value ``dumps_json`` writes, without the spaces after ``,`` and ``:``. What msgspec
    refuses (a key that is neither text nor a number, a Decimal that is not finite, a
    value of another type, a value that contains itself) goes to ``dumps_json``, which writes it
    or raises as it does. One difference is left: msgspec writes a float that is not finite as
    ``null`` where ``dumps_json`` refuses it; what backends render holds no floats (money is a
    ``Decimal``). The encoder keeps nothing between calls: threads may share a writer.
    """
    # Imported here: only commands that write a plan or a report need it.
    import msgspec

    encode = msgspec.json.Encoder(decimal_format="number").encode

    def write(value: Any) -> str:
        try:
            return encode(value).decode()
        except Exception:
            return dumps_json(value)

    return write


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
    from cattrs.gen import make_dict_unstructure_fn

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


# --- the fast path ------------------------------------------------------------------------------
#
# Every record of an input goes through ``NeutralConverter.violations``. The detailed path checks
# each value twice (cattrs' hooks, then attrs' ``__init__`` running a validator per field) and
# was most of the time ``leadconvert plan`` spent reading a line. The fast path below takes the
# shapes of the neutral form as JSON gives them (dicts, lists, str, bool, None, int, Decimal),
# checks each value once with the same rules (the same hooks, patterns and validators), and
# builds the objects with trusted constructors. Anything it does not take as it is (an unknown
# key, a value of another type, a value that breaks a rule) returns None, and the record goes the
# detailed way, which alone says what is wrong: messages, paths and rules are the detailed path's.
#
# Frozen values that repeat from line to line (dates, amounts, opportunities given only as
# text) are remembered. Only text (and None) is used as a key: a str equals nothing but
# a str, so a hit can never be a value of another type that merely compares equal (1 == True ==
# Decimal("1.0")) and would have been structured or refused differently.

_new_conversion = trusted_constructor(Conversion)
_new_create_opportunity = trusted_constructor(CreateOpportunity)
_new_carry_over_tags = trusted_constructor(CarryOverTags)
_ACCOUNT_MERGES: dict[str, Callable[[str], Any]] = {
    "merge": trusted_constructor(MergeAccount),
    "merge_person_account": trusted_constructor(MergePersonAccount),
}
_new_merge_contact = trusted_constructor(MergeContact)
_new_attach_opportunity = trusted_constructor(AttachOpportunity)
_OPTIONS_FIELD = attrs.fields(Conversion).options
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_MODULES = {module.value: module for module in Module}
_match_id = _RECORD_ID.match
_TAG_MODULES = ("contacts", "accounts", "deals")

#: How many values each memo holds before it starts again (a few hundred KB at most).
_MEMO_SIZE = 4096
_dates: dict[str, dt.date] = {}
_amounts: dict[str, Decimal] = {}
_opportunities: dict[tuple[tuple[str, Any], ...], CreateOpportunity] = {}
#: The opportunity last found in the memo, as its line gave it (a copy: a caller may change
#: its dict and give it again) and as built: most lines repeat the one before's, told by one
#: comparison without hashing its values. Set on a repeat only, so that lines whose
#: opportunities never repeat pay no copy. Replaced whole.
_last_opportunity: list[tuple[dict[str, Any], CreateOpportunity | None]] = [({}, None)]


def _is_id(value: object) -> bool:
    """``value`` passes the model's record id rule (``_record_id``)."""
    if type(value) is not str:
        return False
    # Printable text without a space holds no whitespace and no control character: it passes
    # the rule, told by two C scans; the pattern is tried only for anything else.
    if value and value.isprintable() and " " not in value:
        return True
    return _match_id(value) is not None


def _is_text(value: object) -> bool:
    """``value`` passes ``_non_blank`` (a str that is not blank)."""
    return type(value) is str and bool(value.strip())


def _quick_date(value: object) -> dt.date | None:
    if type(value) is not str:
        return None
    date = _dates.get(value)
    if date is None:
        try:
            date = _structure_date(value, dt.date)
        except Exception:
            return None
        if len(_dates) >= _MEMO_SIZE:
            _dates.clear()
        _dates[value] = date
    return date


def _quick_amount(value: object) -> Decimal | None:
    if type(value) is str:
        amount = _amounts.get(value)
        if amount is not None:
            return amount
    try:
        amount = _structure_decimal(value, Decimal)
    except Exception:
        return None
    if type(value) is str:
        if len(_amounts) >= _MEMO_SIZE:
            _amounts.clear()
        _amounts[value] = amount
    return amount


def _quick_create_opportunity(value: dict[Any, Any]) -> CreateOpportunity | None:
    name = stage = pipeline = contact_role = None
    close_date: dt.date | None = None
    amount: Decimal | None = None
    fields = _NO_FIELDS
    for key, item in value.items():
        if key == "action":
            continue
        if key == "name":
            if item is not None and not _is_text(item):
                return None
            name = item
        elif key == "stage":
            if item is not None and not _is_text(item):
                return None
            stage = item
        elif key == "close_date":
            if item is not None:
                close_date = _quick_date(item)
                if close_date is None:
                    return None
        elif key == "amount":
            if item is not None:
                amount = _quick_amount(item)
                if amount is None:
                    return None
        elif key == "pipeline":
            if item is not None and not _is_text(item):
                return None
            pipeline = item
        elif key == "contact_role":
            if item is not None and not _is_id(item):
                return None
            contact_role = item
        elif key == "fields":
            if type(item) is not dict:
                return None
            for name_of_field in item:
                if not _is_text(name_of_field):
                    return None
            fields = MappingProxyType(dict(item))
        else:
            return None
    return _new_create_opportunity(name, stage, close_date, pipeline, amount, contact_role, fields)


def _quick_opportunity(value: object) -> OpportunityTarget | None:
    if type(value) is not dict:
        return None
    action = value.get("action")
    if action == "create":
        # Only values of text or null are remembered, and those equal nothing else (not 1 and
        # True as numbers are): an equal line is the same opportunity.
        seen, last = _last_opportunity[0]
        if value == seen:
            return last
        try:
            key = tuple(value.items())
            known = _opportunities.get(key)
        except TypeError:  # a list or an object among the values: not remembered
            return _quick_create_opportunity(value)
        if known is not None:
            _last_opportunity[0] = (dict(value), known)
            return known
        built = _quick_create_opportunity(value)
        if built is not None and all(type(v) is str or v is None for v in value.values()):
            if len(_opportunities) >= _MEMO_SIZE:
                _opportunities.clear()
            _opportunities[key] = built
        return built
    if action == "none":
        return _NO_OPPORTUNITY if len(value) == 1 else None
    if action == "attach" and len(value) == 2:
        record_id = value.get("id")
        return _new_attach_opportunity(record_id) if _is_id(record_id) else None
    return None


def _quick_account(value: object) -> AccountTarget | None:
    if type(value) is not dict:
        return None
    action = value.get("action")
    if len(value) == 1:
        return _CREATE_ACCOUNT if action == "create" else None
    if len(value) != 2 or type(action) is not str:
        return None
    build = _ACCOUNT_MERGES.get(action)
    record_id: Any = value.get("id")
    if build is None or not _is_id(record_id):
        return None
    account: AccountTarget = build(record_id)
    return account


def _quick_contact(value: object) -> ContactTarget | None:
    if type(value) is not dict:
        return None
    action = value.get("action")
    if len(value) == 1:
        return _CREATE_CONTACT if action == "create" else None
    if len(value) != 2 or action != "merge":
        return None
    record_id = value.get("id")
    return _new_merge_contact(record_id) if _is_id(record_id) else None


def _quick_tags(value: object) -> CarryOverTags | None:
    if type(value) is not dict:
        return None
    if not value:
        return _NO_TAGS
    selections: dict[str, tuple[str, ...] | str] = {}
    for key, item in value.items():
        if key not in _TAG_MODULES:
            return None
        if type(item) is str and item == "all":
            selections[key] = "all"
        elif type(item) is list:
            for tag in item:
                if not _is_text(tag):
                    return None
            if len(set(item)) != len(item):
                return None
            selections[key] = tuple(item)
        else:
            return None
    return _new_carry_over_tags(
        selections.get("contacts", ()), selections.get("accounts", ()), selections.get("deals", ())
    )


#: The field types whose values the options fast path checks itself, as cattrs' hooks here would
#: (a JSON boolean, a string): the value's exact type, and whether ``None`` is allowed too.
_SIMPLE_OPTION_TYPES: dict[Any, tuple[type, bool]] = {
    "bool": (bool, False),
    "bool | None": (bool, True),
    "str": (str, False),
    "str | None": (str, True),
    bool: (bool, False),
    bool | None: (bool, True),
    str: (str, False),
    str | None: (str, True),
}


#: ``_simple_option_fields`` of each options class met so far (a few classes, one entry each).
_SIMPLE_OPTION_FIELDS: dict[Any, dict[str, tuple[type, bool]] | None] = {}


def _simple_option_fields(option_type: Any) -> dict[str, tuple[type, bool]] | None:
    if option_type not in _SIMPLE_OPTION_FIELDS:
        _SIMPLE_OPTION_FIELDS[option_type] = _find_simple_option_fields(option_type)
    return _SIMPLE_OPTION_FIELDS[option_type]


def _find_simple_option_fields(option_type: Any) -> dict[str, tuple[type, bool]] | None:
    """Each field of an options class as (type, None allowed) when every field is a plain
    boolean or string that ``__init__`` takes by its own name; None for any other class."""
    if not attrs.has(option_type):
        return None
    out: dict[str, tuple[type, bool]] = {}
    for attribute in attrs.fields(option_type):
        simple = _SIMPLE_OPTION_TYPES.get(attribute.type)
        if (
            simple is None
            or not attribute.init
            or attribute.converter is not None
            or attribute.alias != attribute.name
        ):
            return None
        out[attribute.name] = simple
    return out


def _quick_conversion(
    data: dict[Any, Any],
    structure_options: Callable[[Any, Any], tuple[BackendOptions, ...]],
) -> Conversion | None:
    """``data`` as a conversion when every value takes its common shape; None otherwise."""
    lead_id: Any = None
    account: Any = _CREATE_ACCOUNT
    contact: Any = _CREATE_CONTACT
    opportunity: Any = _NO_OPPORTUNITY
    owner_id = converted_status = None
    move_attachments_to: Module | None = None
    notify_lead_owner = notify_new_owner = overwrite_account_name = overwrite_lead_source = False
    tags: Any = _NO_TAGS
    options: tuple[BackendOptions, ...] = ()
    for key, value in data.items():
        if key == "lead_id":
            if not _is_id(value):
                return None
            lead_id = value
        elif key == "opportunity":
            opportunity = _quick_opportunity(value)
            if opportunity is None:
                return None
        elif key == "owner_id":
            if value is not None and not _is_id(value):
                return None
            owner_id = value
        elif key == "account":
            account = _quick_account(value)
            if account is None:
                return None
        elif key == "contact":
            contact = _quick_contact(value)
            if contact is None:
                return None
        elif key == "notify_lead_owner":
            if type(value) is not bool:
                return None
            notify_lead_owner = value
        elif key == "notify_new_owner":
            if type(value) is not bool:
                return None
            notify_new_owner = value
        elif key == "overwrite_account_name":
            if type(value) is not bool:
                return None
            overwrite_account_name = value
        elif key == "overwrite_lead_source":
            if type(value) is not bool:
                return None
            overwrite_lead_source = value
        elif key == "converted_status":
            if value is not None and not _is_text(value):
                return None
            converted_status = value
        elif key == "move_attachments_to":
            if value is not None:
                move_attachments_to = _MODULES.get(value) if type(value) is str else None
                if move_attachments_to is None:
                    return None
        elif key == "carry_over_tags":
            tags = _quick_tags(value)
            if tags is None:
                return None
        elif key == "options":
            if type(value) is not dict:
                return None
            if value:
                try:
                    options = structure_options(value, None)
                    _options(None, _OPTIONS_FIELD, options)
                except Exception:
                    return None
        else:
            return None
    if lead_id is None:
        return None
    return _new_conversion(
        lead_id,
        account,
        contact,
        opportunity,
        owner_id,
        notify_lead_owner,
        notify_new_owner,
        overwrite_account_name,
        overwrite_lead_source,
        converted_status,
        move_attachments_to,
        tags,
        options,
    )


class NeutralConverter:
    """Structures and unstructures conversions in the neutral JSON form.

    ``option_types`` maps each installed backend's name to its options class, so that
    ``options.<backend>`` is structured into that backend's typed options.
    """

    def __init__(self, option_types: Mapping[str, type[BackendOptions]]) -> None:
        self.option_types = dict(option_types)
        # The fast path knows the hooks the cattrs converter gets; a caller that takes the
        # converter may register others, which only the detailed path would then follow.
        self._fast = True

    @functools.cached_property
    def _conv(self) -> cattrs.Converter:
        """The cattrs converter, built (and cattrs imported: 10 ms or so) when first needed: a
        run whose lines all take the fast path never needs it."""
        import cattrs

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
        return conv

    @property
    def cattrs(self) -> cattrs.Converter:
        """The underlying cattrs converter (from then on, every record takes its detailed path,
        so that hooks registered on it are followed)."""
        self._fast = False
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

    def _quick_options(self, value: dict[Any, Any], _: Any = None) -> tuple[BackendOptions, ...]:
        """``_structure_options`` of a dict whose option sets hold only booleans and strings,
        each value's type checked here and the options class's ``__init__`` (its validators)
        called as cattrs would; anything else goes through ``_structure_options`` itself."""
        out: list[BackendOptions] = []
        for backend, raw in value.items():
            option_type = self.option_types.get(backend)
            if option_type is None or type(raw) is not dict:
                return self._structure_options(value, BackendOptions)
            fields = _simple_option_fields(option_type)
            if fields is None:
                return self._structure_options(value, BackendOptions)
            for key, item in raw.items():
                simple = fields.get(key)
                if simple is None or (
                    type(item) is not simple[0] and (item is not None or not simple[1])
                ):
                    return self._structure_options(value, BackendOptions)
            out.append(option_type(**raw))
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
        if type(data) is dict and self._fast:
            conversion = _quick_conversion(data, self._quick_options)
            if conversion is not None:
                return conversion, ()
        return self._detailed_violations(data)

    def _detailed_violations(self, data: Any) -> tuple[Conversion | None, tuple[Violation, ...]]:
        """``violations`` without the fast path (for data it did not take)."""
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
    import cattrs

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
    import cattrs

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
