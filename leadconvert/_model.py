"""The neutral model of one lead conversion.

Every meaning of ``shared/design/mapping.md`` has one field here, with an explicit default, so a
conversion means the same thing whichever CRM carries it out. The model knows nothing of any wire
format: the neutral JSON form lives in ``_json`` and each backend owns its own translation.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias, TypeVar

import attrs
from attrs import field, frozen

from ._exceptions import ValidationError

__all__ = [
    "AccountTarget",
    "AttachOpportunity",
    "BackendOptions",
    "CarryOverTags",
    "ContactTarget",
    "Conversion",
    "CreateAccount",
    "CreateContact",
    "CreateOpportunity",
    "MergeAccount",
    "MergeContact",
    "MergePersonAccount",
    "Module",
    "NoOpportunity",
    "OpportunityTarget",
]


class FieldError(ValidationError, ValueError):
    """A field's value breaks the model's rule; ``field`` names it for error paths.

    A ``ValidationError`` (one violation, rule ``model.invalid_value``), so building a model
    object with a bad value raises inside leadconvert's one exception tree; and a
    ``ValueError``, so attrs and cattrs report it as the bad value it is.
    """

    def __init__(self, field_name: str, message: str) -> None:
        # Imported here: the results module imports this one.
        from ._results import Violation

        super().__init__(
            (Violation(rule="model.invalid_value", path=field_name, message=message),)
        )
        self.args = (f"{field_name} {message}",)
        self.field = field_name
        self.detail = message


# A record id as users type it. Each backend checks its own id syntax; the core only refuses what
# no CRM accepts: empty ids and ids with whitespace or control characters.
_RECORD_ID = re.compile(r"^[^\s\x00-\x1f\x7f]+\Z")


def _record_id(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise FieldError(attribute.name, f"must be a string, not {type(value).__name__}")
    if not _RECORD_ID.match(value):
        raise FieldError(
            attribute.name, f"must be a non-empty record id without spaces, got {value!r}"
        )


def _optional_record_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _record_id(instance, attribute, value)


def _non_blank(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise FieldError(attribute.name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise FieldError(attribute.name, "must not be blank")


def _optional_non_blank(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _non_blank(instance, attribute, value)


class Module(enum.Enum):
    """A module (Salesforce: object) a converted lead ends in."""

    CONTACTS = "contacts"
    ACCOUNTS = "accounts"
    DEALS = "deals"


# --- account target ---------------------------------------------------------------------------


@frozen
class CreateAccount:
    """Create the account from the lead (the default).

    Zoho creates one only when the lead has a Company.
    """


@frozen
class MergeAccount:
    """Merge the lead into an existing business account."""

    id: str = field(validator=_record_id)


@frozen
class MergePersonAccount:
    """Merge the lead into an existing person account (Salesforce only)."""

    id: str = field(validator=_record_id)


AccountTarget: TypeAlias = CreateAccount | MergeAccount | MergePersonAccount


# --- contact target ---------------------------------------------------------------------------


@frozen
class CreateContact:
    """Create the contact from the lead (the default)."""


@frozen
class MergeContact:
    """Merge the lead into an existing contact."""

    id: str = field(validator=_record_id)


ContactTarget: TypeAlias = CreateContact | MergeContact


# --- opportunity target -----------------------------------------------------------------------


@frozen
class NoOpportunity:
    """Create no opportunity (the neutral default: Salesforce must be told so explicitly)."""


def _freeze_fields(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _amount(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or isinstance(value, bool):
        raise FieldError(attribute.name, f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise FieldError(attribute.name, f"must be a finite number, got {value}")


def _to_decimal(value: object) -> object:
    # Money is never allowed near a float: ints and strings become exact Decimals, floats are
    # refused by the validator rather than silently rounded.
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    return value


def _field_names(
    _instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, Any]
) -> None:
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise FieldError(attribute.name, f"keys must be non-blank field names, got {key!r}")


@frozen
class CreateOpportunity:
    """Create an opportunity (Zoho: deal) from the lead.

    ``name`` ``None`` lets the CRM name it (Salesforce names it after the lead's company: the
    most common convertLead call); a CRM that needs a name (Zoho's mandatory Deal_Name) refuses
    that unless a default supplies one. ``fields`` holds further opportunity fields by the CRM's
    own field name; they are passed through, never interpreted by the core.
    """

    name: str | None = field(default=None, validator=_optional_non_blank)
    stage: str | None = field(default=None, validator=_optional_non_blank)
    close_date: dt.date | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(dt.date))
    )
    pipeline: str | None = field(default=None, validator=_optional_non_blank)
    amount: Decimal | None = field(default=None, converter=_to_decimal, validator=_amount)
    contact_role: str | None = field(default=None, validator=_optional_record_id)
    fields: Mapping[str, Any] = field(
        factory=dict, converter=_freeze_fields, validator=_field_names, hash=False
    )


@frozen
class AttachOpportunity:
    """Relate the lead to an existing opportunity instead of creating one."""

    id: str = field(validator=_record_id)


OpportunityTarget: TypeAlias = NoOpportunity | CreateOpportunity | AttachOpportunity


# --- tags ---------------------------------------------------------------------------------------


def _tag_selection(value: object) -> object:
    if isinstance(value, list):
        return tuple(value)
    return value


def _tags(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value == "all":
        return
    if not isinstance(value, tuple):
        raise FieldError(attribute.name, "must be a list of tag names or 'all'")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise FieldError(attribute.name, f"holds a blank or non-string tag: {tag!r}")
    if len(set(value)) != len(value):
        raise FieldError(attribute.name, "names a tag twice")


@frozen
class CarryOverTags:
    """Which of the lead's tags follow it into each module.

    Each module takes a tuple of tag names, or ``"all"`` for every tag the lead carries. The
    empty tuple (the default) carries none.
    """

    contacts: tuple[str, ...] | str = field(default=(), converter=_tag_selection, validator=_tags)
    accounts: tuple[str, ...] | str = field(default=(), converter=_tag_selection, validator=_tags)
    deals: tuple[str, ...] | str = field(default=(), converter=_tag_selection, validator=_tags)

    def is_empty(self) -> bool:
        """True when no tag is carried anywhere."""
        return not (self.contacts or self.accounts or self.deals)

    def by_module(self) -> dict[Module, tuple[str, ...] | str]:
        """The non-empty selections keyed by module, in Contacts, Accounts, Deals order."""
        pairs = (
            (Module.CONTACTS, self.contacts),
            (Module.ACCOUNTS, self.accounts),
            (Module.DEALS, self.deals),
        )
        return {module: tags for module, tags in pairs if tags}


#: The defaults of every conversion that leaves these out, shared: they are frozen, so one
#: instance serves them all (one built and validated per conversion was 6-10% of reading input).
_CREATE_ACCOUNT = CreateAccount()
_CREATE_CONTACT = CreateContact()
_NO_OPPORTUNITY = NoOpportunity()
_NO_TAGS = CarryOverTags()


# --- backend-scoped options ---------------------------------------------------------------------


class BackendOptions:
    """Base of the typed options one backend understands and every other backend rejects.

    A backend declares a frozen attrs subclass with ``backend`` set to its name; the neutral JSON
    form holds them under ``options.<backend>``.
    """

    backend: ClassVar[str] = ""


def _options(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple):
        raise FieldError(attribute.name, "must be a tuple of BackendOptions")
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, BackendOptions) or not item.backend:
            raise FieldError(attribute.name, f"holds {item!r}, which is not a BackendOptions")
        if item.backend in seen:
            raise FieldError(attribute.name, f"holds two option sets for {item.backend!r}")
        seen.add(item.backend)


def _options_tuple(value: object) -> object:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Mapping):
        return tuple(value.values())
    return value


# --- the conversion -----------------------------------------------------------------------------


@frozen
class Conversion:
    """One lead to convert and everything the user asked for it.

    Every field has the neutral default spelled out: create the account and contact from the
    lead, create no opportunity, notify nobody, overwrite nothing, leave the converted status,
    attachments and tags to the CRM.
    """

    lead_id: str = field(validator=_record_id)
    account: AccountTarget = field(
        default=_CREATE_ACCOUNT,
        validator=attrs.validators.instance_of((CreateAccount, MergeAccount, MergePersonAccount)),
    )
    contact: ContactTarget = field(
        default=_CREATE_CONTACT,
        validator=attrs.validators.instance_of((CreateContact, MergeContact)),
    )
    opportunity: OpportunityTarget = field(
        default=_NO_OPPORTUNITY,
        validator=attrs.validators.instance_of(
            (NoOpportunity, CreateOpportunity, AttachOpportunity)
        ),
    )
    owner_id: str | None = field(default=None, validator=_optional_record_id)
    notify_lead_owner: bool = field(default=False, validator=attrs.validators.instance_of(bool))
    notify_new_owner: bool = field(default=False, validator=attrs.validators.instance_of(bool))
    overwrite_account_name: bool = field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    overwrite_lead_source: bool = field(default=False, validator=attrs.validators.instance_of(bool))
    converted_status: str | None = field(default=None, validator=_optional_non_blank)
    move_attachments_to: Module | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Module))
    )
    carry_over_tags: CarryOverTags = field(default=_NO_TAGS)
    options: tuple[BackendOptions, ...] = field(
        default=(), converter=_options_tuple, validator=_options
    )

    def options_for(self, backend: str) -> BackendOptions | None:
        """The options scoped to ``backend``, if the conversion carries any."""
        for item in self.options:
            if item.backend == backend:
                return item
        return None


_T = TypeVar("_T")


def trusted_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the frozen attrs class ``cls`` for values already checked and converted.

    It takes every field, positionally and in order, and runs no converter and no validator:
    it is for readers that check each value once themselves (``_json``'s fast path), so a value
    is not checked again by attrs. ``cls(...)`` itself still validates. It builds a true ``cls``
    instance, every field set; nothing global changes (``attrs.validators.set_disabled`` would,
    for every thread).
    """
    names = [attribute.name for attribute in attrs.fields(cls)]  # type: ignore[arg-type]
    for name in names:
        if not isinstance(cls.__dict__.get(name), types.MemberDescriptorType):
            raise TypeError(f"{cls.__name__}.{name} is not a slot of its own")
    # Setting a frozen instance's slots through their descriptors (as attrs' __init__ does) is
    # one generic call per field, most of building a conversion while reading a line. The fields
    # are set instead on an instance of a subclass that adds no slot and keeps object's own
    # __setattr__ and __delattr__, so that each is a plain attribute store, which the
    # interpreter specialises; then the instance becomes the ``cls`` it has the layout of.
    filling = type(
        f"_Filling{cls.__name__}",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
        },
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_filling": filling, "_cls": cls}
    params = [f"v{index}" for index in range(len(names))]
    body = ["    self = _new(_filling)"]
    body.extend(f"    self.{name} = v{index}" for index, name in enumerate(names))
    body.append("    self.__class__ = _cls")
    source = "\n".join([f"def trusted({', '.join(params)}):", *body, "    return self"])
    # Generated as attrs generates its own __init__: one statement per field, no loop.
    code = compile(source, f"<trusted constructor of {cls.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is built here from the class's own fields
    built: Callable[..., _T] = namespace["trusted"]
    return built
