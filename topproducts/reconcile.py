"""Reconciliation: leaderboard totals in Cassandra against the ground truth in MySQL.

The counting rule, stated over MySQL: an order line counts when its order was
confirmed and not cancelled afterwards (``confirmed_at IS NOT NULL AND
cancelled_at IS NULL``); in a window when ``confirmed_at`` falls inside it
(start inclusive, end exclusive). Scope GLOBAL is the sum of the countries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from topproducts import db
from topproducts.countries import GLOBAL_SCOPE
from topproducts.settings import Settings

ALL_TIME = "all"


@dataclass(frozen=True, order=True)
class Key:
    scope: str
    window_id: str
    variant_id: int


@dataclass(frozen=True)
class Totals:
    quantity: int
    revenue_usd: Decimal

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.quantity + other.quantity, self.revenue_usd + other.revenue_usd)


ZERO = Totals(0, Decimal("0.00"))


@dataclass(frozen=True)
class Mismatch:
    key: Key
    expected: Totals
    actual: Totals

    def __str__(self) -> str:
        k = self.key
        return (f"{k.scope}/{k.window_id}/variant {k.variant_id}: MySQL "
                f"{self.expected.quantity} units, {self.expected.revenue_usd} USD; Cassandra "
                f"{self.actual.quantity} units, {self.actual.revenue_usd} USD")


def with_global(per_country: Mapping[Key, Totals]) -> dict[Key, Totals]:
    """Add the GLOBAL scope: for each (window, variant), the sum over countries."""
    result = dict(per_country)
    sums: dict[Key, Totals] = defaultdict(lambda: ZERO)
    for key, totals in per_country.items():
        if key.scope != GLOBAL_SCOPE:
            glob = Key(GLOBAL_SCOPE, key.window_id, key.variant_id)
            sums[glob] = sums[glob] + totals
    result.update(sums)
    return result


def compare(expected: Mapping[Key, Totals], actual: Mapping[Key, Totals]) -> list[Mismatch]:
    """Every key where the two disagree; a missing key counts as zero on that side."""
    mismatches = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key, ZERO), actual.get(key, ZERO)
        if (e.quantity, e.revenue_usd) != (a.quantity, a.revenue_usd):
            mismatches.append(Mismatch(key, e, a))
    return mismatches


_SQL = """
    SELECT o.country_code, i.variant_id, SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {items} i ON i.order_id = o.order_id
    WHERE o.confirmed_at IS NOT NULL AND o.cancelled_at IS NULL {window}
    GROUP BY o.country_code, i.variant_id
"""


def ground_truth(
    settings: Settings, windows: Iterable[tuple[str, datetime, datetime]] = ()
) -> dict[Key, Totals]:
    """Totals from MySQL: all-time, plus each ``(window_id, start, end)`` given."""
    database = settings.database("order_management")
    tables = {"orders": f"`{database}`.orders", "items": f"`{database}`.order_items"}
    queries: list[tuple[str, str, tuple]] = [(ALL_TIME, _SQL.format(window="", **tables), ())]
    for window_id, start, end in windows:
        sql = _SQL.format(window="AND o.confirmed_at >= %s AND o.confirmed_at < %s", **tables)
        queries.append((window_id, sql, (_naive_utc(start), _naive_utc(end))))
    per_country: dict[Key, Totals] = {}
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            for window_id, sql, args in queries:
                cur.execute(sql, args)
                for country, variant_id, quantity, revenue in cur.fetchall():
                    per_country[Key(country, window_id, int(variant_id))] = Totals(
                        int(quantity), Decimal(revenue))
    finally:
        conn.close()
    return with_global(per_country)


def unpublished_events(settings: Settings) -> int:
    """Outbox rows not yet delivered to Kafka (the stream cannot have seen them)."""
    conn = db.connect(settings, settings.database("order_management"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _naive_utc(value: datetime) -> datetime:
    """MySQL DATETIME columns hold naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
