"""The merge policy: unambiguous matches merge, ambiguous ones follow the user's choice."""

from __future__ import annotations

import pytest

from leadconvert import (
    Conversion,
    MatchCandidate,
    MatchedField,
    MatchReport,
    MergeAccount,
    MergeContact,
    Module,
    Registry,
)
from leadconvert._merge import Action, OnAmbiguous, OnMatch, decide

LEAD = "4876876000007400001"
PAT = MatchCandidate(
    Module.CONTACTS,
    "4876876000007421001",
    "Pat Boyle",
    (MatchedField("Phone", "9844444444"),),
    account_id="4876876000007421010",
    rank=0,
)
BOYLE = MatchCandidate(
    Module.CONTACTS, "4876876000007437017", "Boyle", (MatchedField("Email", "pat@z.com"),), rank=1
)
ZYLKER = MatchCandidate(
    Module.ACCOUNTS,
    "4876876000007421010",
    "Zylker Biotech",
    (MatchedField("Account_Name", "Zylker Biotech"),),
)
OTHER = MatchCandidate(
    Module.ACCOUNTS, "4876876000007421020", "Other Corp", (MatchedField("Phone", "1"),)
)


class TestMerge:
    def test_kaizen_example_merges_contact_and_its_account(self, registry: Registry) -> None:
        """Zoho's example: the phone match outranks the email match; its account comes along."""
        decision = decide(
            Conversion(lead_id=LEAD),
            MatchReport(LEAD, Module.CONTACTS, (BOYLE, PAT), (ZYLKER,)),
            registry.get("zoho"),
        )
        assert decision.action is Action.MERGED
        assert decision.conversion is not None
        assert decision.conversion.contact == MergeContact(PAT.id)
        assert decision.conversion.account == MergeAccount(ZYLKER.id)
        assert "Phone='9844444444'" in decision.reason

    def test_account_only(self, registry: Registry) -> None:
        """With no contact match, the matched account merges and the contact is created."""
        decision = decide(
            Conversion(lead_id=LEAD),
            MatchReport(LEAD, Module.ACCOUNTS, (), (ZYLKER,)),
            registry.get("zoho"),
        )
        assert decision.action is Action.MERGED
        assert decision.conversion == Conversion(lead_id=LEAD, account=MergeAccount(ZYLKER.id))

    def test_nothing_matches(self, registry: Registry) -> None:
        """An empty report leaves the conversion as it was."""
        decision = decide(Conversion(lead_id=LEAD), MatchReport(LEAD), registry.get("zoho"))
        assert decision.action is Action.UNCHANGED
        assert decision.conversion == Conversion(lead_id=LEAD)

    def test_explicit_targets_kept(self, registry: Registry) -> None:
        """Targets the user set are never overridden by matches."""
        given = Conversion(lead_id=LEAD, account=MergeAccount(OTHER.id))
        decision = decide(
            given, MatchReport(LEAD, Module.CONTACTS, (PAT,), (ZYLKER,)), registry.get("zoho")
        )
        assert decision.action is Action.UNCHANGED and decision.conversion == given


class TestAmbiguous:
    def test_tie_is_not_guessed(self, registry: Registry) -> None:
        """Two contacts matching equally well are ambiguous: failed by default, both named."""
        tie = MatchCandidate(Module.CONTACTS, "4876876000007421099", "Pat B", PAT.matched_fields)
        decision = decide(
            Conversion(lead_id=LEAD),
            MatchReport(LEAD, Module.CONTACTS, (PAT, tie)),
            registry.get("zoho"),
        )
        assert decision.action is Action.FAILED and decision.conversion is None
        assert PAT.id in decision.reason and tie.id in decision.reason
        assert decision.error is not None and decision.error.code.value == "duplicate"

    @pytest.mark.parametrize(
        ("choice", "action"),
        [(OnAmbiguous.SKIP, Action.SKIPPED), (OnAmbiguous.CREATE, Action.UNCHANGED)],
    )
    def test_choice_is_followed(
        self, registry: Registry, choice: OnAmbiguous, action: Action
    ) -> None:
        """The user's choice decides what an ambiguous lead becomes."""
        report = MatchReport(LEAD, Module.CONTACTS, (PAT,), (OTHER,))
        decision = decide(
            Conversion(lead_id=LEAD), report, registry.get("zoho"), on_ambiguous=choice
        )
        assert decision.action is action
        assert "belongs to account" in decision.reason

    def test_contact_without_account_and_matched_account(self, registry: Registry) -> None:
        """A contact with no account while the company matches an account is not guessed."""
        report = MatchReport(LEAD, Module.CONTACTS, (BOYLE,), (ZYLKER,))
        assert (
            decide(Conversion(lead_id=LEAD), report, registry.get("zoho")).action is Action.FAILED
        )

    def test_unusable_only(self, registry: Registry) -> None:
        """Matches that are all locked cannot be merged into, and say why."""
        locked = MatchCandidate(Module.CONTACTS, PAT.id, PAT.name, PAT.matched_fields, locked=True)
        decision = decide(
            Conversion(lead_id=LEAD),
            MatchReport(LEAD, Module.CONTACTS, (locked,)),
            registry.get("zoho"),
        )
        assert decision.action is Action.FAILED and "locked" in decision.reason

    def test_merge_the_crm_cannot_express(self, registry: Registry) -> None:
        """Salesforce cannot merge into a contact without an account: ambiguous, with the rule."""
        contact = MatchCandidate(Module.CONTACTS, "003000000000009AAA", "Pat", PAT.matched_fields)
        decision = decide(
            Conversion(lead_id="00Q000000000001AAA"),
            MatchReport("00Q000000000001AAA", Module.CONTACTS, (contact,)),
            registry.get("salesforce"),
        )
        assert decision.action is Action.FAILED
        assert "cannot be expressed" in decision.reason


class TestOnMatch:
    @pytest.mark.parametrize(
        ("choice", "action", "converts"),
        [
            (OnMatch.CREATE, Action.UNCHANGED, True),
            (OnMatch.SKIP, Action.SKIPPED, False),
            (OnMatch.FAIL, Action.FAILED, False),
        ],
    )
    def test_choices(
        self, registry: Registry, choice: OnMatch, action: Action, converts: bool
    ) -> None:
        """create ignores matches, skip leaves the lead, fail records it as a duplicate."""
        report = MatchReport(LEAD, Module.CONTACTS, (PAT,), (ZYLKER,))
        decision = decide(Conversion(lead_id=LEAD), report, registry.get("zoho"), on_match=choice)
        assert decision.action is action
        assert (decision.conversion is not None) is converts
        assert "Pat Boyle" in decision.reason
