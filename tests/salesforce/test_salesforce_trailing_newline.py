"""Ids, field API names and API versions with a trailing newline are refused (``\\Z``, not ``$``).

The core's model refuses such ids before the backend sees them; these tests ask the backend's
own checks directly.
"""

from __future__ import annotations

import pytest
from leadconvert_salesforce import _rules
from leadconvert_salesforce._ids import IdError, canonical_id, is_valid_id, to_18
from leadconvert_salesforce._wire import api_version

from leadconvert import ConfigurationError


@pytest.mark.parametrize(
    "value",
    ["00Q000000000001\n", "00Q000000000001EAA\n", "00QB00000000000MAA\n"],
)
def test_an_id_with_a_trailing_newline_is_refused(value: str) -> None:
    with pytest.raises(IdError) as caught:
        canonical_id(value, "Lead")
    assert "is not a Salesforce id" in str(caught.value)
    assert not is_valid_id(value)
    assert canonical_id(value[:-1], "Lead")  # the same id without it is fine


def test_to_18_refuses_a_trailing_newline() -> None:
    with pytest.raises(IdError):
        to_18("00Q00000000000\n")


def test_a_field_name_with_a_trailing_newline_is_not_an_api_name() -> None:
    assert _rules._API_NAME.match("Custom__c")
    assert not _rules._API_NAME.match("Custom__c\n")


def test_an_api_version_with_a_trailing_newline_is_refused() -> None:
    assert api_version({"api_version": "59.0"}) == "59.0"
    with pytest.raises(ConfigurationError):
        api_version({"api_version": "59.0\n"})
