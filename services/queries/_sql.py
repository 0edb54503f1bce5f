from __future__ import annotations

from typing import Any

from topproducts.db import Connection


def rows(conn: Connection, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def one(conn: Connection, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
    found = rows(conn, sql, params)
    return found[0] if found else None
