"""Dependencies (``Depends``): settings, MySQL connections, the leaderboard store, auth, paging.

Everything comes from the app's own :class:`~topproducts.settings.Settings`
(``app.state.settings``), so a test builds an app on isolated databases, topics
and keyspace just by passing other settings to :func:`services.app.create_app`.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from services.errors import ApiError
from topproducts import db
from topproducts.db import Connection
from topproducts.leaderboards import LeaderboardStore
from topproducts.settings import Settings

API_KEY_HEADER = "X-API-Key"
MAX_PAGE = 200


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def mysql(settings: SettingsDep) -> Iterator[Connection]:
    """A connection for one request: committed if the route returns, rolled back if it raises."""
    with db.transaction(settings) as conn:
        yield conn


MySQL = Annotated[Connection, Depends(mysql)]


class CassandraHolder:
    """One Cassandra session per app, opened on first use (the schema is ensured then)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: LeaderboardStore | None = None
        self._lock = threading.Lock()

    def store(self) -> LeaderboardStore:
        with self._lock:
            if self._store is None:
                self._store = LeaderboardStore.connect(self.settings)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def leaderboard_store(request: Request) -> LeaderboardStore:
    return request.app.state.cassandra.store()


Store = Annotated[LeaderboardStore, Depends(leaderboard_store)]

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                        description="Writes need the shop's API key (`TOPPRODUCTS_API_KEY`).")


def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key)] = None
) -> None:
    """401 unless the ``X-API-Key`` header equals ``settings.api_key``."""
    if not key:
        raise ApiError(401, "unauthorized", f"this call needs the {API_KEY_HEADER} header")
    if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
        raise ApiError(401, "unauthorized", f"wrong {API_KEY_HEADER}")


WriteAccess = Depends(require_api_key)


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int

    def page(self, rows: list) -> tuple[list, int | None]:
        """Rows were fetched with ``limit + 1``: trim and say where the next page starts."""
        more = len(rows) > self.limit
        return rows[: self.limit], (self.offset + self.limit if more else None)


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
