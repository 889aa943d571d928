"""Translating to and from Dynamics: the same meaning comes out, with the target's own ids."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, note, settings

import leadconvert
from leadconvert import Conversion, Mode, dumps_json, plan_document, read_plan
from leadconvert.backend import PlanItem
from leadconvert.testing import normal_form, portable_conversions, relabel_ids

SETTINGS = {
    "zoho": {"contacts_module_id": "11", "accounts_module_id": "12", "deals_module_id": "13"},
    "salesforce": {},
    "dynamics": {},
}


def _ids(conversion: Conversion) -> list[str]:
    found: list[str] = []

    def note_id(_role: str, value: str) -> str:
        found.append(value)
        return value

    relabel_ids(conversion, note_id)
    return found


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("salesforce", "dynamics"),
        ("dynamics", "salesforce"),
        ("zoho", "dynamics"),
        ("dynamics", "zoho"),
    ],
)
def test_translate_carries_the_meaning_over(
    registry: leadconvert.Registry, source: str, target: str
) -> None:
    backends = [registry.get(source), registry.get(target)]
    src, dst = backends

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(portable_conversions(backends, mode=Mode.STRICT, settings=SETTINGS))
    def prop(pair: dict[str, Conversion]) -> None:
        ids: dict[str, str] = {}
        for role_id, target_id in zip(_ids(pair[source]), _ids(pair[target]), strict=True):
            # The source's plan may spell an id its own way (Salesforce: 18 characters).
            ids[role_id] = ids[src.canonical_id(role_id, "")] = target_id
        note(f"{source}: {pair[source]}; ids {ids}")
        plan = src.plan([PlanItem(pair[source], 1)], SETTINGS[source])
        payload = dumps_json(plan_document(src, plan))
        there = leadconvert.translate(payload, src, dst, settings=SETTINGS[target], id_map=ids)
        assert not there.rejected, there.rejected
        (parsed,) = dst.parse_native(read_plan(there.payload()).calls)
        expected = pair[target]
        # Ids compare in the target's own spelling (Salesforce's 18 characters, GUIDs in lower
        # case).
        canonical = {v: dst.canonical_id(v, "") for v in _ids(expected)}
        expected = relabel_ids(expected, lambda _r, v: canonical.get(v, v))
        parsed = relabel_ids(parsed, lambda _r, v: dst.canonical_id(v, ""))
        # What the source or the target warned it leaves out (Zoho ignores a converted status)
        # is not compared.
        for warning in (*plan.warnings, *there.warnings):
            field = warning.violation.path.split(".")[0]
            expected = attrs.evolve(expected, **{field: getattr(parsed, field)})
        assert normal_form(parsed) == normal_form(expected)

    prop()
