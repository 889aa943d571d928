"""trusted_constructor builds true, frozen instances of the class, as the class itself would.

Its fields are set on an instance of a private subclass that then becomes the class: what comes
back must be the class's own instance in every way that shows (type, equality, hash, repr,
frozenness, weak references, pickling), for every class the readers build with it.
"""

from __future__ import annotations

import pickle
import weakref
from decimal import Decimal
from typing import Any

import attrs
import pytest

from leadconvert._input import InputRecord
from leadconvert._model import (
    AttachOpportunity,
    CarryOverTags,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    trusted_constructor,
)
from leadconvert.backend import PlanItem

_EXAMPLES: list[Any] = [
    Conversion("00Q000000000001", owner_id="005000000000001", converted_status="Closed"),
    Conversion("a", opportunity=CreateOpportunity(name="x", amount=Decimal("2.50"))),
    CreateOpportunity(name="x", stage="s", fields={"A": 1}),
    CarryOverTags(contacts=("a", "b"), deals="all"),
    MergeAccount("001"),
    MergePersonAccount("001"),
    MergeContact("003"),
    AttachOpportunity("006"),
    PlanItem(Conversion("a"), 3),
    InputRecord(1, Conversion("a"), (), "a", None),
]


def _rebuilt(value: Any) -> Any:
    cls = type(value)
    return trusted_constructor(cls)(*(getattr(value, a.name) for a in attrs.fields(cls)))


@pytest.mark.parametrize("value", _EXAMPLES, ids=lambda v: type(v).__name__)
def test_same_instance_as_the_class_builds(value: Any) -> None:
    built = _rebuilt(value)
    assert type(built) is type(value)
    assert built == value and hash(built) == hash(value) and repr(built) == repr(value)
    try:
        pickled = pickle.dumps(value)
    except TypeError:  # a mappingproxy among the fields: the built one refuses it too
        with pytest.raises(TypeError):
            pickle.dumps(built)
    else:
        assert pickle.dumps(built) == pickled
    assert weakref.ref(built)() is built
    name = attrs.fields(type(value))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(built, name, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delattr(built, name)


def test_each_call_builds_a_new_instance() -> None:
    build = trusted_constructor(MergeAccount)
    first, second = build("001"), build("002")
    assert (first.id, second.id) == ("001", "002")
    assert first is not second
