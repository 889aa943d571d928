"""Hypothesis strategies that build any valid neutral ``Conversion``."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from .._model import (
    AccountTarget,
    AttachOpportunity,
    BackendOptions,
    CarryOverTags,
    ContactTarget,
    Conversion,
    CreateAccount,
    CreateContact,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
    Module,
    NoOpportunity,
    OpportunityTarget,
)

__all__ = ["backend_options", "conversions", "record_ids"]


def record_ids() -> st.SearchStrategy[str]:
    """Record ids of the shapes CRMs use: Zoho's long numbers, Salesforce's 15/18 characters."""
    alnum = string.ascii_letters + string.digits
    return st.one_of(
        st.integers(min_value=10**17, max_value=10**19 - 1).map(str),
        st.text(alnum, min_size=15, max_size=15),
        st.text(alnum, min_size=18, max_size=18),
    )


_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40).filter(
    str.strip
)
_amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False
)
_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**9), 10**9), _text)


def _accounts() -> st.SearchStrategy[AccountTarget]:
    return st.one_of(
        st.just(CreateAccount()),
        st.builds(MergeAccount, id=record_ids()),
        st.builds(MergePersonAccount, id=record_ids()),
    )


def _contacts() -> st.SearchStrategy[ContactTarget]:
    return st.one_of(st.just(CreateContact()), st.builds(MergeContact, id=record_ids()))


def _opportunities() -> st.SearchStrategy[OpportunityTarget]:
    create = st.builds(
        CreateOpportunity,
        name=_text,
        stage=st.none() | _text,
        close_date=st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)),
        pipeline=st.none() | _text,
        amount=st.none() | _amounts,
        contact_role=st.none() | record_ids(),
        fields=st.dictionaries(
            st.from_regex(r"[A-Z][A-Za-z0-9_]{0,20}", fullmatch=True), _json_scalars, max_size=3
        ),
    )
    return st.one_of(
        st.just(NoOpportunity()), create, st.builds(AttachOpportunity, id=record_ids())
    )


def _tag_selections() -> st.SearchStrategy[tuple[str, ...] | str]:
    names = st.lists(_text, max_size=3, unique=True).map(tuple)
    return st.one_of(names, st.just("all"))


def backend_options(
    option_types: Mapping[str, type[BackendOptions]],
) -> st.SearchStrategy[tuple[BackendOptions, ...]]:
    """Tuples of option sets for some of ``option_types`` (at most one per backend)."""
    if not option_types:
        return st.just(())
    per_backend = [st.builds(option_type) for option_type in option_types.values()]
    return st.lists(st.sampled_from(range(len(per_backend))), unique=True, max_size=2).flatmap(
        lambda picks: st.tuples(*(per_backend[i] for i in sorted(picks)))
    )


def conversions(
    option_types: Mapping[str, type[BackendOptions]] | None = None,
    **overrides: st.SearchStrategy[Any],
) -> st.SearchStrategy[Conversion]:
    """Any valid neutral conversion; ``overrides`` fix the strategy of chosen fields."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "lead_id": record_ids(),
        "account": _accounts(),
        "contact": _contacts(),
        "opportunity": _opportunities(),
        "owner_id": st.none() | record_ids(),
        "notify_lead_owner": st.booleans(),
        "notify_new_owner": st.booleans(),
        "overwrite_account_name": st.booleans(),
        "overwrite_lead_source": st.booleans(),
        "converted_status": st.none() | _text,
        "move_attachments_to": st.none() | st.sampled_from(Module),
        "carry_over_tags": st.builds(
            CarryOverTags,
            contacts=_tag_selections(),
            accounts=_tag_selections(),
            deals=_tag_selections(),
        ),
        "options": backend_options(option_types or {}),
    }
    unknown = set(overrides) - {f.name for f in attrs.fields(Conversion)}
    if unknown:
        raise TypeError(f"Conversion has no field(s) {sorted(unknown)}")
    fields.update(overrides)
    return st.builds(Conversion, **fields)
