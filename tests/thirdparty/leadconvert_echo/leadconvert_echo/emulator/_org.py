"""The emulated Echo CRM org: records and rules, no HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from leadconvert import InputError

__all__ = ["EchoOrg"]


class EchoOrg:
    """Leads, accounts, contacts and deals, and Echo CRM's conversion rules."""

    def __init__(self, seed: Mapping[str, Any]) -> None:
        try:
            self.token = str(seed["token"])
            self.leads = {str(x["id"]): dict(x, converted=False) for x in seed["leads"]}
            self.accounts = {str(x["id"]): dict(x) for x in seed.get("accounts", [])}
            self.contacts = {str(x["id"]): dict(x) for x in seed.get("contacts", [])}
        except (KeyError, TypeError) as exc:
            raise InputError(f"an Echo seed needs token and leads with ids ({exc})") from exc
        self.deals: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1000)

    def new_id(self, prefix: str) -> str:
        """A fresh id of a kind of record."""
        return f"{prefix}{next(self._numbers)}"

    def add_lead(self, fields: Mapping[str, Any]) -> str:
        """A new unconverted lead."""
        lead_id = self.new_id("L")
        self.leads[lead_id] = {"name": "New Lead", **fields, "id": lead_id, "converted": False}
        return lead_id

    def convert(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Convert one lead of a convert request; the answer's row for it."""
        lead_id = entry.get("id")
        lead = self.leads.get(str(lead_id))
        if lead is None:
            return {"id": lead_id, "ok": False, "error": "NOT_FOUND", "message": "no such lead"}
        if lead["converted"]:
            return {"id": lead_id, "ok": False, "error": "ALREADY_CONVERTED", "message": "done"}
        account_id, contact_id = entry.get("account_id"), entry.get("contact_id")
        if account_id is not None and account_id not in self.accounts:
            return {"id": lead_id, "ok": False, "error": "INVALID", "message": "no such account"}
        if contact_id is not None and (
            contact_id not in self.contacts
            or self.contacts[contact_id].get("account_id") != account_id
        ):
            return {"id": lead_id, "ok": False, "error": "INVALID", "message": "bad contact"}
        if account_id is None:
            account_id = self.new_id("A")
            self.accounts[account_id] = {"id": account_id, "name": lead.get("name")}
        if contact_id is None:
            contact_id = self.new_id("C")
            self.contacts[contact_id] = {
                "id": contact_id,
                "name": lead.get("name"),
                "account_id": account_id,
            }
        deal_id = None
        if isinstance(entry.get("deal"), Mapping):
            deal_id = self.new_id("D")
            amount = entry["deal"].get("amount")
            self.deals[deal_id] = {
                "id": deal_id,
                "name": entry["deal"].get("name"),
                "amount": str(Decimal(amount)) if amount is not None else None,
            }
        lead.update(converted=True, account_id=account_id, contact_id=contact_id, deal_id=deal_id)
        return {
            "id": lead_id,
            "ok": True,
            "account_id": account_id,
            "contact_id": contact_id,
            "deal_id": deal_id,
        }

    def matches(self, lead_id: str) -> dict[str, Any] | None:
        """Contacts with the lead's e-mail and accounts named like its contact's account."""
        lead = self.leads.get(lead_id)
        if lead is None:
            return None
        email = lead.get("email")
        contacts = [c for c in self.contacts.values() if email and c.get("email") == email]
        account_ids = {c.get("account_id") for c in contacts}
        return {
            "contacts": [
                {"id": c["id"], "name": c.get("name"), "account_id": c.get("account_id")}
                for c in contacts
            ],
            "accounts": [
                {"id": a["id"], "name": a.get("name")}
                for a in self.accounts.values()
                if a["id"] in account_ids
            ],
        }

    def state(self) -> dict[str, Any]:
        """Every record, JSON-ready."""
        return {
            "leads": list(self.leads.values()),
            "accounts": list(self.accounts.values()),
            "contacts": list(self.contacts.values()),
            "deals": list(self.deals.values()),
        }
