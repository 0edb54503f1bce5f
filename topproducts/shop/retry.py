"""Running a whole MySQL transaction again when it lost a deadlock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from topproducts import db

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """A deadlock or lock wait timeout: the transaction was rolled back and may be retried."""
    return isinstance(exc, db.OperationalError) and exc.args[:1] in ((1213,), (1205,))


def retrying(fn: Callable[[], T], attempts: int = 3) -> T:
    """Run a whole transaction ``fn``; run it again if it lost a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except db.OperationalError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")
