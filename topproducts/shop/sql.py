"""SQL helpers of the shop: naive-UTC timestamps, ``IN`` lists, and bulk INSERTs.

The bulk INSERT renders literals itself, by type: a driver's ``executemany``
folds rows into multi-row INSERTs too, but it escapes every value through a
generic dispatch that costs more than the database's work for our narrow rows.
Here each value type the shop writes (int, str, Decimal, datetime, bytes, None)
is rendered directly; anything else falls back to :func:`topproducts.db.literal`.
Strings and bytes that need it are escaped by the connection (which honours
``NO_BACKSLASH_ESCAPES``), as the driver's own parameter rendering does. Text
without any character that either escaping mode touches is quoted as is, and each
distinct text or timestamp is rendered once per call (rows repeat them).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from topproducts import db

MAX_STATEMENT = 1 << 20  # bytes per statement, well below max_allowed_packet (16 MB)
# What the connection's escaping rewrites; text without these is the same literal in both
# modes.
_NEEDS_ESCAPE = re.compile("[\\x00\\n\\r\\x1a'\"\\\\]").search


def naive_utc(moment: datetime) -> datetime:
    """The form MySQL DATETIME columns hold: UTC without tzinfo."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware_utc(stored: datetime) -> datetime:
    """A DATETIME read back from MySQL (naive UTC) as an aware UTC datetime."""
    return stored.replace(tzinfo=UTC)


def int_list(values: Sequence[int]) -> str:
    """``1,2,3``: integers written into the statement, for long ``IN (...)`` lists (a
    parameter per id costs the driver's escaping per id). Anything but an int raises
    TypeError, so no text can get into the SQL this way."""
    return ",".join([int.__repr__(v) for v in values])


def placeholders(values: Sequence[object]) -> str:
    """``%s,%s,...``: one placeholder per value, for ``IN (...)``."""
    return ",".join(["%s"] * len(values))


def _renderers(conn) -> dict[type, Callable[[object], str]]:
    dates: dict[datetime, str] = {}  # a batch's rows share a few timestamps: render each once
    texts: dict[str, str] = {}  # and statuses, names, currencies...

    def dt(v: datetime) -> str:
        literal = dates.get(v)
        if literal is None:
            if v.tzinfo is not None:
                raise ValueError(f"aware datetime {v!r}: store naive UTC")
            literal = dates[v] = "'" + v.isoformat(" ") + "'"
        return literal

    def text(v: str) -> str:
        literal = texts.get(v)
        if literal is None:
            literal = texts[v] = db.literal(conn, v) if _NEEDS_ESCAPE(v) else "'" + v + "'"
        return literal

    def binary(v: bytes) -> str:
        return db.literal(conn, v)

    return {int: int.__repr__, str: text, Decimal: lambda v: format(v, "f"),
            datetime: dt, bytes: binary,
            bool: lambda v: "1" if v else "0", type(None): lambda v: "NULL"}


def insert_many(cur, statement: str, rows: Sequence[Sequence[object]]) -> int:
    """Run ``INSERT INTO t (cols) VALUES`` + rows, as few multi-row statements as fit.

    ``statement`` ends with ``VALUES`` (no placeholders).
    """
    if not rows:
        return 0
    conn = cur.connection
    run = getattr(cur, "execute_later", cur.execute)
    render = _renderers(conn)
    def fallback(v: object) -> str:
        return db.literal(conn, v)

    prefix = statement.rstrip() + " "
    parts: list[str] = []
    size = len(prefix)
    get = render.get
    for row in rows:
        literal = "(" + ",".join([(get(type(v)) or fallback)(v) for v in row]) + ")"
        if parts and size + len(literal) + 1 > MAX_STATEMENT:
            run(prefix + ",".join(parts))
            parts, size = [], len(prefix)
        parts.append(literal)
        size += len(literal) + 1
    run(prefix + ",".join(parts))
    return len(rows)


class PipelinedCursor:
    """A cursor whose bulk writes run on a worker thread while the caller works on.

    :func:`insert_many` hands its statements to :meth:`execute_later`; they run in
    submission order, on the same connection and transaction, on one worker
    thread. The MySQL round trip releases the GIL, so the caller renders the next
    rows while the server inserts the previous ones. Every other use of the
    cursor (:meth:`execute`, fetches) first waits for the queued statements, so
    the transaction sees exactly the statements a plain cursor would have run,
    in the same order. The first error of a queued statement is raised by the
    next :meth:`execute` or :meth:`wait`; statements queued after it are skipped.
    Call :meth:`wait` before committing.
    """

    def __init__(self, cur) -> None:
        self._cur = cur
        self.connection = cur.connection
        self._queue: deque[str] = deque()
        self._error: BaseException | None = None
        self._idle = threading.Condition()
        self._busy = False

    def execute_later(self, statement: str) -> None:
        with self._idle:
            if self._error is not None:
                return  # the transaction failed: wait() raises, the caller rolls back
            self._queue.append(statement)
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._drain, name="sql-pipeline", daemon=True).start()

    def _drain(self) -> None:
        while True:
            with self._idle:
                if not self._queue or self._error is not None:
                    self._queue.clear()
                    self._busy = False
                    self._idle.notify_all()
                    return
                statement = self._queue.popleft()
            try:
                self._cur.execute(statement)
            except BaseException as exc:  # raised again by wait(), on the caller's thread
                with self._idle:
                    self._error = exc

    def wait(self) -> None:
        """Block until every queued statement ran; raise the first error, if any."""
        with self._idle:
            while self._busy:
                self._idle.wait()
            error, self._error = self._error, None
        if error is not None:
            raise error

    def settle(self) -> None:
        """Block until the worker is idle, dropping any error (the caller is rolling back)."""
        with contextlib.suppress(BaseException):  # the transaction is being rolled back anyway
            self.wait()

    def execute(self, query: str, args: object = None) -> int:
        self.wait()
        return self._cur.execute(query, args)

    def fetchone(self) -> tuple | None:
        return self._cur.fetchone()

    def fetchall(self) -> tuple:
        return self._cur.fetchall()
