"""MySQL connections (PyMySQL). Portable SQL only: it must run on MariaDB and MySQL 8."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
from pymysql.connections import Connection

from topproducts.errors import StackError
from topproducts.settings import Settings, get_settings

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
    try:
        return pymysql.connect(
            host=s.mysql_host,
            port=s.mysql_port,
            user=s.mysql_user,
            password=s.mysql_password,
            database=database,
            autocommit=autocommit,
            charset="utf8mb4",
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        code, message = (*exc.args, "", "")[:2]
        raise StackError(
            f"MySQL at {s.mysql_host}:{s.mysql_port} as {s.mysql_user!r}: {message} ({code})"
        ) from None


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
