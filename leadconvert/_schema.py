"""The JSON Schema (2020-12) of one neutral input line.

Written out rather than derived, so that it reads as documentation; the test suite checks it
against the converter both ways (every canonical conversion validates, every example file too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .backend import Backend

__all__ = ["conversion_schema"]

_ID = {
    "type": "string",
    "pattern": r"^[^\s\x00-\x1f\x7f]+$",
    "description": "A record id; each backend checks its own id syntax.",
}
_TEXT = {"type": "string", "pattern": r"\S"}
_TAGS = {
    "oneOf": [
        {"type": "array", "items": _TEXT, "uniqueItems": True},
        {"const": "all"},
    ],
    "description": 'Tag names to carry over, or "all" for every tag the lead carries.',
}


def _target(action: str, description: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {"action": {"const": action}, **properties},
        "required": ["action", *properties],
        "additionalProperties": False,
    }


def conversion_schema(backends: Iterable[Backend] = ()) -> dict[str, Any]:
    """The schema of one input line, with ``options`` for each of ``backends``."""
    options: dict[str, Any] = {}
    for backend in backends:
        schema = backend.options_schema()
        if schema is not None:
            options[backend.name] = schema
    opportunity_create = {
        "type": "object",
        "description": "Create an opportunity (Zoho: deal). Without a name the CRM names it "
        "(Salesforce: after the lead's company); Zoho needs a name.",
        "properties": {
            "action": {"const": "create"},
            "name": {
                **_TEXT,
                "description": "The opportunity's name; leave it out to let the CRM name it.",
            },
            "stage": _TEXT,
            "close_date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"},
            "pipeline": _TEXT,
            "amount": {
                "description": "Exact decimal amount; write it as a string to be safe from "
                "float rounding in other tools.",
                "oneOf": [
                    {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
                    {"type": "number"},
                ],
            },
            "contact_role": _ID,
            "fields": {
                "type": "object",
                "description": "Further opportunity fields by the CRM's own field name.",
                "propertyNames": _TEXT,
            },
        },
        "required": ["action"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://leadconvert.dev/schema/conversion.json",
        "title": "leadconvert conversion",
        "description": "One lead conversion in CRM-neutral terms: one line of a JSON Lines file.",
        "type": "object",
        "properties": {
            "lead_id": _ID,
            "account": {
                "description": "Where the lead's account goes (default: create from the lead).",
                "oneOf": [
                    _target("create", "Create the account from the lead."),
                    _target("merge", "Merge into an existing account.", id=_ID),
                    _target(
                        "merge_person_account",
                        "Merge into an existing person account (Salesforce).",
                        id=_ID,
                    ),
                ],
            },
            "contact": {
                "description": "Where the lead's contact goes (default: create from the lead).",
                "oneOf": [
                    _target("create", "Create the contact from the lead."),
                    _target("merge", "Merge into an existing contact.", id=_ID),
                ],
            },
            "opportunity": {
                "description": "The opportunity (default: none).",
                "oneOf": [
                    _target("none", "Create no opportunity."),
                    opportunity_create,
                    _target("attach", "Attach an existing opportunity.", id=_ID),
                ],
            },
            "owner_id": _ID,
            "notify_lead_owner": {"type": "boolean", "default": False},
            "notify_new_owner": {"type": "boolean", "default": False},
            "overwrite_account_name": {"type": "boolean", "default": False},
            "overwrite_lead_source": {"type": "boolean", "default": False},
            "converted_status": _TEXT,
            "move_attachments_to": {"enum": ["contacts", "accounts", "deals"]},
            "carry_over_tags": {
                "type": "object",
                "properties": {"contacts": _TAGS, "accounts": _TAGS, "deals": _TAGS},
                "additionalProperties": False,
            },
            "options": {
                "type": "object",
                "description": "Options scoped to one backend; every other backend rejects them.",
                "properties": options,
                "additionalProperties": False,
            },
        },
        "required": ["lead_id"],
        "additionalProperties": False,
    }
