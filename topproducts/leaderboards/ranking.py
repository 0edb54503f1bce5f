"""Ranking rules, as pure functions.

A leaderboard is the top N items of one (metric, granularity, scope, window) by the
metric's value, descending. What an *item* is depends on the granularity:

- ``product_material``: a product in one material, summed over sellers (the original
  project's key, and the default);
- ``product``: a product, summed over materials and sellers;
- ``variant``: what a seller offers (product x material x seller), shown with the seller.

Ties are broken by the item's key (product id, material, variant id) ascending so the
order is deterministic. Items whose value is zero or negative (everything sold was
cancelled) are not ranked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar


class Metric(StrEnum):
    QUANTITY = "quantity"
    REVENUE = "revenue"


class Granularity(StrEnum):
    """What one ranked row is."""

    PRODUCT_MATERIAL = "product_material"
    PRODUCT = "product"
    VARIANT = "variant"

    @property
    def label(self) -> str:
        return {"product_material": "product × material", "product": "product",
                "variant": "variant (product × material × seller)"}[self.value]


DEFAULT_GRANULARITY = Granularity.PRODUCT_MATERIAL
ALL_TIME = "all"  # the window id of the all-time leaderboards

ItemKey = tuple[int, str, int]  # (product_id, material or "", variant_id or 0)


@dataclass(frozen=True)
class ItemTotal:
    """Exact totals of one item (at its granularity) in one (scope, window).

    ``material`` is None for a product; ``variant_id`` and ``seller`` are set for a
    variant only (``seller`` may be None for events written before it was carried).
    """

    product_id: int
    product_name: str
    material: str | None
    variant_id: int | None
    seller: str | None
    quantity: int
    revenue_usd: Decimal

    @property
    def key(self) -> ItemKey:
        return (self.product_id, self.material or "", self.variant_id or 0)

    @property
    def granularity(self) -> Granularity:
        if self.variant_id is not None:
            return Granularity.VARIANT
        return Granularity.PRODUCT if self.material is None else Granularity.PRODUCT_MATERIAL

    @property
    def name(self) -> str:
        """What a person reads: two rows of one board never have the same name."""
        parts = [self.product_name]
        if self.material is not None:
            parts.append(self.material)
        if self.variant_id is not None:
            parts.append(f"sold by {self.seller or f'variant {self.variant_id}'}")
        return " · ".join(parts)

    def value(self, metric: Metric) -> Decimal:
        return Decimal(self.quantity) if metric is Metric.QUANTITY else self.revenue_usd


def item_key(by: Granularity, product_id: int, material: str, variant_id: int) -> ItemKey:
    """The key of a line's item at a granularity."""
    if by is Granularity.PRODUCT:
        return (product_id, "", 0)
    if by is Granularity.PRODUCT_MATERIAL:
        return (product_id, material, 0)
    return (product_id, material, variant_id)


def roll_up(variants: Iterable[ItemTotal], by: Granularity) -> list[ItemTotal]:
    """Variant totals summed to ``by``'s items, in key order (the ledger holds variants)."""
    acc: dict[ItemKey, ItemTotal] = {}
    for v in variants:
        item = as_granularity(v, by)
        old = acc.get(item.key)
        acc[item.key] = item if old is None else replace(
            item, quantity=old.quantity + item.quantity,
            revenue_usd=old.revenue_usd + item.revenue_usd)
    return [acc[k] for k in sorted(acc)]


def as_granularity(variant: ItemTotal, by: Granularity) -> ItemTotal:
    """A variant's total seen as its item at ``by`` (same quantity and revenue)."""
    if by is Granularity.VARIANT:
        return variant
    material = None if by is Granularity.PRODUCT else variant.material
    return replace(variant, material=material, variant_id=None, seller=None)


@dataclass(frozen=True)
class Ranked:
    rank: int
    item: ItemTotal
    value: Decimal


def sort_key(metric: Metric):
    """Order: value descending, then the item's key ascending."""
    return lambda item: (-item.value(metric), item.key)


def rank(items: Iterable[ItemTotal], metric: Metric, n: int) -> list[Ranked]:
    """The top ``n`` of ``items`` by ``metric`` (positive values only)."""
    positive = [i for i in items if i.value(metric) > 0]
    positive.sort(key=sort_key(metric))
    return [Ranked(r, item, item.value(metric)) for r, item in enumerate(positive[:n], start=1)]


# Windows -------------------------------------------------------------------

_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "m": 60,
    "hour": 3600, "hours": 3600, "h": 3600,
    "day": 86400, "days": 86400, "d": 86400,
}


def parse_duration(text: str) -> timedelta:
    """Parse Spark-style durations such as ``1 hour`` or ``5 minutes``."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]+)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a duration: {text!r} (use e.g. '1 hour', '5 minutes')")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])


N = TypeVar("N", int, Any)  # a Python int, or a numpy int64 array: the same arithmetic
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # windows and panes are aligned to it (Spark's rule)


@dataclass(frozen=True)
class Geometry:
    """Window length, slide (= pane length) and watermark delay, in microseconds.

    A pane is one slide of event time; the sliding window starting at ``s`` is the
    sum of the panes ``s, s + slide, ..., s + duration - slide``.
    """

    duration_us: int
    slide_us: int
    delay_us: int = 0

    @classmethod
    def of(cls, duration: timedelta, slide: timedelta,
           delay: timedelta = timedelta(0)) -> Geometry:
        if duration % slide:
            raise ValueError(f"the window ({duration}) must be a whole number of slides "
                             f"({slide})")
        us = timedelta(microseconds=1)
        return cls(duration // us, slide // us, delay // us)

    @classmethod
    def parse(cls, duration: str, slide: str, delay: str = "0 seconds") -> Geometry:
        return cls.of(parse_duration(duration), parse_duration(slide), parse_duration(delay))

    @classmethod
    def configured(cls, settings: Any) -> Geometry:
        """The configured windows (``TOPPRODUCTS_WINDOW_DURATION``, ``_WINDOW_SLIDE``) and
        lateness (``TOPPRODUCTS_WATERMARK``) of a :class:`topproducts.settings.Settings`."""
        return cls.parse(settings.window_duration, settings.window_slide, settings.watermark)

    def pane_of(self, event_us: N) -> N:
        return event_us - event_us % self.slide_us

    def panes_of_window(self, start_us: int) -> range:
        return range(start_us, start_us + self.duration_us, self.slide_us)


def to_micros(moment: datetime) -> int:
    return (moment.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def current_window_start(now: datetime, duration: timedelta, slide: timedelta) -> datetime:
    """Start of the sliding window that contains ``now`` and closes first: the trailing period.

    Windows start at multiples of ``slide`` since the epoch (Spark's alignment).
    """
    since = now.astimezone(UTC) - EPOCH
    latest_start = EPOCH + (since // slide) * slide
    return latest_start - duration + slide


def window_id(start: datetime | None) -> str:
    """The id of a window: ``all`` for all-time, else its UTC start ``YYYY-MM-DDTHH:MM:SSZ``."""
    if start is None:
        return ALL_TIME
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_window_id(text: str) -> datetime | None:
    """Inverse of :func:`window_id`; accepts any ISO-8601 start (naive means UTC)."""
    if text == ALL_TIME:
        return None
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a window: {text!r} (use 'all' or an ISO start time)") from None
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
