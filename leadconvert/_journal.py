"""The migration journal: a SQLite file recording every step that changes the CRM.

A lead is marked ``sending`` (and the mark is on disk) before the call that carries it leaves,
and ``done`` with its outcome after the answer is read. Every later step is journaled the same
way: a scheduled job's id as soon as the CRM names it (before it is polled), and each follow-up
(Salesforce's opportunity update) as ``sending`` before it leaves and ``done`` after. A process
killed anywhere leaves a mark: the next run finishes what was started (polls the job, runs the
pending follow-ups) and asks the CRM what became of a lead before anything is re-sent. That, and
the lead id being the primary key, is what keeps a lead from being converted twice.

A journal belongs to one org: it records the backend and the client's ``org_identity()`` and
refuses to be used against another. One run at a time uses it (``JournalLock``), and one run at a
time serves an org from this machine (``org_lock``). A journal that is empty, damaged or written
by an incompatible version is refused with how to recover, never taken for a fresh start.

One journal is started afresh instead: one written on an emulator that its own run started
(``emulated``), by a run on another such emulator. That emulator's state ended with its run, so
the journal describes an org that no longer exists, and the new run's emulator is a new org
with every lead open again. The same emulator (one session converting twice) resumes it; a
journal written against a CRM, or an emulator started on its own (``leadconvert sandbox``), is
never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, ParamSpec, TypeVar
from urllib.parse import quote, unquote

from attrs import evolve, frozen

from ._exceptions import LocalStateError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> None:
        """Lock the first byte of the file, or raise ``OSError`` at once."""
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        """Take an exclusive ``flock``, or raise ``OSError`` (EWOULDBLOCK) at once."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
from ._logging import redact
from ._results import ConversionError, ConversionResult, ErrorCode, FollowUp, Outcome
from ._sqlite import execute_in, execute_rows, select_in

log = logging.getLogger("leadconvert.journal")

__all__ = [
    "SCHEMA_VERSION",
    "DepartureLog",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalLock",
    "LockError",
    "OrgMismatchError",
    "org_lock",
    "read_departure_log",
]

#: The journal's layout. A journal of another version is refused, never guessed at.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE leads (
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
    updated_at REAL NOT NULL,
    -- The kind of the conversion call last sent (e.g. mass_convert) and when it was marked:
    -- how long the CRM may still act on it is measured from here.
    call_kind TEXT,
    sent_at REAL,
    -- Follow-up steps planned with the conversion; each has a row in steps once it is sent.
    follow_ups INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE steps (
    lead_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'done')),
    action TEXT,
    succeeded INTEGER,
    error_code TEXT,
    backend_code TEXT,
    message TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (lead_id, seq)
);
"""

_SQLITE_HEADER = b"SQLite format 3\x00"

#: Outcomes after which a lead is never sent again.
FINAL = frozenset({Outcome.CONVERTED, Outcome.ALREADY_CONVERTED})
#: Outcomes that leave the lead's state in doubt: ask the CRM before re-sending.
IN_DOUBT = frozenset({Outcome.UNKNOWN, Outcome.SCHEDULED})


class JournalError(LocalStateError):
    """The journal cannot be used or written; the message says how to recover (exit 2)."""


class OrgMismatchError(JournalError):
    """The journal belongs to another backend or org than the one this run talks to."""


class LockError(JournalError):
    """Another run holds the journal (or the org); the message names its process."""


@frozen
class StepEntry:
    """One journaled follow-up step of a lead."""

    seq: int
    kind: str
    state: str
    follow_up: FollowUp | None
    #: When the step was last marked or recorded (``time.time()``).
    updated_at: float | None = None

    @property
    def done(self) -> bool:
        """The step's outcome is recorded."""
        return self.state == "done"


@frozen
class JournalEntry:
    """What the journal knows of one lead."""

    lead_id: str
    line: int | None
    state: str
    outcome: Outcome | None
    #: The lead's result, with the follow-ups recorded so far.
    result: ConversionResult | None
    attempts: int
    #: The run that last touched the lead; the current run's id means "seen earlier this run".
    run_id: str | None
    call_kind: str | None = None
    sent_at: float | None = None
    job_id: str | None = None
    #: Follow-up steps planned with the conversion, and those journaled so far.
    follow_ups: int = 0
    steps: tuple[StepEntry, ...] = ()
    #: The call that last carried the lead, as its run numbered it.
    call_id: str | None = None

    @property
    def converted(self) -> bool:
        """The conversion itself is recorded as done."""
        return self.state == "done" and self.outcome in FINAL

    @property
    def pending_steps(self) -> bool:
        """Converted, but a planned follow-up has no recorded outcome yet."""
        return self.converted and sum(s.done for s in self.steps) < self.follow_ups

    @property
    def final(self) -> bool:
        """Converted (by us or before us) with every follow-up recorded: never send it again."""
        return self.converted and not self.pending_steps

    @property
    def in_doubt(self) -> bool:
        """Unfinished: a call carrying the lead may have converted it (reconcile before
        re-sending), or its job or follow-ups are still to be finished."""
        return self.state == "sending" or self.outcome in IN_DOUBT or self.pending_steps


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _guarded(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Map every SQLite or file-system failure of a journal operation to ``JournalError``."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        journal = args[0]
        assert isinstance(journal, Journal)
        try:
            return method(*args, **kwargs)
        except JournalError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise journal.failure(exc) from exc

    return wrapper


#: What ``get_many`` reads (``select_in`` puts each chunk's ids at ``{}``).
_LEADS_IN = (
    "SELECT lead_id, line, state, outcome, account_id, contact_id, opportunity_id, error_code,"
    " backend_code, message, call_id, job_id, attempts, run_id, call_kind, sent_at, follow_ups"
    " FROM leads WHERE lead_id IN {}"
)
_STEPS_IN = (
    "SELECT lead_id, seq, kind, state, action, succeeded, error_code, backend_code, message,"
    " updated_at FROM steps WHERE lead_id IN {} ORDER BY lead_id, seq"
)

#: Below this much free space, an I/O error on the journal is taken for a full disk.
_LOW_SPACE = 1 << 20


def _free_bytes(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return _LOW_SPACE


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    name = getattr(exc, "sqlite_errorname", "")
    return name == "SQLITE_FULL" or "database or disk is full" in str(exc)


class Journal:
    """One run's journal, bound to one backend and one org; thread-safe."""

    def __init__(
        self, path: Path, backend: str, run_id: str, *, org: str = "", emulated: bool = False
    ) -> None:
        """``emulated``: the client talks to an emulator started for this run; a journal that a
        run on another such emulator wrote is started afresh (see the module's docstring)."""
        self.path = path
        self.run_id = run_id
        self.backend = backend
        self.org = org
        self._in_batch = False
        #: Whether the open transaction is fsync'd at its commit (see ``batch``).
        self._durable = True
        #: Whether the connection is at synchronous=FULL between transactions.
        self._full_sync = True
        # The runner's thread and the clients' (which journal job ids) share one connection.
        self._lock = threading.RLock()
        if emulated and path.exists() and _emulator_org(path) not in (None, org):
            self._discard(path)
        if not path.exists():
            self._create(path, backend, org, emulated)
        self._db = self._open(path)
        self._check_meta(backend, org)
        #: The departure log (``departing``): opened at this run's first mark.
        self._departures: int | None = None
        self._log: DepartureLog | None = None
        #: A job id was logged since the last durable commit (``job_queued``).
        self._jobs_unsynced = False
        # Guards that flag alone. A worker logging its job must not wait for the journal's own
        # lock, which the runner holds for its whole pass (results, marks, commit, fsync):
        # workers waited a median 12-14 ms there before polling (docs/performance.md).
        self._jobs_lock = threading.Lock()

    # --- the departure log -----------------------------------------------------------------

    @property
    def departures_path(self) -> Path:
        """The departure log beside the journal: which marked calls left (``departing``)."""
        return self.path.with_name(self.path.name + "-departures")

    def _open_departures(self) -> None:
        """Open the log for this run and say which boot of the machine writes it (under the
        lock, at the run's first mark: before any of its calls can leave)."""
        if self._departures is not None:
            return
        boot = _boot_id()
        fd = os.open(self.departures_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if boot is not None:
                os.write(fd, f"boot {self.run_id} {boot}\n".encode())
        except OSError:
            os.close(fd)
            raise
        self._departures = fd

    def departing(self, call_id: str) -> None:
        """Record that call ``call_id`` of this run, marked ``sending``, leaves now.

        Called by the worker that sends it, right before it does: one ``write`` to a file
        opened for appending, no transaction and no fsync (cheap enough for every call). A
        process killed at any point leaves the kernel holding every write it finished, so, read
        back on the same boot of the machine, a marked call missing from the log never left
        (``never_left``); after a reboot (a power cut) the log proves nothing. Raises
        ``JournalError``: the call must not leave unrecorded.
        """
        self._log_line(f"{self.run_id} {call_id}")

    def _log_line(self, line: str) -> None:
        """Append ``line`` to the departure log with one ``write``, or raise ``JournalError``."""
        fd = self._departures
        try:
            if fd is None:
                raise OSError(errno.EBADF, "the departure log is not open")
            record = f"{line}\n".encode()
            # A short write (a full disk) is no record: read back, a torn line proves nothing.
            if os.write(fd, record) != len(record):
                raise OSError(errno.ENOSPC, "the departure log is full")
        except OSError as exc:
            raise self.failure(exc) from exc

    def job_queued(self, call_id: str, job_id: str) -> None:
        """Record that the CRM queued job ``job_id`` to convert every lead of call
        ``call_id`` of this run, before the job is polled.

        One line in the departure log, written as ``departing`` writes its own: it survives
        the process being killed at once, and the next durable commit (the run's next mark)
        fsyncs the log with the journal, so the id is as safe as it was in the leads' rows. A
        resumed run reads it back for the leads the call left ``sending`` (``get_many``); the
        leads' outcomes, recorded with the job id, put it in their rows. (Written into the rows
        of the call's leads, in a transaction of its own, it was 2.5% of the instructions of a
        5,000-lead Zoho convert: docs/performance.md, "Eleventh round".) Raises
        ``JournalError``: a job that cannot be recorded must not be polled as if it were.
        """
        # The line first, then the flag: a commit that takes the flag (``batch``) fsyncs after
        # taking it, so every line whose flag it took is on disk with that commit, and a line
        # whose flag comes later keeps the flag for the next one.
        self._log_line(f"job {self.run_id} {call_id} {quote(job_id, safe='')}")
        with self._jobs_lock:
            self._jobs_unsynced = True

    def _sync_jobs(self, fd: int) -> None:
        """fsync the departure log if a job id was logged since it last was (``job_queued``)."""
        with self._jobs_lock:
            unsynced, self._jobs_unsynced = self._jobs_unsynced, False
        if unsynced:
            try:
                os.fsync(fd)
            except OSError:
                with self._jobs_lock:
                    self._jobs_unsynced = True
                raise

    @_guarded
    def never_left(self, calls: Iterable[tuple[str | None, str | None]]) -> set[tuple[str, str]]:
        """Of these marked calls (their run id and call id), those the departure log proves
        never left: written by their run on this boot of the machine, with no departure.

        Anything else (an older journal, another boot, a log cut short or unreadable) may
        have left: its leads stay in doubt.
        """
        wanted = {(r, c) for r, c in calls if r is not None and c is not None}
        if not wanted:
            return set()
        log = self._read_log()
        return {call for call in wanted if call[0] in log.trusted and call not in log.departed}

    def _read_log(self) -> DepartureLog:
        """The departure log as it was when first asked, earlier runs' lines only (read once:
        this run asks only about calls of earlier runs)."""
        if self._log is None:
            self._log = read_departure_log(self.departures_path, exclude=self.run_id)
        return self._log

    # --- opening ---------------------------------------------------------------------------

    def failure(self, exc: BaseException) -> JournalError:
        """The ``JournalError`` for a failure while reading or writing the journal."""
        if _disk_full(exc) or (
            "disk I/O error" in str(exc) and _free_bytes(self.path.parent) < _LOW_SPACE
        ):
            return JournalError(
                f"cannot write the journal {self.path}: the disk is full. Nothing more was sent; "
                "free some space and run the same command again to resume (leads whose call was "
                "in flight are checked against the CRM before anything is re-sent)"
            )
        if isinstance(exc, sqlite3.DatabaseError) and "malformed" in str(exc):
            return self._damaged(str(exc))
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return JournalError(
            f"cannot use the journal {self.path}: {detail}. Nothing more was sent; fix the cause "
            "and run the same command again to resume"
        )

    def _damaged(self, detail: str) -> JournalError:
        return JournalError(
            f"the journal {self.path} is damaged ({detail}) and is not used: it may be the only "
            "record of leads sent to the CRM. Keep a copy, then either restore it from a backup "
            "and run again, or move it aside and run with a new --journal (the report of the "
            "last complete run shows what was converted; leads already converted are reported "
            "already_converted by the CRM, never converted twice)"
        )

    def _discard(self, path: Path) -> None:
        """Remove a journal written on an emulator its own run started, with its files."""
        log.info(
            "the journal %s was written on the emulator of an earlier run, whose state ended "
            "with it: starting it afresh",
            path,
        )
        try:
            for stale in (
                path.with_name(path.name + "-wal"),
                path.with_name(path.name + "-shm"),
                self.departures_path,
                path,
            ):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            raise self.failure(exc) from exc

    def _create(self, path: Path, backend: str, org: str, emulated: bool = False) -> None:
        """Write a new journal under a temporary name and rename it into place: a crash never
        leaves a half-made journal that a rerun would take for an empty one."""
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        except OSError as exc:
            raise self.failure(exc) from exc
        os.close(fd)
        try:
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                # One transaction, not fsync'd by SQLite: the file is fsync'd whole below before
                # it takes the journal's name. A statement each cost an fsync each (about 20
                # before the first call; milliseconds apiece on a real disk).
                db.executescript(f"PRAGMA synchronous=OFF; BEGIN; {_SCHEMA}")
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ("version", str(SCHEMA_VERSION)),
                        ("backend", backend),
                        ("org", org),
                        ("created_at", str(time.time())),
                        # Written on an emulator its run started (``emulated``): replaceable.
                        *([("emulated", "1")] if emulated else []),
                    ],
                )
                db.execute("COMMIT")
            finally:
                db.close()
            with open(temp, "rb") as made:
                os.fsync(made.fileno())
            os.replace(temp, path)
            _sync_directory(path.parent)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise self.failure(exc) from exc

    def _open(self, path: Path) -> sqlite3.Connection:
        try:
            with path.open("rb") as raw:
                header = raw.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise self.failure(exc) from exc
        if not header:
            raise JournalError(
                f"the journal {path} is empty (0 bytes): it is not a journal leadconvert wrote, "
                "and taking it for a fresh start could send every lead again. If no run used it, "
                "delete it and run again; if it replaced a real journal, restore that one"
            )
        if header != _SQLITE_HEADER:
            raise JournalError(
                f"{path} is not a leadconvert journal (not an SQLite file); give another "
                "--journal, or move the file aside"
            )
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # WAL with full sync: a committed mark survives kill -9 and power loss alike.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            # A damaged page must stop the run now, not as an internal error halfway through.
            problems = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc) or "not a database" in str(exc):
                raise self._damaged(str(exc)) from exc
            # Not the file's content: the disk, the directory's permissions, a lock...
            raise self.failure(exc) from exc
        if problems != ["ok"]:
            db.close()
            raise self._damaged("; ".join(problems))
        return db

    def _check_meta(self, backend: str, org: str) -> None:
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if "no such table" in str(exc):
                raise JournalError(
                    f"{self.path} is an SQLite file but not a leadconvert journal; give another "
                    "--journal"
                ) from exc
            raise self.failure(exc) from exc
        version = meta.get("version")
        if version != str(SCHEMA_VERSION):
            self._db.close()
            which = f"version {version}" if version else "an earlier version"
            raise JournalError(
                f"the journal {self.path} was written by {which} of leadconvert's journal, and "
                f"this one reads version {SCHEMA_VERSION} only. Finish that migration with the "
                "leadconvert that started it, or start a new --journal (leads already converted "
                "are then reported already_converted by the CRM, never converted twice)"
            )
        if meta.get("backend") != backend:
            self._db.close()
            raise OrgMismatchError(
                f"the journal {self.path} belongs to a run on backend {meta.get('backend')!r}, "
                f"not {backend!r}; give another --journal"
            )
        if meta.get("org", "") != org:
            self._db.close()
            raise OrgMismatchError(
                f"the journal {self.path} belongs to another org: it was written against "
                f"{meta.get('org') or 'an unnamed org'!s}, and this run talks to "
                f"{org or 'an unnamed org'!s}. Its leads' states say nothing about this org: "
                "give another --journal (or the credentials of the org it belongs to)"
            )

    def close(self) -> None:
        """Close the file; drop the departure log when no lead is left ``sending``."""
        with self._lock:
            fd, self._departures = self._departures, None
            if fd is not None:
                os.close(fd)
                # Nothing is in doubt: no resumed run will ask the log about any call.
                with contextlib.suppress(sqlite3.Error, OSError):
                    if self._db.execute(
                        "SELECT 1 FROM leads WHERE state = 'sending' LIMIT 1"
                    ).fetchone() is None:
                        self.departures_path.unlink(missing_ok=True)
            self._db.close()

    # --- reading ---------------------------------------------------------------------------

    @_guarded
    def get(self, lead_id: str) -> JournalEntry | None:
        """What the journal knows of ``lead_id``."""
        return self.get_many([lead_id]).get(lead_id)

    @_guarded
    def get_many(self, lead_ids: Sequence[str]) -> dict[str, JournalEntry]:
        """What the journal knows of each of ``lead_ids`` it has seen, by lead id.

        A window's leads are looked up a few hundred at a time: one statement for what a
        fresh journal does not hold, instead of one per lead.
        """
        with self._lock:
            # Each id once: a repeated id in two statements would read its row twice.
            rows = select_in(self._db, _LEADS_IN, list(dict.fromkeys(lead_ids)))
            if not rows:
                return {}
            steps: dict[str, list[StepEntry]] = {str(row[0]): [] for row in rows}
            for lead_id, *step in select_in(self._db, _STEPS_IN, list(steps)):
                steps[lead_id].append(_step(tuple(step)))
        entries = {
            lead_id: _entry(row, lead_steps)
            for row, (lead_id, lead_steps) in zip(rows, steps.items(), strict=True)
        }
        # A call cut off after the CRM queued its job: the job id is in the departure log.
        queued = [
            e
            for e in entries.values()
            if e.state == "sending"
            and e.job_id is None
            and e.call_id
            and e.run_id
            and e.run_id != self.run_id
        ]
        if queued:
            jobs = self._read_log().jobs
            for entry in queued:
                job_id = jobs.get((entry.run_id or "", entry.call_id or ""))
                if job_id is not None:
                    entries[entry.lead_id] = evolve(entry, job_id=job_id)
        return entries

    # --- writing ---------------------------------------------------------------------------

    @_guarded
    def mark_sending(
        self,
        lead_lines: Iterable[tuple[str, int | None]],
        call_id: str,
        *,
        kind: str | None = None,
        follow_ups: Mapping[str, int] | None = None,
    ) -> None:
        """Record, durably, that a call carrying these leads is about to leave, and how many
        follow-up steps each lead's conversion has (so a kill after it leaves them pending)."""
        now = time.time()
        planned = follow_ups or {}
        with self._transaction():
            self._marking()
            self._open_departures()
            execute_rows(
                self._db,
                "INSERT INTO leads (lead_id, line, state, call_id, attempts, run_id, updated_at,"
                " call_kind, sent_at, follow_ups)",
                "(?, ?, 'sending', ?, 1, ?, ?, ?, ?, ?)",
                [
                    (lead_id, line, call_id, self.run_id, now, kind, now, planned.get(lead_id, 0))
                    for lead_id, line in lead_lines
                ],
                "ON CONFLICT (lead_id) DO UPDATE SET state = 'sending', outcome = NULL,"
                " line = excluded.line, call_id = excluded.call_id, attempts = attempts + 1,"
                " run_id = excluded.run_id, updated_at = excluded.updated_at, job_id = NULL,"
                " call_kind = excluded.call_kind, sent_at = excluded.sent_at,"
                " follow_ups = excluded.follow_ups",
            )

    @_guarded
    def set_job(self, lead_ids: Sequence[str], job_id: str) -> None:
        """Record the CRM job that will convert these leads (before it is polled), in their
        rows: for a job that is not one for every lead of a conversion call of this run (a job
        resumed, or one a client names for part of its call); a call's own job goes to the
        departure log (``job_queued``).

        Written at once and not fsync'd on its own (``batch(durable=False)``): the run's next
        durable commit takes it to disk. A job id lost to a power cut leaves its leads
        ``sending``, which a resumed run checks against the CRM like any call cut off.
        """
        with self._transaction(durable=False):
            # One statement, not one per lead: a worker runs this holding the journal's lock,
            # which the main loop needs before it can launch anything (see _sqlite).
            execute_in(
                self._db,
                "UPDATE leads SET job_id = ?, updated_at = ? WHERE lead_id IN {}",
                (job_id, time.time()),
                lead_ids,
            )

    @_guarded
    def set_follow_ups(self, lead_id: str, planned: int) -> None:
        """How many follow-up steps the lead's conversion has (when re-planned on resume)."""
        with self._transaction():
            self._db.execute(
                "UPDATE leads SET follow_ups = ? WHERE lead_id = ?", (planned, lead_id)
            )

    @_guarded
    def mark_step(self, lead_id: str, seq: int, kind: str) -> None:
        """Record that follow-up ``seq`` of the lead is about to leave."""
        with self._transaction():
            self._marking()
            self._db.execute(
                "INSERT INTO steps (lead_id, seq, kind, state, updated_at)"
                " VALUES (?, ?, ?, 'sending', ?) ON CONFLICT (lead_id, seq) DO UPDATE SET"
                " state = 'sending', kind = excluded.kind, updated_at = excluded.updated_at",
                (lead_id, seq, kind, time.time()),
            )

    @_guarded
    def unmark_step(self, lead_id: str, seq: int) -> None:
        """Forget the mark of follow-up ``seq`` of the lead: it never left (the run stopped
        first), so the next run sends it as a step never sent, without asking the CRM."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM steps WHERE lead_id = ? AND seq = ? AND state = 'sending'",
                (lead_id, seq),
            )

    @_guarded
    def record_step(self, lead_id: str, seq: int, kind: str, step: FollowUp) -> None:
        """Record the outcome of follow-up ``seq`` of the lead."""
        error = step.error
        with self._transaction():
            self._db.execute(
                "INSERT INTO steps (lead_id, seq, kind, state, action, succeeded, error_code,"
                " backend_code, message, updated_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (lead_id, seq) DO UPDATE SET state = 'done',"
                " action = excluded.action, succeeded = excluded.succeeded,"
                " error_code = excluded.error_code, backend_code = excluded.backend_code,"
                " message = excluded.message, updated_at = excluded.updated_at",
                (
                    lead_id,
                    seq,
                    kind,
                    step.action,
                    int(step.succeeded),
                    error.code.value if error else None,
                    error.backend_code if error else None,
                    # A library's message may quote a credential: never on disk.
                    redact(error.message) if error else None,
                    time.time(),
                ),
            )

    @_guarded
    def record(self, results: Iterable[tuple[ConversionResult, int | None]]) -> None:
        """Record the outcome of each lead's conversion (its follow-ups are steps)."""
        now = time.time()
        rows = []
        for result, line in results:
            error = result.error
            rows.append(
                (
                    result.lead_id,
                    line,
                    # The member's value as an attribute (``value`` is a descriptor call).
                    result.outcome._value_,
                    result.account_id,
                    result.contact_id,
                    result.opportunity_id,
                    error.code.value if error else None,
                    error.backend_code if error else None,
                    # A library's message may quote a credential: never on disk.
                    redact(error.message) if error else None,
                    None if result.call is None else str(result.call),
                    result.job_id,
                    self.run_id,
                    now,
                )
            )
        with self._transaction():
            execute_rows(
                self._db,
                "INSERT INTO leads (lead_id, line, state, outcome, account_id, contact_id,"
                " opportunity_id, error_code, backend_code, message, call_id, job_id, run_id,"
                " updated_at)",
                "(?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
                "ON CONFLICT (lead_id) DO UPDATE SET state = 'done', outcome = excluded.outcome,"
                " account_id = excluded.account_id, contact_id = excluded.contact_id,"
                " opportunity_id = excluded.opportunity_id, error_code = excluded.error_code,"
                " backend_code = excluded.backend_code, message = excluded.message,"
                " call_id = COALESCE(excluded.call_id, call_id),"
                " job_id = COALESCE(excluded.job_id, job_id), run_id = excluded.run_id,"
                " line = COALESCE(excluded.line, line), updated_at = excluded.updated_at",
            )

    @contextlib.contextmanager
    def batch(self, *, durable: bool = True) -> Iterator[None]:
        """Make every mark and record inside one transaction: one commit, one fsync.

        ``durable=False`` is for a transaction that marks nothing (outcomes, a job id): its
        commit is written but not fsync'd. It survives the process being killed at once, like
        every commit, and power loss from the next durable commit on (that commit's fsync of the
        write-ahead log covers every transaction before it). Lost to a power cut, what it held
        is what a resumed run establishes again by asking the CRM about leads left ``sending``;
        a mark, which must be on disk before its call leaves, always gets its fsync.
        """
        with self._lock:
            if self._in_batch:
                yield
                return
            try:
                if not durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")
                elif not self._full_sync:
                    # Putting it back failed after the last transaction: now, or no mark.
                    self._db.execute("PRAGMA synchronous=FULL")
                    self._full_sync = True
                self._db.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                self._restore_sync(durable)
                raise self.failure(exc) from exc
            self._in_batch = True
            self._durable = durable
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                    if not durable and self._durable:
                        # A mark joined it after all (``_marking``): on disk, WAL and database,
                        # before its call can leave.
                        self._db.execute("PRAGMA wal_checkpoint(FULL)")
                    if self._durable and self._departures is not None:
                        # The job ids logged since the last durable commit go to disk with it.
                        self._sync_jobs(self._departures)
                except (sqlite3.Error, OSError) as exc:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise self.failure(exc) from exc
            finally:
                self._in_batch = False
                self._durable = True
                self._restore_sync(durable)

    def _marking(self) -> None:
        """Called inside the transaction of every mark: it is fsync'd at its commit."""
        self._durable = True

    def _restore_sync(self, durable: bool) -> None:
        if durable:
            return
        try:
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error:
            # Tried again, and its failure raised, before the next durable transaction.
            self._full_sync = False
        else:
            self._full_sync = True

    def _transaction(self, *, durable: bool = True) -> contextlib.AbstractContextManager[None]:
        return self.batch(durable=durable)



def _emulator_org(path: Path) -> str | None:
    """The org of ``path`` when it is a journal written on an emulator that its run started,
    else None. Anything that cannot be read as a journal gives None: it is then refused as it
    always is."""
    try:
        # Read-only: a URI, which needs the absolute path (the default journal's is relative).
        # A file that is not SQLite, or not a journal, fails the query below.
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(
                db.execute("SELECT key, value FROM meta WHERE key IN ('emulated', 'org')")
            )
        finally:
            db.close()
    except (OSError, ValueError, sqlite3.Error):
        return None
    return str(meta.get("org", "")) if meta.get("emulated") == "1" else None


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it)."""
    if sys.platform == "win32":  # pragma: no cover - no directory fsync there
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- locks -----------------------------------------------------------------------------------


class JournalLock:
    """An exclusive lock held for a whole run (``flock``, or ``msvcrt.locking`` on Windows: the
    system drops it when the process dies, so a killed run never leaves a stale lock behind).

    The lock file says which process holds it; a second run reads that and stops at once.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self._what = what
        self._file: IO[str] | None = None

    def acquire(self) -> JournalLock:
        """Take the lock or raise ``LockError`` naming the process that holds it."""
        try:
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise JournalError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from exc
        try:
            _try_lock(handle.fileno())
        except OSError as exc:
            try:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
            except OSError:  # a lock Windows enforces on reads too
                holder = "another process"
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise JournalError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
            raise LockError(
                f"{self._what} is in use by {holder}; one run at a time: wait for it to end "
                f"(or stop it), then run again (lock file {self.path})"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(
                f"process {os.getpid()} on {socket.gethostname()}, started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(sys.argv)[:300]}\n"
            )
            handle.flush()
        except OSError as exc:
            handle.close()
            raise JournalError(
                f"cannot write the lock file {self.path}: {exc.strerror or exc}"
            ) from exc
        self._file = handle
        return self

    def release(self) -> None:
        """Let the next run in (the file stays: removing it would race with a new holder)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()
            self._file = None

    def __enter__(self) -> JournalLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def journal_lock(path: Path) -> JournalLock:
    """The lock of the journal at ``path``: ``<journal>.lock`` next to it."""
    return JournalLock(path.with_name(path.name + ".lock"), f"the journal {path}")


def lock_directory() -> Path:
    """Where org locks live: ``LEADCONVERT_LOCK_DIR``, else a per-user directory under the
    system's temporary directory (shared by every run of this user on this machine)."""
    given = os.environ.get("LEADCONVERT_LOCK_DIR")
    if given:
        return Path(given)
    if hasattr(os, "getuid"):
        user: object = os.getuid()
    else:
        # Windows only: imported here, as no other platform needs it (getpass brings termios).
        import getpass

        user = getpass.getuser()
    return Path(tempfile.gettempdir()) / f"leadconvert-locks-{user}"


def org_lock(backend: str, org: str) -> JournalLock | None:
    """The machine-wide lock of one org (None when the client cannot name its org).

    Two runs on the same org from this machine, whatever their input or journal, would share
    the org's API quota and could send the same lead twice; the second one stops.
    """
    if not org:
        return None
    directory = lock_directory()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(
            f"cannot create the lock directory {directory}: {exc.strerror or exc}; set "
            "LEADCONVERT_LOCK_DIR to a writable directory"
        ) from exc
    digest = hashlib.sha256(f"{backend}\n{org}".encode()).hexdigest()[:24]
    return JournalLock(directory / f"{backend}-{digest}.lock", f"the {backend} org {org}")


# --- rows ------------------------------------------------------------------------------------


def _error(code: object, backend_code: object, message: object) -> ConversionError | None:
    if not isinstance(code, str):
        return None
    return ConversionError(
        code=ErrorCode(code),
        message=str(message or ""),
        backend_code=backend_code if isinstance(backend_code, str) else None,
    )


def _step(row: tuple[object, ...]) -> StepEntry:
    seq, kind, state, action, succeeded, error_code, backend_code, message, updated = row
    follow_up = None
    if state == "done":
        follow_up = FollowUp(
            str(action or kind),
            bool(succeeded),
            _error(error_code, backend_code, message),
        )
    when = float(updated) if isinstance(updated, int | float) else None
    return StepEntry(int(str(seq)), str(kind), str(state), follow_up, when)


def _entry(row: tuple[object, ...], steps: Sequence[StepEntry]) -> JournalEntry:
    (lead_id, line, state, outcome, account, contact, opportunity) = row[:7]
    (error_code, backend_code, message, call_id, job_id, attempts, run_id) = row[7:14]
    (call_kind, sent_at, follow_ups) = row[14:]
    result = None
    parsed = Outcome(outcome) if isinstance(outcome, str) else None
    if parsed is not None:
        result = ConversionResult(
            lead_id=str(lead_id),
            outcome=parsed,
            account_id=account if isinstance(account, str) else None,
            contact_id=contact if isinstance(contact, str) else None,
            opportunity_id=opportunity if isinstance(opportunity, str) else None,
            error=_error(error_code, backend_code, message),
            call=int(call_id) if isinstance(call_id, str) and call_id.isdigit() else None,
            job_id=job_id if isinstance(job_id, str) else None,
            follow_ups=tuple(s.follow_up for s in steps if s.follow_up is not None),
        )
    return JournalEntry(
        lead_id=str(lead_id),
        line=line if isinstance(line, int) else None,
        state=str(state),
        outcome=parsed,
        result=result,
        attempts=int(attempts) if isinstance(attempts, int) else 0,
        run_id=run_id if isinstance(run_id, str) else None,
        call_kind=call_kind if isinstance(call_kind, str) else None,
        sent_at=float(sent_at) if isinstance(sent_at, int | float) else None,
        job_id=job_id if isinstance(job_id, str) else None,
        follow_ups=int(follow_ups) if isinstance(follow_ups, int) else 0,
        steps=tuple(steps),
        call_id=call_id if isinstance(call_id, str) else None,
    )


@frozen
class DepartureLog:
    """What a departure log says of the runs that wrote it (``read_departure_log``)."""

    #: Runs that wrote their log on this boot of the machine: their missing departures count.
    trusted: frozenset[str]
    #: (run id, call id) of every call that left.
    departed: frozenset[tuple[str, str]]
    #: (run id, call id) -> the job the CRM queued for that call's leads.
    jobs: Mapping[tuple[str, str], str]


def read_departure_log(path: Path, *, exclude: str | None = None) -> DepartureLog:
    """The departure log at ``path`` (empty if there is none), leaving out run ``exclude``.

    Its lines: ``boot RUN BOOT`` when a run opens it, ``RUN CALL`` as each conversion call
    leaves, ``job RUN CALL JOB`` when the CRM queues a job for a call (the id %-quoted). A last
    line cut short proves nothing and is skipped. Departures prove that a call never left only
    for runs of this boot (a power cut may have lost the kernel's unwritten lines); a job line
    is a fact whatever the boot.
    """
    boot = _boot_id()
    trusted: set[str] = set()
    departed: set[tuple[str, str]] = set()
    jobs: dict[tuple[str, str], str] = {}
    try:
        stream = path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return DepartureLog(frozenset(), frozenset(), {})
    with stream:
        for line in stream:
            if not line.endswith("\n"):
                continue  # cut short: a torn last write proves nothing
            fields = line.split()
            if len(fields) == 4 and fields[0] == "job":
                if fields[1] != exclude:
                    jobs[(fields[1], fields[2])] = unquote(fields[3])
            elif len(fields) == 3 and fields[0] == "boot":
                if boot is not None and fields[2] == boot and fields[1] != exclude:
                    trusted.add(fields[1])
            elif len(fields) == 2 and fields[0] != exclude:
                departed.add((fields[0], fields[1]))
    return DepartureLog(frozenset(trusted), frozenset(departed), jobs)


def _boot_id() -> str | None:
    """This boot of the machine (Linux); None where it cannot be told (the log is not trusted)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as stream:
            boot = stream.read().strip()
    except OSError:
        return None
    return boot if boot and " " not in boot else None
