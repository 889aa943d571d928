"""Writing many rows to SQLite in a few statements (the journal and the report's spool).

``executemany`` runs its statement once per row, and the ``sqlite3`` module hands the GIL over
and takes it back around every run. While the client's worker threads hold the GIL, each
taking back can wait for one of them: a journal write of 50 rows under the journal's lock made
the main loop, which needs that lock to launch the next call, wait for 50 such hand-overs. One
``INSERT ... VALUES (...), (...)`` (or ``... IN (...)``) per chunk of rows does the same work
with one hand-over per chunk. SQLite applies a multi-row ``INSERT`` (and its ``ON CONFLICT``
clause) row by row, in order: the result is that of ``executemany`` with the same rows.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["execute_in", "execute_rows", "select_in"]

#: Bound parameters in one statement at most (SQLite's limit is 32,766 since 3.32; 999 before).
_MAX_PARAMETERS = 990


def execute_rows(
    db: sqlite3.Connection, head: str, row: str, rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """``head VALUES row, row, ... tail`` for ``rows``, as few statements as the limit allows.

    ``row`` is the placeholder group of one row, e.g. ``"(?, ?, 'sending', ?)"``; each row of
    ``rows`` gives its ``?`` in order.
    """
    if not rows:
        return
    per_statement = max(1, _MAX_PARAMETERS // max(1, row.count("?")))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        db.execute(
            _statement(head, row, tail, len(chunk)),
            [value for values in chunk for value in values],
        )


@functools.lru_cache(maxsize=256)
def _statement(head: str, row: str, tail: str, count: int) -> str:
    """The text of a statement of ``count`` rows, made once: the same string each time, so
    that the ``sqlite3`` module's statement cache finds it without hashing it again."""
    return " ".join((head, "VALUES", ", ".join([row] * count), tail))


def execute_in(
    db: sqlite3.Connection, sql: str, before: Sequence[Any], keys: Sequence[Any]
) -> None:
    """``sql`` with ``(?, ...)`` for ``keys`` at its ``{}`` (``... IN {}``), after the ``before``
    parameters, as few statements as the limit allows."""
    for statement, parameters in _in_chunks(sql, before, keys):
        db.execute(statement, parameters)


def select_in(db: sqlite3.Connection, sql: str, keys: Sequence[Any]) -> list[Any]:
    """The rows of ``sql`` (``... IN {} ...``) for ``keys``: one statement per chunk of keys,
    their rows in turn (a key's rows all come from its chunk's)."""
    rows: list[Any] = []
    for statement, parameters in _in_chunks(sql, (), keys):
        rows.extend(db.execute(statement, parameters))
    return rows


def _in_chunks(
    sql: str, before: Sequence[Any], keys: Sequence[Any]
) -> Iterator[tuple[str, list[Any]]]:
    """``sql`` with its ``{}`` made the ``(?, ...)`` of each chunk of ``keys``, and its
    parameters."""
    per_statement = max(1, _MAX_PARAMETERS - len(before))
    for start in range(0, len(keys), per_statement):
        chunk = keys[start : start + per_statement]
        yield sql.replace("{}", "(" + ", ".join("?" * len(chunk)) + ")"), [*before, *chunk]
