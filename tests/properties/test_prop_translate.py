"""Property 4: translating source -> target -> source, for every two of Zoho, Salesforce and
Dynamics 365, keeps every meaning the other CRM can express; and ``leadconvert translate``
reports what it cannot."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from prop_helpers import (
    COMMON_STAGES,
    DYNAMICS_FIELDS,
    SAFE_FIELDS,
    ZOHO_PIPELINE,
    _ids,
    check_translate_round_trip,
    spelt,
)

import leadconvert
from leadconvert import (
    Conversion,
    CreateOpportunity,
    Mode,
    NoOpportunity,
    dumps_json,
    plan_document,
    read_plan,
)
from leadconvert.backend import PlanItem
from leadconvert.testing import portable_conversions

SETTINGS = {
    "zoho": {"contacts_module_id": "11", "accounts_module_id": "12", "deals_module_id": "13"},
    "salesforce": {},
    "dynamics": {},
}
#: Strict mode: opportunities with the parts both CRMs of a pair may share (generic ones are
#: rarely valid on two CRMs at once). Lenient mode draws them generically.
OPPORTUNITIES = st.one_of(
    st.just(NoOpportunity()),
    st.builds(
        CreateOpportunity,
        name=st.text("abc xyz", min_size=1, max_size=20).filter(str.strip),
        stage=st.none() | st.sampled_from(COMMON_STAGES),
        close_date=st.none() | st.dates(),
        pipeline=st.none() | st.just(ZOHO_PIPELINE),
        amount=st.none()
        | st.decimals(Decimal("-1e12"), Decimal("1e12"), places=2, allow_nan=False),
        fields=SAFE_FIELDS | DYNAMICS_FIELDS,
    ),
)
PAIRS = [
    ("salesforce", "zoho"),
    ("zoho", "salesforce"),
    ("salesforce", "dynamics"),
    ("dynamics", "salesforce"),
    ("zoho", "dynamics"),
    ("dynamics", "zoho"),
]


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.LENIENT], ids=lambda m: m.value)
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_translate_round_trip(
    registry: leadconvert.Registry, source: str, target: str, mode: Mode
) -> None:
    """source -> target -> source gives back everything the target could carry."""
    backends = [registry.get(source), registry.get(target)]

    chosen = {"opportunity": OPPORTUNITIES} if mode is Mode.STRICT else {}

    @given(portable_conversions(backends, mode=mode, settings=SETTINGS, **chosen))
    def prop(pair: dict[str, Conversion]) -> None:
        # The same records in both CRMs: the source's ids (in every spelling) -> the target's.
        ids: dict[str, str] = {}
        for a, b in zip(_ids(pair[source]), _ids(pair[target]), strict=True):
            ids[a] = ids[spelt(backends[0], a)] = b
        note(f"{source}: {pair[source]}; ids {ids}")
        check_translate_round_trip(backends[0], backends[1], pair[source], ids, mode, SETTINGS)

    prop()


def _plan_file(tmp_path: Path, registry: leadconvert.Registry, conversion: Conversion) -> Path:
    backend = registry.get("salesforce")
    plan = backend.plan([PlanItem(conversion, 1)], {})
    path = tmp_path / "salesforce.json"
    path.write_text(dumps_json(plan_document(registry.get("salesforce"), plan)))
    return path


def test_cli_translates_and_reports(tmp_path: Path, registry: leadconvert.Registry) -> None:
    """`leadconvert translate` prints Zoho's plan, and refuses (strict) or warns (lenient)."""
    from leadconvert._cli import main

    sf_lead, zoho_lead = "00Q000000000001", "4876876000007400001"
    conversion = Conversion(
        lead_id=sf_lead,
        opportunity=CreateOpportunity("Deal"),
        overwrite_lead_source=False,
        notify_new_owner=True,
    )
    source = _plan_file(tmp_path, registry, conversion)
    ids = tmp_path / "ids.csv"
    ids.write_text(f"source,target\n{sf_lead}EAA,{zoho_lead}\n")
    out = _run(
        main, ["translate", "--from", "salesforce", "--to", "zoho", "--ids", str(ids), str(source)]
    )
    # Zoho needs a stage, closing date and pipeline the Salesforce payload does not have.
    assert out[0] == 1
    assert "zoho.deal.stage_required" in out[2]
    plain = _plan_file(tmp_path, registry, Conversion(lead_id=sf_lead, notify_new_owner=True))
    code, stdout, stderr = _run(
        main, ["translate", "--from", "salesforce", "--to", "zoho", "--ids", str(ids), str(plain)]
    )
    assert code == 0, stderr
    (request,) = json.loads(stdout)["requests"]
    assert request["path"] == f"/crm/v8/Leads/{zoho_lead}/actions/convert"
    assert request["json"] == {"data": [{"notify_new_entity_owner": True}]}
    back = tmp_path / "zoho.json"
    back.write_text(stdout)
    reverse = tmp_path / "back.json"
    reverse.write_text(json.dumps({zoho_lead: sf_lead}))
    code, stdout, stderr = _run(
        main,
        ["translate", "--from", "zoho", "--to", "salesforce", "--ids", str(reverse), str(back)],
    )
    assert code == 0, stderr
    (again,) = registry.get("salesforce").parse_native(read_plan(stdout).calls)
    assert again.notify_new_owner and again.lead_id.startswith(sf_lead)
    # Lenient: what Zoho cannot express is warned about and left out, not refused.
    both = _plan_file(tmp_path, registry, Conversion(lead_id=sf_lead, converted_status="Done"))
    code, stdout, stderr = _run(
        main,
        [
            "translate",
            "--from",
            "salesforce",
            "--to",
            "zoho",
            "--lenient",
            "--ids",
            str(ids),
            str(both),
        ],
    )
    assert code == 0, stderr
    assert "zoho.converted_status.ignored" in stderr


def _run(main, args):  # type: ignore[no-untyped-def]
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
