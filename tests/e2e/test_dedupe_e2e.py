"""Dedupe-aware conversion on both emulators, seeded with Zoho's documented example (Kaizen #137).

Pat Boyle of Zylker Biotech already exists as a contact of the account Zylker Biotech: with
``--on-match merge`` the lead ends in those records on both CRMs, and nothing new is created.
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import _convert, _env, _finish, _rows, _write, _zoho_env
from leadconvert_salesforce import SalesforceEmulator, to_18
from leadconvert_zoho import ZohoEmulator

ZOHO_LEAD = "4876876000007400001"
ZOHO_CONTACT = "4876876000007421001"
ZOHO_ACCOUNT = "4876876000007421010"
SF_LEAD = to_18("00Q000000000001")
SF_CONTACT = to_18("003000000000001")
SF_ACCOUNT = to_18("001000000000001")


class TestZohoExample:
    def test_merge_ends_in_existing_contact_and_account(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """Pat Boyle merges into the existing contact (phone match) and its account."""
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": ZOHO_LEAD}])
        code, err = _finish(
            _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source, "--on-match", "merge")
        )
        assert code == 0, err
        (row,) = _rows(tmp_path / "leads.report.jsonl")
        assert row["outcome"] == "converted"
        assert (row["contact_id"], row["account_id"]) == (ZOHO_CONTACT, ZOHO_ACCOUNT)
        assert "Phone='9844444444'" in str(row["merge"])
        detail = zoho_emulator.lead(ZOHO_LEAD)["$converted_detail"]
        assert (detail["contact"], detail["account"]) == (ZOHO_CONTACT, ZOHO_ACCOUNT)

    def test_plan_says_what_it_merges_and_why(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """The plan carries the merge targets and, per lead, why they were chosen."""
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": ZOHO_LEAD}])
        process = _convert(
            tmp_path, _zoho_env(zoho_emulator), "zoho", source, "--on-match", "merge", "--dry-run"
        )
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        (request,) = json.loads(out)["requests"]
        body = request["json"]["data"][0]
        assert body["Contacts"] == {"id": ZOHO_CONTACT}
        assert body["Accounts"] == {"id": ZOHO_ACCOUNT}
        assert "Phone='9844444444'" in request["merges"][ZOHO_LEAD]
        assert not zoho_emulator.lead(ZOHO_LEAD).get("$converted")

    def test_ambiguous_is_reported_not_guessed(
        self, tmp_path: Path, zoho_emulator: ZohoEmulator
    ) -> None:
        """A lead whose e-mail contact has no account while its company matches one is not
        guessed: it fails, the report says why, and nothing is converted."""
        lead = zoho_emulator.add_lead(
            First_Name="Patricia",
            Last_Name="Bee",
            Email="pat.boyle@zylker.com",
            Phone="9800000099",
            Company="Zylker Biotech",
        )
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": lead}])
        code, _ = _finish(
            _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source, "--on-match", "merge")
        )
        assert code == 1
        (row,) = _rows(tmp_path / "leads.report.jsonl")
        assert row["outcome"] == "failed" and row["error_code"] == "duplicate"
        assert "ambiguous match, not guessed" in str(row["merge"])
        assert "belongs to no account" in str(row["merge"])
        assert not zoho_emulator.lead(lead).get("$converted")
        assert zoho_emulator.convert_requests[lead] == 0

    def test_skip_leaves_matching_leads(self, tmp_path: Path, zoho_emulator: ZohoEmulator) -> None:
        """--on-match skip leaves a matching lead unconverted and says what it matched."""
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": ZOHO_LEAD}])
        code, _ = _finish(
            _convert(tmp_path, _zoho_env(zoho_emulator), "zoho", source, "--on-match", "skip")
        )
        assert code == 1
        (row,) = _rows(tmp_path / "leads.report.jsonl")
        assert row["outcome"] == "not_attempted" and "Pat Boyle" in str(row["merge"])
        assert zoho_emulator.convert_requests[ZOHO_LEAD] == 0


class TestSalesforceExample:
    def test_merge_ends_in_existing_contact_and_account(
        self, tmp_path: Path, sf_emulator: SalesforceEmulator
    ) -> None:
        """On Salesforce the same lead merges into the same existing contact and account."""
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": SF_LEAD}])
        env = _env("salesforce", sf_emulator.credentials())
        code, err = _finish(_convert(tmp_path, env, "salesforce", source, "--on-match", "merge"))
        assert code == 0, err
        (row,) = _rows(tmp_path / "leads.report.jsonl")
        assert row["outcome"] == "converted"
        assert (row["contact_id"], row["account_id"]) == (SF_CONTACT, SF_ACCOUNT)
        assert "Email='pat.boyle@zylker.com'" in str(row["merge"])
        lead = sf_emulator.record("Lead", SF_LEAD)
        assert lead["ConvertedContactId"] == SF_CONTACT
        assert lead["ConvertedAccountId"] == SF_ACCOUNT

    def test_ambiguous_is_reported_not_guessed(
        self, tmp_path: Path, sf_emulator: SalesforceEmulator
    ) -> None:
        """Two contacts with the lead's e-mail are ambiguous: --on-ambiguous skip leaves it."""
        other = sf_emulator.insert("Account", {"Name": "Elsewhere Inc"})
        sf_emulator.insert(
            "Contact",
            {
                "FirstName": "Pat",
                "LastName": "Boyle",
                "Email": "pat.boyle@zylker.com",
                "AccountId": other,
            },
        )
        source = _write(tmp_path / "leads.jsonl", [{"lead_id": SF_LEAD}])
        env = _env("salesforce", sf_emulator.credentials())
        code, _ = _finish(
            _convert(
                tmp_path, env, "salesforce", source, "--on-match", "merge", "--on-ambiguous", "skip"
            )
        )
        assert code == 1
        (row,) = _rows(tmp_path / "leads.report.jsonl")
        assert row["outcome"] == "not_attempted"
        assert "several records match equally well" in str(row["merge"])
        assert not sf_emulator.record("Lead", SF_LEAD).get("IsConverted")
