"""Translating one CRM's native payload into another CRM's, via the neutral model.

``translate`` reads the source payload (a plan document or a bare native body, see
``read_native``) and parses its calls with the source backend's ``parse_native``, optionally
renames record ids (ids are CRM-specific: a Salesforce id never names a Zoho record), and sends
the conversions through the target's pipeline (strict: what the target cannot express is a
violation; lenient: a warning). The result is the target's plan, shown as the same document
``leadconvert plan`` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from attrs import frozen

from ._check import Mode
from ._defaults import Defaults
from ._json import dumps_json
from ._model import (
    AttachOpportunity,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
)
from ._pipeline import Pipeline
from ._plan_document import plan_document, read_native
from ._results import Violation
from .backend import ID_ROLES, Backend, BackendPlan, PlanWarning

__all__ = ["ID_ROLES", "Rejected", "Translation", "relabel_ids", "translate"]


def relabel_ids(conversion: Conversion, rename: Callable[[str, str], str]) -> Conversion:
    """``conversion`` with every record id replaced by ``rename(role, id)``.

    Roles are those of ``ID_ROLES``; an opportunity's contact role is a ``contact`` id.
    """
    changes: dict[str, Any] = {"lead_id": rename("lead", conversion.lead_id)}
    account = conversion.account
    if isinstance(account, MergeAccount | MergePersonAccount):
        changes["account"] = attrs.evolve(account, id=rename("account", account.id))
    if isinstance(conversion.contact, MergeContact):
        changes["contact"] = MergeContact(rename("contact", conversion.contact.id))
    opportunity = conversion.opportunity
    if isinstance(opportunity, AttachOpportunity):
        changes["opportunity"] = AttachOpportunity(rename("opportunity", opportunity.id))
    elif isinstance(opportunity, CreateOpportunity) and opportunity.contact_role is not None:
        changes["opportunity"] = attrs.evolve(
            opportunity, contact_role=rename("contact", opportunity.contact_role)
        )
    if conversion.owner_id is not None:
        changes["owner_id"] = rename("user", conversion.owner_id)
    return attrs.evolve(conversion, **changes)


@frozen
class Rejected:
    """A source conversion the target cannot carry, and why."""

    index: int
    conversion: Conversion
    violations: tuple[Violation, ...]


@frozen
class Translation:
    """What ``translate`` made of a payload."""

    source: str
    #: The target backend, which renders the plan when it is shown.
    target_backend: Backend
    #: Every conversion the source payload expresses (ids already renamed).
    conversions: tuple[Conversion, ...]
    #: The conversions the target cannot express (strict), or breaks a rule of (any mode).
    rejected: tuple[Rejected, ...]
    #: The target's plan of the others, with the warnings of lenient mode and of the backend.
    plan: BackendPlan

    @property
    def warnings(self) -> tuple[PlanWarning, ...]:
        """What the target will not do as asked (lenient mode, or ignored meanings)."""
        return self.plan.warnings

    @property
    def target(self) -> str:
        """The target backend's name."""
        return self.target_backend.name

    def document(self) -> dict[str, Any]:
        """The target's plan as a JSON document (what ``leadconvert plan`` prints)."""
        return plan_document(self.target_backend, self.plan)

    def payload(self) -> str:
        """The target's native payload: the plan document as JSON text."""
        return dumps_json(self.document(), indent=1)


def translate(
    payload: str,
    source: Backend,
    target: Backend,
    *,
    mode: Mode = Mode.STRICT,
    settings: Mapping[str, str] | None = None,
    id_map: Mapping[str, str] | None = None,
    defaults: Defaults | None = None,
) -> Translation:
    """Carry the conversions of ``source``'s native ``payload`` over to ``target``.

    ``id_map`` renames record ids (source id -> target id); ids it does not name are kept, and
    the target's own id rules then judge them. ``defaults`` fill target fields the source left
    unset (noted in the plan's warnings). Raises ``InputError`` when the payload cannot be
    read.
    """
    conversions: Sequence[Conversion] = source.parse_native(read_native(payload))
    if id_map:
        mapping = dict(id_map)
        conversions = [relabel_ids(c, lambda _role, i: mapping.get(i, i)) for c in conversions]
    window = Pipeline(target, settings, mode=mode, defaults=defaults).plan_conversions(conversions)
    rejected = [
        Rejected(record.line - 1, conversions[record.line - 1], record.violations)
        for record in window.invalid
        if record.line is not None
    ]
    return Translation(
        source=source.name,
        target_backend=target,
        conversions=tuple(conversions),
        rejected=tuple(rejected),
        plan=window.plan,
    )
