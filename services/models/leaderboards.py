"""Leaderboards: top N by metric, granularity, scope and window; one item's totals."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from services.models.common import Money, Out, UtcTime
from topproducts.countries import COUNTRIES, GLOBAL_SCOPE
from topproducts.leaderboards import Granularity, Metric

Scope = StrEnum("Scope", {GLOBAL_SCOPE: GLOBAL_SCOPE,  # type: ignore[misc]
                          **{c.code: c.code for c in COUNTRIES}})

__all__ = ["Granularity", "Metric", "Scope"]


class WindowOut(Out):
    id: str = Field(description="`all`, or the window's UTC start.",
                    examples=["all", "2026-11-25T08:00:00Z"])
    start: UtcTime | None
    end: UtcTime | None


class Entry(Out):
    """One ranked item. Which fields are set depends on the board's granularity (``by``):
    ``material`` is null for `product`; ``variant_id`` and ``seller`` are null unless
    `variant`."""

    rank: int
    name: str = Field(description="What a person reads; no two entries of a board share it.",
                      examples=["Vintage Chair · Leather", "Vintage Chair · Leather · sold by "
                                                            "Acme"])
    product_id: int
    product_name: str
    material: str | None = Field(description="Null when `by` is `product`.")
    variant_id: int | None = Field(description="Set when `by` is `variant` only.")
    seller: str | None = Field(description="The seller's name; set when `by` is `variant` "
                                           "only (null for sales recorded before sellers "
                                           "were carried).")
    value: str = Field(description="The ranked value as a decimal string: units for "
                                   "`quantity`, USD for `revenue`.", examples=["42", "1299.50"])
    quantity: int
    revenue_usd: Money


class Leaderboard(Out):
    metric: Metric
    by: Granularity = Field(description="What one entry is: `product_material`, `product` or "
                                        "`variant`.")
    scope: Scope
    window: WindowOut
    currency: str = Field(description="Reporting currency of revenue values.", examples=["USD"])
    updated_at: UtcTime | None = Field(description="When the stream last wrote this board.")
    entries: list[Entry]


class ItemTotals(Out):
    scope: Scope
    window: WindowOut
    variant_id: int
    product_id: int
    product_name: str
    material: str
    seller: str | None
    name: str
    quantity: int
    revenue_usd: Money
    updated_at: UtcTime | None


class ScopeOut(Out):
    code: str
    name: str
    currency: str | None


class GranularityOut(Out):
    code: Granularity
    label: str = Field(description="What one ranked row is, for people.",
                       examples=["product × material"])


class Options(Out):
    """What the page's selectors offer."""

    metrics: list[Metric]
    granularities: list[GranularityOut]
    default_granularity: Granularity
    scopes: list[ScopeOut]
    windows: list[WindowOut] = Field(description="Windows with data for the scope, newest first.")
    current_window: WindowOut
    window_duration: str
    window_slide: str
    top_n: int
    currency: str
