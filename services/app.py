"""The app factory: ``services.app:create_app``.

    uvicorn --factory services.app:create_app      # or: topproducts api

Everything the app touches comes from the settings it is built with, so tests
build it on their own databases, topics and keyspace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from services import errors
from services.board_cache import BoardCache, BoardKey
from services.deps import CassandraHolder
from services.fast_boards import FastBoards
from services.publisher import EventPublisher
from services.routes import ROUTERS
from services.routes.page import STATIC
from topproducts.leaderboards import Leaderboard
from topproducts.settings import Settings, get_settings

DESCRIPTION = """\
The shop's services (users, inventory, orders, payments, shipments) over its MySQL
databases, and the live leaderboards the stream keeps in Cassandra.

* **Writes** need the header `X-API-Key` (the setting `TOPPRODUCTS_API_KEY`);
  reads are open.
* **Errors** always have the body `{"error": {"code", "message", "field"}}`.
* **Money** is a decimal string (`"1299.50"`) next to its currency; leaderboard
  revenue is in the reporting currency (USD).
* **Lists** page with `limit` and `offset`; `next_offset` is null on the last page.

The live page is at [/](/).
"""

try:
    VERSION = version("topproducts")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0"

TAGS = [
    {"name": "users", "description": "Customers and their addresses."},
    {"name": "inventory", "description": "Products, variants (product x material x seller), "
                                         "stock."},
    {"name": "orders", "description": "Placing an order runs the shop's own domain code: "
                                      "MySQL rows and Kafka events, as the simulator does."},
    {"name": "payments", "description": "The simulated payment gateway."},
    {"name": "shipments", "description": "Processing -> Shipped -> In Transit -> "
                                         "Out for Delivery -> Delivered."},
    {"name": "leaderboards", "description": "Top products, as the stream writes them."},
    {"name": "meta", "description": "Health."},
]


def create_app(settings: Settings | None = None, publish_events: bool = True) -> FastAPI:
    """Build the API. ``publish_events=False`` skips the background outbox pump."""
    s = settings or get_settings()
    publisher = EventPublisher(s)
    cassandra = CassandraHolder(s)

    def read_board(key: BoardKey) -> Leaderboard:
        metric, by, scope, wid = key
        return app.state.cassandra.store().top(metric, scope, wid, by=by)

    boards = BoardCache(read_board, s.api_board_refresh_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if publish_events:
            publisher.start()
        boards.start()
        try:
            yield
        finally:
            await boards.stop()
            await run_in_threadpool(publisher.stop)
            await run_in_threadpool(cassandra.close)

    app = FastAPI(title="topproducts", version=VERSION, description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan)
    app.state.settings = s
    app.state.publisher = publisher
    app.state.cassandra = cassandra
    app.state.boards = boards
    errors.install(app)
    app.add_middleware(FastBoards)  # the hot read, answered before routing
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
