"""The migration journal: a SQLite file recording each lead's state before and after every call.

A lead is marked ``sending`` (and the mark is on disk) before the call that carries it leaves, and
``done`` with its outcome after the answer is read. A process killed in between leaves the mark:
the next run asks the CRM what became of the lead before anything is re-sent. That, and the
lead id being the primary key, is what keeps a lead from being converted twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from attrs import frozen

from ._exceptions import InputError
from ._results import ConversionError, ConversionResult, ErrorCode, Outcome

__all__ = ["Journal", "JournalEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY,
    line INTEGER,
    state TEXT NOT NULL CHECK (state IN ('sending', 'done')),
    outcome TEXT,
    account_id TEXT,
    contact_id TEXT,
    opportunity_id TEXT,
    error_code TEXT,
    backend_code TEXT,
    message TEXT,
    call_id TEXT,
    job_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_id TEXT,
    updated_at REAL NOT NULL
);
"""

#: Outcomes after which a lead is never sent again.
FINAL = frozenset({Outcome.CONVERTED, Outcome.ALREADY_CONVERTED})
#: Outcomes that leave the lead's state in doubt: ask the CRM before re-sending.
IN_DOUBT = frozenset({Outcome.UNKNOWN, Outcome.SCHEDULED})


@frozen
class JournalEntry:
    """What the journal knows of one lead."""

    lead_id: str
    line: int | None
    state: str
    outcome: Outcome | None
    result: ConversionResult | None
    attempts: int
    #: The run that last touched the lead; the current run's id means "seen earlier this run".
    run_id: str | None

    @property
    def final(self) -> bool:
        """The lead is converted (by us or before us): never send it again."""
        return self.state == "done" and self.outcome in FINAL

    @property
    def in_doubt(self) -> bool:
        """A call carrying the lead may have converted it: reconcile before re-sending."""
        return self.state == "sending" or self.outcome in IN_DOUBT


class Journal:
    """One run's journal, bound to one backend."""

    def __init__(self, path: Path, backend: str, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._in_batch = False
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            # WAL with full sync: a committed mark survives kill -9 and power loss alike.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'backend'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"cannot use {path} as a journal: {exc}") from exc
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('backend', ?)", (backend,))
        elif row[0] != backend:
            raise InputError(
                f"the journal {path} belongs to a run on backend {row[0]!r}, not {backend!r}; "
                "give another --journal"
            )

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def get(self, lead_id: str) -> JournalEntry | None:
        """What the journal knows of ``lead_id``."""
        row = self._db.execute(
            "SELECT lead_id, line, state, outcome, account_id, contact_id, opportunity_id,"
            " error_code, backend_code, message, call_id, job_id, attempts, run_id"
            " FROM leads WHERE lead_id = ?",
            (lead_id,),
        ).fetchone()
        return None if row is None else _entry(row)

    def mark_sending(self, lead_lines: Iterable[tuple[str, int | None]], call_id: str) -> None:
        """Record, durably, that a call carrying these leads is about to leave."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO leads (lead_id, line, state, call_id, attempts, run_id, updated_at)"
                " VALUES (?, ?, 'sending', ?, 1, ?, ?)"
                " ON CONFLICT (lead_id) DO UPDATE SET state = 'sending', outcome = NULL,"
                " line = excluded.line, call_id = excluded.call_id, attempts = attempts + 1,"
                " run_id = excluded.run_id, updated_at = excluded.updated_at",
                [(lead_id, line, call_id, self.run_id, now) for lead_id, line in lead_lines],
            )

    def record(self, results: Iterable[tuple[ConversionResult, int | None]]) -> None:
        """Record the outcome of each lead."""
        now = time.time()
        rows = []
        for result, line in results:
            error = result.error
            rows.append(
                (
                    result.lead_id,
                    line,
                    result.outcome.value,
                    result.account_id,
                    result.contact_id,
                    result.opportunity_id,
                    error.code.value if error else None,
                    error.backend_code if error else None,
                    error.message if error else None,
                    None if result.call is None else str(result.call),
                    result.job_id,
                    self.run_id,
                    now,
                )
            )
        with self._transaction():
            self._db.executemany(
                "INSERT INTO leads (lead_id, line, state, outcome, account_id, contact_id,"
                " opportunity_id, error_code, backend_code, message, call_id, job_id, run_id,"
                " updated_at) VALUES (?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (lead_id) DO UPDATE SET state = 'done', outcome = excluded.outcome,"
                " account_id = excluded.account_id, contact_id = excluded.contact_id,"
                " opportunity_id = excluded.opportunity_id, error_code = excluded.error_code,"
                " backend_code = excluded.backend_code, message = excluded.message,"
                " call_id = COALESCE(excluded.call_id, call_id),"
                " job_id = COALESCE(excluded.job_id, job_id), run_id = excluded.run_id,"
                " line = COALESCE(excluded.line, line), updated_at = excluded.updated_at",
                rows,
            )

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Make every mark and record inside one transaction: one commit, one fsync."""
        if self._in_batch:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_batch = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_batch = False

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.batch()


def _entry(row: tuple[object, ...]) -> JournalEntry:
    (lead_id, line, state, outcome, account, contact, opportunity) = row[:7]
    (error_code, backend_code, message, call_id, job_id, attempts, run_id) = row[7:]
    result = None
    parsed = Outcome(outcome) if isinstance(outcome, str) else None
    if parsed is not None:
        error = None
        if isinstance(error_code, str):
            error = ConversionError(
                code=ErrorCode(error_code),
                message=str(message or ""),
                backend_code=backend_code if isinstance(backend_code, str) else None,
            )
        result = ConversionResult(
            lead_id=str(lead_id),
            outcome=parsed,
            account_id=account if isinstance(account, str) else None,
            contact_id=contact if isinstance(contact, str) else None,
            opportunity_id=opportunity if isinstance(opportunity, str) else None,
            error=error,
            call=int(call_id) if isinstance(call_id, str) and call_id.isdigit() else None,
            job_id=job_id if isinstance(job_id, str) else None,
        )
    return JournalEntry(
        lead_id=str(lead_id),
        line=line if isinstance(line, int) else None,
        state=str(state),
        outcome=parsed,
        result=result,
        attempts=int(attempts) if isinstance(attempts, int) else 0,
        run_id=run_id if isinstance(run_id, str) else None,
    )
