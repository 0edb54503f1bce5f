"""The leaderboards in Cassandra: schema, ranking rules and the read API.

The streaming job writes them; the CLI, the API and Dagster checks read them::

    with open_store(settings) as store:
        board = store.top(Metric.REVENUE, "GLOBAL", "all", n=10, by=Granularity.PRODUCT)
"""

from topproducts.leaderboards.ranking import (
    ALL_TIME,
    DEFAULT_GRANULARITY,
    Granularity,
    ItemTotal,
    Metric,
    Ranked,
    current_window_start,
    parse_duration,
    parse_window_id,
    rank,
    window_id,
)
from topproducts.leaderboards.schema import ensure_schema
from topproducts.leaderboards.store import (
    ALL,
    DeadLetter,
    Leaderboard,
    LeaderboardStore,
    Progress,
    Window,
    open_store,
)

__all__ = [
    "ALL", "ALL_TIME", "DEFAULT_GRANULARITY", "DeadLetter", "Granularity", "ItemTotal",
    "Leaderboard", "LeaderboardStore", "Metric",
    "Progress", "Ranked", "Window", "current_window_start", "ensure_schema",
    "open_store", "parse_duration", "parse_window_id", "rank", "window_id",
]
