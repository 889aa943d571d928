"""Reading the journal a window at a time gives what reading it a lead at a time gives."""

from __future__ import annotations

from pathlib import Path

from leadconvert import ConversionResult, FollowUp, Outcome
from leadconvert._journal import Journal


def test_get_many_gives_each_lead_what_get_gives(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", "memory", "run-1", org="org")
    # More leads than one statement looks up, some with follow-up steps, some never seen.
    leads = [f"L{i:04d}" for i in range(1_203)]
    journal.mark_sending(
        [(lead, i) for i, lead in enumerate(leads[:900])],
        "1",
        kind="convert",
        follow_ups=dict.fromkeys(leads[500:700], 2),
    )
    journal.record(
        [(ConversionResult(lead, Outcome.CONVERTED, account_id="A"), i) for i, lead in
         enumerate(leads[:600])]
    )  # fmt: skip
    for lead in leads[500:700]:
        journal.mark_step(lead, 0, "update")
        journal.record_step(lead, 0, "update", FollowUp("update", True))
        journal.mark_step(lead, 1, "update")
    asked = [*leads, "L0001", "nobody"]
    many = journal.get_many(asked)
    assert set(many) == set(leads[:900])
    for lead in asked:
        assert many.get(lead) == journal.get(lead)
    assert [step.seq for step in many["L0550"].steps] == [0, 1]
    assert many["L0550"].pending_steps
    assert journal.get_many([]) == {}
