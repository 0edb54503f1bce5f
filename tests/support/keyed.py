"""Keyed rows as the stream's Spark query hands them to the driver (the Arrow shape of
:func:`streaming.transforms.keyed_rows`), built from plain events: for the driver's unit
tests and the counting benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pyarrow as pa

from topproducts.leaderboards.ranking import to_micros

ITEM = pa.struct([("variant_id", pa.int64()), ("product_id", pa.int64()),
                  ("product_name", pa.string()), ("material", pa.string()),
                  ("quantity", pa.int64()), ("revenue_usd", pa.decimal128(18, 2)),
                  ("seller", pa.string())])
KEYED = pa.schema([
    ("key_id", pa.int64()), ("key_kind", pa.string()), ("sign", pa.int32()),
    ("country", pa.string()), ("event_time_us", pa.int64()), ("own_time_us", pa.int64()),
    ("items", pa.list_(ITEM)),
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("kafka_timestamp_us", pa.int64()), ("key", pa.string()), ("value", pa.binary()),
    ("reason", pa.string()),
])


@dataclass(frozen=True)
class Event:
    """A counting event: a confirmation (+1) or the cancellation of one (-1)."""

    order_id: int
    country: str
    at: datetime  # the confirmation time, for both
    items: tuple[tuple[int, int, str], ...]  # (variant, quantity, revenue_usd)
    sign: int = 1
    own: datetime | None = None  # when it happened (a cancellation's time); None: ``at``

    def row(self) -> dict:
        return {"key_id": self.order_id,
                "key_kind": "order_confirmed" if self.sign > 0 else "order_cancelled",
                "sign": self.sign, "country": self.country, "event_time_us": to_micros(self.at),
                "own_time_us": to_micros(self.own or self.at),
                "items": [{"variant_id": v, "product_id": product_of(v),
                           "product_name": f"P{product_of(v)}", "material": material_of(v),
                           "quantity": q, "revenue_usd": Decimal(r), "seller": seller_of(v)}
                          for v, q, r in self.items]}

    def cancelled(self, at: datetime | None = None) -> Event:
        """Its cancellation, happening at ``at`` (default: the confirmation's moment)."""
        return Event(self.order_id, self.country, self.at, self.items, -1, at)


def product_of(variant: int) -> int:
    """Four variants per product: two materials, each sold by two sellers."""
    return (variant + 3) // 4


def material_of(variant: int) -> str:
    return "Oak" if variant % 2 else "Steel"


def seller_of(variant: int) -> str:
    return f"Seller {variant % 3}"


def table(rows: list[Event | dict]) -> pa.Table:
    dicts = [r.row() if isinstance(r, Event) else r for r in rows]
    dicts.append({"key_kind": None})  # a placement: null key, ignored by the driver
    return pa.Table.from_pylist(dicts, schema=KEYED)


