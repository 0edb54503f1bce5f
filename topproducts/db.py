"""MySQL connections: the one adapter over the driver, mysqlclient (``MySQLdb``, C, on
MariaDB's Connector/C). Portable SQL only: it must run on MariaDB and MySQL 8.

Everything else uses this module's names, never the driver's: :func:`connect`,
:class:`Connection`, the errors (:data:`Error`, :data:`OperationalError`) and
:func:`literal` (a value as SQL text, escaped by the connection).

Why mysqlclient and not PyMySQL (pure Python): on the shop's own statements it takes
5-12x less client CPU to read rows (5,000 outbox rows: 5 ms instead of 30 ms;
2,000 shipments: 0.8 ms instead of 10 ms) and a third to send a 1 MB INSERT, and
the simulator's client CPU per order is what limits its rate (issue 25). Both are
DB-API 2 drivers with the ``%s`` paramstyle, the same error classes and codes
(``err.args == (code, message)``), and the same Python types for DECIMAL, DATETIME
and BLOB. Its queries release the GIL, as PyMySQL's socket reads did, so the
pipelined cursor (:class:`~topproducts.shop.sql.PipelinedCursor`) still overlaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import MySQLdb
from MySQLdb import _mysql
from MySQLdb.connections import Connection
from MySQLdb.converters import conversions

from topproducts.errors import StackError
from topproducts.settings import Settings, get_settings

__all__ = ["DATABASES", "Connection", "Error", "OperationalError", "connect", "connect_socket",
           "literal", "transaction"]

Error = MySQLdb.MySQLError  # every error of the server or the driver
OperationalError = MySQLdb.OperationalError  # deadlocks, lock waits, lost connections...

DATABASES = (
    "user_management",
    "inventory_management",
    "order_management",
    "transaction_management",
    "shipping_management",
)


def connect(
    settings: Settings | None = None, database: str | None = None, autocommit: bool = False
) -> Connection:
    """Open a connection as the application user; raise a one-line StackError if it fails."""
    s = settings or get_settings()
    options: dict[str, Any] = {"database": database} if database else {}
    try:
        conn = MySQLdb.connect(
            host=s.mysql_host,
            port=s.mysql_port,
            user=s.mysql_user,
            password=s.mysql_password,
            autocommit=autocommit,
            charset="utf8mb4",
            connect_timeout=5,
            **options,
        )
    except MySQLdb.OperationalError as exc:
        code, message = (*exc.args, "", "")[:2]
        raise StackError(
            f"MySQL at {s.mysql_host}:{s.mysql_port} as {s.mysql_user!r}: {message} ({code})"
        ) from None
    return _with_mode(conn)


def _with_mode(conn: Connection) -> Connection:
    """Record whether the session quotes without backslashes (for :func:`literal`)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.sql_mode")
        mode = cur.fetchone()[0] or ""
    conn.no_backslash_escapes = "NO_BACKSLASH_ESCAPES" in mode.upper().split(",")
    return conn


def connect_socket(socket: str, user: str, timeout: int = 2) -> Connection:
    """An autocommit connection over the server's Unix socket (the stack's administrator)."""
    return _with_mode(MySQLdb.connect(unix_socket=socket, user=user, autocommit=True,
                                      charset="utf8mb4", connect_timeout=timeout))


def _quote(conn: Connection, raw: bytes) -> str:
    """A quoted literal of ``raw`` if it is UTF-8, else ``X'hex'``; without a call into the
    connection (a pipelined cursor's worker may be using it: the driver refuses concurrent
    calls). UTF-8 has no byte that looks like a quote or backslash inside a multi-byte
    character, so the connection-less escaping is exact for it."""
    try:
        if getattr(conn, "no_backslash_escapes", False):
            return "'" + raw.decode().replace("'", "''") + "'"
        return _mysql.string_literal(raw).decode()  # escaping keeps UTF-8 valid (or not)
    except UnicodeDecodeError:
        return "X'" + raw.hex() + "'"


def literal(conn: Connection, value: object) -> str:
    """``value`` as an SQL literal for ``conn`` (quoting as its ``sql_mode`` wants:
    backslash escapes, or doubled quotes under ``NO_BACKSLASH_ESCAPES``).

    Text is quoted; bytes that are UTF-8 (the outbox's JSON events) are quoted as text
    too, which a BLOB column stores as the same bytes; other bytes become ``X'hex'``.
    Safe to call while another thread runs a statement on ``conn``.
    """
    if isinstance(value, bytes):
        return _quote(conn, value)
    if isinstance(value, str):
        return _quote(conn, value.encode())
    if isinstance(value, bytearray | memoryview):
        return _quote(conn, bytes(value))
    rendered = _mysql.escape(value, conversions)
    return rendered.decode() if isinstance(rendered, bytes) else str(rendered)


@contextmanager
def transaction(
    settings: Settings | None = None, database: str | None = None
) -> Iterator[Connection]:
    """A connection whose work commits on success and rolls back on any error."""
    conn = connect(settings, database)
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
