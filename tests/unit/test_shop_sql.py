"""Bulk INSERT rendering and the pipelined cursor, against a fake connection."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from topproducts import db
from topproducts.shop import sql


class FakeConnection:
    """A connection in the default mode (backslash escapes); no call reaches it."""

    no_backslash_escapes = False


class FakeCursor:
    """Records statements; a statement containing ``fail`` raises; ``slow`` ones take a while."""

    def __init__(self) -> None:
        self.connection = FakeConnection()
        self.statements: list[str] = []
        self.threads: set[str] = set()

    def execute(self, query: str, args: object = None) -> int:
        if "slow" in query:
            time.sleep(0.05)
        if "fail" in query:
            raise db.OperationalError(1213, "Deadlock found")
        self.statements.append(query if args is None else f"{query} {args}")
        self.threads.add(threading.current_thread().name)
        return 1

    def fetchall(self) -> tuple:
        return ((len(self.statements),),)

    def fetchone(self) -> tuple:
        return (len(self.statements),)


def test_insert_many_renders_each_type_and_escapes_what_needs_it() -> None:
    cur = FakeCursor()
    ts = datetime(2026, 11, 25, 8, 0, 0, 123456)
    rows = [(1, "plain", "O'Brien \\ \"x\"\n", D("10.50"), ts, None, True, b"\x00'ab\xff"),
            (2, "plain", "Ünïcode", D("0.000001"), ts, None, False, '{"city":"São"}'.encode())]
    assert sql.insert_many(cur, "INSERT INTO t VALUES", rows) == 2
    assert cur.statements == [
        "INSERT INTO t VALUES "
        "(1,'plain','O\\'Brien \\\\ \\\"x\\\"\\n',10.50,'2026-11-25 08:00:00.123456',NULL,1,"
        "X'00276162ff'),"  # not UTF-8: hexadecimal
        "(2,'plain','Ünïcode',0.000001,'2026-11-25 08:00:00.123456',NULL,0,"
        "'{\\\"city\\\":\\\"São\\\"}')"]  # UTF-8 (an event): quoted as text
    with pytest.raises(ValueError, match="naive UTC"):
        sql.insert_many(cur, "INSERT INTO t VALUES", [(ts.replace(tzinfo=UTC),)])


def test_literals_under_no_backslash_escapes_double_the_quotes() -> None:
    conn = FakeConnection()
    conn.no_backslash_escapes = True
    assert db.literal(conn, "O'Brien \\ \"x\"") == "'O''Brien \\ \"x\"'"
    assert db.literal(conn, b'{"a":"it\'s"}') == "'{\"a\":\"it''s\"}'"
    assert db.literal(conn, 2.5) == "2.5e0" and db.literal(conn, None) == "NULL"


def test_pipelined_cursor_runs_everything_in_order_off_the_callers_thread() -> None:
    raw = FakeCursor()
    cur = sql.PipelinedCursor(raw)
    sql.insert_many(cur, "INSERT INTO slow VALUES", [(1,)])
    sql.insert_many(cur, "INSERT INTO b VALUES", [(2,)])
    cur.execute("SELECT %s", (3,))  # waits for the queued inserts first
    assert cur.fetchone() == (3,)
    sql.insert_many(cur, "INSERT INTO c VALUES", [(4,)])
    cur.wait()
    assert raw.statements == ["INSERT INTO slow VALUES (1)", "INSERT INTO b VALUES (2)",
                              "SELECT %s (3,)", "INSERT INTO c VALUES (4)"]
    assert "sql-pipeline" in raw.threads


def test_pipelined_cursor_raises_the_first_error_and_skips_the_rest() -> None:
    raw = FakeCursor()
    cur = sql.PipelinedCursor(raw)
    sql.insert_many(cur, "INSERT INTO slow VALUES", [(1,)])
    sql.insert_many(cur, "INSERT INTO fail VALUES", [(2,)])
    sql.insert_many(cur, "INSERT INTO after VALUES", [(3,)])
    with pytest.raises(db.OperationalError) as caught:
        cur.execute("SELECT 1")
    assert caught.value.args[0] == 1213
    assert raw.statements == ["INSERT INTO slow VALUES (1)"]  # not "after", not the SELECT
    cur.wait()  # the error was reported once


def test_settle_swallows_the_error_for_a_rollback() -> None:
    raw = FakeCursor()
    cur = sql.PipelinedCursor(raw)
    sql.insert_many(cur, "INSERT INTO fail VALUES", [(1,)])
    cur.settle()
    cur.wait()
    assert raw.statements == []
