"""Which journal commits are fsync'd: every one holding a mark, and only those need to be.

Outcomes and job ids are committed without an fsync of their own (they survive a killed
process at once and power loss from the next durable commit on); a mark is on disk, in the
database file itself if need be, before its call can leave. A job id the departure log holds
(``Journal.job_queued``) is fsync'd with the next durable commit too.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from leadconvert import ConversionResult, Outcome
from leadconvert._journal import Journal, JournalError

FULL, NORMAL = 2, 1


def _journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "run.journal.sqlite", "memory", "run-1", org="org")


def _statements(journal: Journal) -> list[str]:
    seen: list[str] = []
    journal._db.set_trace_callback(seen.append)
    return seen


def _synchronous(journal: Journal) -> int:
    return int(journal._db.execute("PRAGMA synchronous").fetchone()[0])


def _marked_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: list[OSError] | None = None
) -> tuple[Journal, list[int]]:
    """A journal with one call marked (which opens its departure log), and the fsyncs of that
    log from now on, raising ``fail``'s errors first."""
    journal = _journal(tmp_path)
    journal.mark_sending([("L1", 1)], "1")
    log = os.stat(journal.departures_path).st_ino
    synced: list[int] = []
    failures = fail or []
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == log:
            if failures:
                raise failures.pop()
            synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return journal, synced


def test_marks_are_committed_with_full_sync(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    seen = _statements(journal)
    journal.mark_sending([("L1", 1)], "1")
    journal.mark_step("L1", 0, "update")
    assert not any("synchronous=NORMAL" in s for s in seen)
    assert _synchronous(journal) == FULL


def test_outcomes_and_job_ids_skip_the_fsync_then_full_sync_is_back(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.mark_sending([("L1", 1), ("L2", 2)], "1")
    seen = _statements(journal)
    journal.set_job(["L1", "L2"], "job-7")
    with journal.batch(durable=False):
        assert _synchronous(journal) == NORMAL
        journal.record([(ConversionResult("L1", Outcome.CONVERTED, job_id="job-7"), 1)])
    assert seen.count("PRAGMA synchronous=NORMAL") == 2
    assert _synchronous(journal) == FULL
    entry = journal.get("L2")
    assert entry is not None and entry.job_id == "job-7"
    done = journal.get("L1")
    assert done is not None and done.outcome is Outcome.CONVERTED


def test_a_mark_inside_a_transaction_opened_without_fsync_still_reaches_the_disk(
    tmp_path: Path,
) -> None:
    journal = _journal(tmp_path)
    with journal.batch(durable=False):
        journal.record([(ConversionResult("L0", Outcome.CONVERTED), 1)])
        journal.mark_sending([("L1", 2)], "1")
    # The database file alone, without its write-ahead log: the mark was checkpointed into it
    # (a commit only appends to the log).
    alone = tmp_path / "alone.sqlite"
    shutil.copyfile(journal.path, alone)
    row = sqlite3.connect(alone).execute("SELECT state FROM leads WHERE lead_id = 'L1'").fetchone()
    assert row == ("sending",)
    assert _synchronous(journal) == FULL


class _FailingOnce:
    """An SQLite connection whose first ``PRAGMA synchronous=FULL`` fails (a disk error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.failed = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "PRAGMA synchronous=FULL" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_full_sync_that_could_not_be_put_back_is_before_the_next_mark(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    db = journal._db
    failing = _FailingOnce(db)
    journal._db = failing  # type: ignore[assignment]
    journal.set_job(["L1"], "job-1")
    assert failing.failed
    assert int(db.execute("PRAGMA synchronous").fetchone()[0]) == NORMAL
    seen = _statements(journal)
    journal.mark_sending([("L1", 1)], "1")
    assert seen.index("PRAGMA synchronous=FULL") < seen.index("BEGIN IMMEDIATE")
    assert int(db.execute("PRAGMA synchronous").fetchone()[0]) == FULL


def test_a_logged_job_id_is_fsynced_with_the_next_mark_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, synced = _marked_journal(tmp_path, monkeypatch)
    journal.job_queued("1", "job-7")
    assert synced == []
    with journal.batch(durable=False):
        journal.record([(ConversionResult("L0", Outcome.CONVERTED), 1)])
    assert synced == []
    journal.mark_sending([("L2", 2)], "2")
    assert len(synced) == 1
    journal.mark_sending([("L3", 3)], "3")
    assert len(synced) == 1
    journal.close()


def test_a_job_id_is_logged_while_the_runners_pass_holds_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker given a job id logs it and goes on to poll: it does not wait for the pass the
    runner's thread has open (results, marks, commit), which holds the journal's lock."""
    journal, synced = _marked_journal(tmp_path, monkeypatch)
    worker = threading.Thread(target=journal.job_queued, args=("1", "job-7"))
    with journal.batch():
        journal.mark_sending([("L2", 2)], "2")
        worker.start()
        worker.join(timeout=10)
        logged = not worker.is_alive()
        text = journal.departures_path.read_text(encoding="utf-8")
    worker.join()
    assert logged, "job_queued waited for the open transaction"
    assert "job run-1 1 job-7\n" in text
    # Logged before the commit took the flag: on disk with this commit, and once.
    assert len(synced) == 1
    journal.mark_sending([("L3", 3)], "3")
    assert len(synced) == 1
    journal.close()


def test_a_failed_fsync_of_the_log_leaves_its_job_ids_for_the_next_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, synced = _marked_journal(
        tmp_path, monkeypatch, fail=[OSError(5, "Input/output error")]
    )
    journal.job_queued("1", "job-7")
    with pytest.raises(JournalError):
        journal.mark_sending([("L2", 2)], "2")
    assert synced == []
    journal.mark_sending([("L3", 3)], "3")
    assert len(synced) == 1
    journal.close()
