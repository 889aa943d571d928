"""Translating one CRM's native payload into another CRM's, via the neutral model.

``translate`` parses the source payload with the source backend's ``parse_native``, optionally
renames record ids (ids are CRM-specific: a Salesforce id never names a Zoho record), checks each
conversion against the target with ``check`` (strict: what the target cannot express is a
violation; lenient: a warning), and plans the valid ones on the target. The result is the
target's plan document, the same JSON ``leadconvert plan`` prints, which the target's
``parse_native`` reads back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from attrs import frozen

from ._json import dumps_json
from ._model import (
    AttachOpportunity,
    Conversion,
    CreateOpportunity,
    MergeAccount,
    MergeContact,
    MergePersonAccount,
)
from ._planner import Mode, check
from ._results import Violation
from .backend import Backend, BackendPlan, PlanItem, PlanWarning

__all__ = ["ID_ROLES", "Rejected", "Translation", "plan_document", "relabel_ids", "translate"]

#: The kinds of record a conversion names by id.
ID_ROLES = ("lead", "account", "contact", "opportunity", "user")


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
    target: str
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

    def document(self) -> dict[str, Any]:
        """The target's plan as a JSON document (what ``leadconvert plan`` prints)."""
        return plan_document(self.target, self.plan)

    def payload(self) -> str:
        """The target's native payload: the plan document as JSON text."""
        return dumps_json(self.document(), indent=1)


def plan_document(backend_name: str, plan: BackendPlan) -> dict[str, Any]:
    """A plan as the JSON document ``leadconvert plan`` prints (and ``parse_native`` reads)."""
    requests: list[dict[str, Any]] = []
    for call in plan.calls:
        request = call.request.to_dict()
        request.update(kind=call.kind, leads=list(call.lead_ids), reason=call.reason)
        if call.after is not None:
            request["after"] = call.after
        requests.append(request)
    return {
        "backend": backend_name,
        "requests": requests,
        "calls": len(requests),
        "warnings": [w.to_dict() for w in plan.warnings],
    }


def translate(
    payload: str,
    source: Backend,
    target: Backend,
    *,
    mode: Mode = Mode.STRICT,
    settings: Mapping[str, str] | None = None,
    id_map: Mapping[str, str] | None = None,
) -> Translation:
    """Carry the conversions of ``source``'s native ``payload`` over to ``target``.

    ``id_map`` renames record ids (source id -> target id); ids it does not name are kept, and
    the target's own id rules then judge them. Raises ``InputError`` when the payload cannot be
    read.
    """
    conversions: Sequence[Conversion] = source.parse_native(payload)
    if id_map:
        mapping = dict(id_map)
        conversions = [relabel_ids(c, lambda _role, i: mapping.get(i, i)) for c in conversions]
    rejected: list[Rejected] = []
    items: list[PlanItem] = []
    warnings: list[PlanWarning] = []
    for index, conversion in enumerate(conversions):
        checked = check(target, conversion, mode)
        if checked.errors:
            rejected.append(Rejected(index, conversion, checked.errors))
            continue
        line = index + 1
        warnings.extend(PlanWarning(conversion.lead_id, v, line) for v in checked.warnings)
        items.append(PlanItem(conversion, line))
    planned = target.plan(items, dict(settings or {})) if items else BackendPlan(())
    return Translation(
        source=source.name,
        target=target.name,
        conversions=tuple(conversions),
        rejected=tuple(rejected),
        plan=BackendPlan(planned.calls, (*warnings, *planned.warnings)),
    )
