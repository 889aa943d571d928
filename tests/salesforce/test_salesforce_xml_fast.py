"""The direct way of writing a LeadConvert row gives what the checked way gives.

``_lead_convert_xml`` writes the usual row itself and hands anything else to
``_lead_convert(to_row(convert))``, its spec: for every LeadConvert, whatever its values (text
XML must escape or cannot carry, empty text, values of another type), both give the same element
or fail with the same exception.
"""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from leadconvert_salesforce._wire import (
    _PLAIN,
    LeadConvert,
    _lead_convert,
    _lead_convert_xml,
    new_lead_convert,
    to_row,
)


class _Text(str):
    """A str subclass: written as the checked way writes it."""


_texts = st.one_of(
    st.sampled_from(["00QB00000000000MAA", "Closed - Converted", "Bulk deal 8", "", "a&b", "<x>"]),
    st.text(max_size=8),
    st.text(max_size=4).map(_Text),
)
_odd = st.one_of(st.integers(-1, 2), st.none(), st.floats(allow_nan=False), st.binary(max_size=2))
_flags = st.one_of(st.booleans(), _odd)


def _outcome(write: Any, convert: LeadConvert) -> tuple[str, str]:
    try:
        return "ok", write(convert)
    except Exception as exc:  # the same exception, with the same message
        return type(exc).__name__, str(exc)


@settings(max_examples=400)
@given(
    lead=st.one_of(_texts, _odd),
    status=st.one_of(st.none(), _texts, _odd),
    no_opportunity=_flags,
    overwrite=_flags,
    notify=_flags,
    account=st.one_of(st.none(), _texts),
    bypass_account=st.one_of(st.none(), _flags),
    bypass_contact=st.one_of(st.none(), _flags),
    contact=st.one_of(st.none(), _texts, _odd),
    opportunity=st.one_of(st.none(), _texts),
    name=st.one_of(st.none(), _texts, _odd),
    owner=st.one_of(st.none(), _texts),
)
@example(
    lead="00QB00000000000MAA",
    status=None,
    no_opportunity=True,
    overwrite=False,
    notify=False,
    account=None,
    bypass_account=None,
    bypass_contact=None,
    contact=None,
    opportunity=None,
    name=None,
    owner=None,
)
def test_direct_row_is_the_checked_row(
    lead: Any,
    status: Any,
    no_opportunity: Any,
    overwrite: Any,
    notify: Any,
    account: Any,
    bypass_account: Any,
    bypass_contact: Any,
    contact: Any,
    opportunity: Any,
    name: Any,
    owner: Any,
) -> None:
    convert = new_lead_convert(
        lead,
        status,
        no_opportunity,
        overwrite,
        notify,
        account,
        bypass_account,
        bypass_contact,
        contact,
        opportunity,
        name,
        owner,
    )
    expected = _outcome(lambda c: _lead_convert(to_row(c)), convert)
    assert _outcome(_lead_convert_xml, convert) == expected


def test_usual_row() -> None:
    convert = LeadConvert("00QB00000000000MAA", do_not_create_opportunity=True, owner_id="005x")
    assert _lead_convert_xml(convert) == (
        "<leadConverts><convertedStatus>{{DISCOVERED_CONVERTED_STATUS}}</convertedStatus>"
        "<doNotCreateOpportunity>true</doNotCreateOpportunity><leadId>00QB00000000000MAA</leadId>"
        "<overwriteLeadSource>false</overwriteLeadSource><ownerId>005x</ownerId>"
        "<sendNotificationEmail>false</sendNotificationEmail></leadConverts>"
    )


@given(
    lead=_texts,
    status=st.one_of(st.none(), _texts),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    bypass=st.tuples(st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.booleans())),
    ids=st.tuples(*[st.one_of(st.none(), _texts)] * 5),
)
def test_new_lead_convert_is_the_class_own(
    lead: str,
    status: str | None,
    flags: tuple[bool, bool, bool],
    bypass: tuple[bool | None, bool | None],
    ids: tuple[str | None, ...],
) -> None:
    """The planner's LeadConvert (leadconvert.backend.trusted_constructor) is LeadConvert(...)."""
    account, contact, opportunity, name, owner = ids
    built = new_lead_convert(
        lead, status, *flags, account, *bypass, contact, opportunity, name, owner
    )
    expected = LeadConvert(
        lead,
        converted_status=status,
        do_not_create_opportunity=flags[0],
        overwrite_lead_source=flags[1],
        send_notification_email=flags[2],
        account_id=account,
        bypass_account_dedupe_check=bypass[0],
        bypass_contact_dedupe_check=bypass[1],
        contact_id=contact,
        opportunity_id=opportunity,
        opportunity_name=name,
        owner_id=owner,
    )
    assert type(built) is LeadConvert
    assert built == expected and hash(built) == hash(expected) and repr(built) == repr(expected)


def test_printable_text_is_plain() -> None:
    """Every printable character but & < > is one XML carries as it is (_PLAIN), so the row's
    shortcut for printable text says what the pattern says."""
    taken = [
        code
        for code in range(sys.maxunicode + 1)
        if chr(code).isprintable() and chr(code) not in "&<>" and not _PLAIN.fullmatch(chr(code))
    ]
    assert taken == []
