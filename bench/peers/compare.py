"""Is a peer's result right? Its all-time totals and boards against independent totals (pure).

The independent totals are the preload's (:class:`bench.drain_data.PreloadReport`): per
(scope, variant), summed while the events were generated. :func:`expected_totals` rolls them
up to the three granularities; :func:`total_differences` and :func:`board_problems` say what
differs, in words, and nothing when all is equal. Money is ``Decimal`` throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

GRANULARITIES = ("product_material", "product", "variant")
METRICS = ("quantity", "revenue")

Amounts = tuple[int, Decimal]  # (quantity, revenue in USD)
Key = tuple[str, str, str]  # (granularity, scope, item)
# one granularity's totals per window: (scope, window start in epoch seconds) -> item -> amounts
WindowTotals = Mapping[tuple[str, int], Mapping[str, Amounts]]


class Entry(NamedTuple):
    """One row of a published board."""

    rank: int
    item: str
    quantity: int
    revenue: Decimal


def item_keys(variant_id: int, product_id: int, material: str) -> dict[str, str]:
    """The item of a variant at each granularity, as the peer writes it."""
    return {"product_material": f"{product_id}|{material}", "product": str(product_id),
            "variant": str(variant_id)}


def expected_totals(variant_totals: Mapping[tuple[str, int], Amounts],
                    product_of: Callable[[int], tuple[int, str]]) -> dict[Key, Amounts]:
    """Roll (scope, variant) -> amounts up to every granularity; ``product_of(variant_id)``
    gives the variant's (product_id, material)."""
    out: dict[Key, Amounts] = {}
    for (scope, variant_id), (quantity, revenue) in variant_totals.items():
        product_id, material = product_of(variant_id)
        for granularity, item in item_keys(variant_id, product_id, material).items():
            q, r = out.get((granularity, scope, item), (0, Decimal("0.00")))
            out[(granularity, scope, item)] = (q + quantity, r + revenue)
    return out


def total_differences(got: Mapping[Key, Amounts], want: Mapping[Key, Amounts],
                      limit: int = 5) -> list[str]:
    """The keys whose amounts differ, are missing or are extra (the first ``limit``, then a
    count of the rest)."""
    problems = [f"{key}: got {got.get(key)}, want {want.get(key)}"
                for key in sorted(set(got) | set(want)) if got.get(key) != want.get(key)]
    if len(problems) > limit:
        problems = [*problems[:limit], f"... and {len(problems) - limit} more"]
    return problems


def window_differences(got: WindowTotals, want: WindowTotals, limit: int = 5) -> list[str]:
    """The windowed totals that differ, are missing or are extra, as
    :func:`total_differences` says it. An item whose amounts are zero (its lines confirmed,
    then cancelled before the window's end) counts as absent: one engine keeps the zero row,
    the other may not."""
    def flat(windows: WindowTotals) -> dict[Key, Amounts]:
        return {(f"window {start}", scope, item): amounts
                for (scope, start), items in windows.items()
                for item, amounts in items.items() if amounts != (0, 0)}
    return total_differences(flat(got), flat(want), limit)


def ranked(rows: Iterable[tuple[int, Decimal, str]], metric: str) -> list[Entry]:
    """A board written without rank numbers ((quantity, revenue, item) rows), ranked by
    ``metric``, largest first (ties in item order)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    by_revenue = metric == "revenue"
    ordered = sorted(rows, key=lambda r: (-(r[1] if by_revenue else r[0]), r[2]))
    return [Entry(n, item, q, rev) for n, (q, rev, item) in enumerate(ordered, start=1)]


def board_problems(entries: Iterable[Entry], totals: Mapping[str, Amounts], metric: str,
                   n: int) -> list[str]:
    """What is wrong with a published top-``n`` board by ``metric``, given the true totals of
    its items (those of one granularity, scope and window): ranks 1..k with k = min(n, items),
    each entry's amounts equal to its item's, and the ranked values the k largest (any order
    among ties)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    index = METRICS.index(metric)
    board: Sequence[Entry] = sorted(entries)
    problems = []
    k = min(n, len(totals))
    if [e.rank for e in board] != list(range(1, k + 1)):
        problems.append(f"ranks {[e.rank for e in board]}, want 1..{k}")
    for e in board:
        if totals.get(e.item) != (e.quantity, e.revenue):
            problems.append(f"rank {e.rank} {e.item}: {(e.quantity, e.revenue)}, "
                            f"want {totals.get(e.item)}")
    best = sorted((amounts[index] for amounts in totals.values()), reverse=True)[:k]
    shown = [(e.quantity, e.revenue)[index] for e in board]
    if shown != best:
        problems.append(f"ranked {metric} {shown}, want the largest {best}")
    return problems
