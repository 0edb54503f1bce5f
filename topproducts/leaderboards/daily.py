"""Daily leaderboards: the rule that decides what a UTC day's boards count, as pure functions.

A day's boards are the top N of the day's exact totals, per (metric, granularity, scope),
ranked with the live boards' own transforms (:func:`ranking.roll_up`, :func:`ranking.rank`).

**The rule.** An order line counts in day ``D``'s boards when its order was confirmed
during ``D`` (UTC, ``confirmed_at`` in ``[D 00:00, D+1 00:00)``) and was not cancelled
before ``D``'s *cut-off*, the end of the day plus :data:`CANCELLATION_WINDOW`:

- until the cut-off, a cancellation retracts the line (the same counting rule as the
  live boards and ``topproducts.reconcile``: confirmed and not cancelled);
- a cancellation after the cut-off no longer changes the day: the all-time boards
  retract it, the closed day keeps it. A day's boards are therefore a function of the
  ledger and the day alone once the cut-off has passed: re-running the day, today or in
  a year, writes the same rows.

The current (unfinished) day counts up to ``counted_until``: the last pane boundary
before now, so its totals are a whole number of the stream's panes (the cross-check
against the stream compares exactly those panes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards.ranking import (
    Granularity,
    ItemKey,
    ItemTotal,
    Metric,
    Ranked,
    rank,
    roll_up,
)

CANCELLATION_WINDOW = timedelta(days=1)
DAY = timedelta(days=1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_end(day: date) -> datetime:
    return day_start(day) + DAY


def cutoff(day: date) -> datetime:
    """After this moment a cancellation no longer changes ``day``'s boards."""
    return day_end(day) + CANCELLATION_WINDOW


def is_final(day: date, now: datetime) -> bool:
    """True once ``day``'s boards can no longer change (its cut-off has passed)."""
    return now >= cutoff(day)


def counted_until(day: date, now: datetime, slide: timedelta) -> datetime:
    """The end of what ``day``'s boards count: the day's end, or for the current day the
    last ``slide`` boundary at or before ``now`` (a whole number of the stream's panes)."""
    start = day_start(day)
    if now >= day_end(day):
        return day_end(day)
    if now <= start:
        return start
    return start + ((now - start) // slide) * slide


def parse_day(text: str) -> date:
    """A UTC day written ``YYYY-MM-DD``; ``ValueError`` with a readable message otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a day: {text!r} (use YYYY-MM-DD, e.g. 2026-11-24)") from None


def days_between(first: date, last: date) -> list[date]:
    """``first`` .. ``last`` inclusive (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def with_global(per_country: Mapping[str, Sequence[ItemTotal]]) -> dict[str, list[ItemTotal]]:
    """Variant totals per country plus the GLOBAL scope (their sum), each in key order."""
    out = {scope: roll_up(items, Granularity.VARIANT) for scope, items in per_country.items()
           if scope != GLOBAL_SCOPE}
    out[GLOBAL_SCOPE] = roll_up((i for items in out.values() for i in items),
                                Granularity.VARIANT)
    return out


@dataclass(frozen=True)
class DayBoard:
    """One board of one day: the top N of (metric, granularity, scope)."""

    metric: Metric
    by: Granularity
    scope: str
    entries: list[Ranked]


def day_boards(variants: Mapping[str, Sequence[ItemTotal]], scopes: Iterable[str],
               top_n: int) -> list[DayBoard]:
    """Every board of a day from its variant totals per scope (a scope without sales gets
    empty boards, so re-running a day also clears what no longer sells)."""
    boards = []
    for scope in scopes:
        for by in Granularity:
            rolled = roll_up(variants.get(scope, ()), by)
            for metric in Metric:
                boards.append(DayBoard(metric, by, scope, rank(rolled, metric, top_n)))
    return boards


BoardKey = tuple[Metric, Granularity, str]
Entry = tuple[int, ItemKey, object]  # (rank, item key, value)


def entries_of(ranked: Sequence[Ranked]) -> list[Entry]:
    """What a comparison looks at: rank, item key and value (names are labels)."""
    return [(r.rank, r.item.key, r.value) for r in ranked]


def differences(expected: Mapping[BoardKey, list[Entry]], actual: Mapping[BoardKey, list[Entry]]
                ) -> list[str]:
    """One line per board that differs, naming the first rank where it does."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key, []), actual.get(key, [])
        if want != got:
            at = next((i for i, (w, g) in enumerate(zip(want, got, strict=False)) if w != g),
                      min(len(want), len(got)))
            metric, by, scope = key
            out.append(f"{metric}/{by}/{scope}: from rank {at + 1} expected "
                       f"{want[at:at + 1]}, stored {got[at:at + 1]}")
    return out


def _variant_id(total: ItemTotal) -> int:
    assert total.variant_id is not None, "variant totals only"
    return total.variant_id


def totals_differences(expected: Mapping[str, Sequence[ItemTotal]],
                       actual: Mapping[str, Sequence[ItemTotal]]) -> list[str]:
    """Per scope and variant: where two sets of variant totals disagree (missing = zero)."""
    out = []
    for scope in sorted(set(expected) | set(actual)):
        want = {_variant_id(i): (i.quantity, i.revenue_usd) for i in expected.get(scope, ())}
        got = {_variant_id(i): (i.quantity, i.revenue_usd) for i in actual.get(scope, ())}
        for variant in sorted(set(want) | set(got)):
            w, g = want.get(variant, (0, 0)), got.get(variant, (0, 0))
            if w[0] != g[0] or w[1] != g[1]:
                out.append(f"{scope}/variant {variant}: expected {w[0]} units, {w[1]} USD; "
                           f"got {g[0]} units, {g[1]} USD")
    return out
