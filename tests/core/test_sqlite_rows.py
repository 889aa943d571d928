"""Many rows in a few statements give the table ``executemany`` gives, upserts and all."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from leadconvert._sqlite import execute_in, execute_rows, select_in

_SCHEMA = "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, s TEXT, hits INTEGER NOT NULL)"
_INSERT = "INSERT INTO t (k, n, s, hits)"
_ROW = "(?, ?, ?, 1)"
_UPSERT = "ON CONFLICT (k) DO UPDATE SET n = excluded.n, s = excluded.s, hits = hits + 1"

_ROWS = st.lists(
    st.tuples(
        st.text(alphabet="abc", min_size=1, max_size=3),
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.none(), st.text(max_size=5)),
    ),
    max_size=700,  # 700 rows of 3 parameters: more than one statement's worth
)


def _table(rows: list[tuple[str, int | None, str | None]], many: bool) -> list[tuple[object, ...]]:
    db = sqlite3.connect(":memory:")
    db.execute(_SCHEMA)
    if many:
        db.executemany(f"{_INSERT} VALUES {_ROW} {_UPSERT}", rows)
    else:
        execute_rows(db, _INSERT, _ROW, rows, _UPSERT)
    return db.execute("SELECT k, n, s, hits FROM t ORDER BY k").fetchall()


@given(_ROWS)
def test_rows_in_few_statements_are_rows_one_by_one(
    rows: list[tuple[str, int | None, str | None]],
) -> None:
    assert _table(rows, many=False) == _table(rows, many=True)


@given(st.lists(st.integers(0, 2_000), max_size=2_500))
def test_in_list_updates_the_rows_one_update_each_would(keys: list[int]) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t VALUES (?, NULL)", [(k,) for k in range(0, 2_000, 3)])
    execute_in(db, "UPDATE t SET v = ? WHERE k IN {}", ("set",), keys)
    wanted = {k for k in range(0, 2_000, 3) if k in set(keys)}
    assert {k for (k,) in db.execute("SELECT k FROM t WHERE v = 'set'")} == wanted


def test_rows_across_many_statements_with_repeated_keys() -> None:
    # 2,000 rows of 3 parameters: seven statements, each key upserted across their boundaries.
    rows: list[tuple[str, int | None, str | None]] = [
        (f"k{i % 700}", i, None if i % 5 else str(i)) for i in range(2_000)
    ]
    assert _table(rows, many=False) == _table(rows, many=True)


@given(st.sets(st.integers(0, 2_999), max_size=2_500), st.booleans())
def test_select_in_reads_the_rows_of_every_key_once(keys: set[int], tail: bool) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO t VALUES (?)", [(k,) for k in range(0, 3_000, 2)])
    sql = "SELECT k FROM t WHERE k IN {} ORDER BY k" if tail else "SELECT k FROM t WHERE k IN {}"
    found = [k for (k,) in select_in(db, sql, sorted(keys))]
    assert sorted(found) == sorted(k for k in keys if k % 2 == 0)
