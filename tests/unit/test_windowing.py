"""The windowing rule's one implementation (slices) against the rule stated plainly."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np

from topproducts.leaderboards import windowing
from topproducts.leaderboards.ranking import Geometry

G = Geometry.of(timedelta(minutes=60), timedelta(minutes=5), timedelta(minutes=10))
S, D = G.slide_us, G.duration_us


def window_counts(confirmed: int, cancelled: int | None) -> dict[int, int]:
    """Window start -> how many times the line counts there, through its slices."""
    out: dict[int, int] = {}
    for (pane, from_end), sign in windowing.line_slices(G, confirmed, cancelled):
        for start in windowing.window_starts(G, pane, from_end):
            out[start] = out.get(start, 0) + sign
    return {k: v for k, v in out.items() if v}


def test_slices_count_a_line_exactly_where_the_rule_says() -> None:
    rng = random.Random(5)
    base = 1_780_000_000 * 1_000_000
    for _ in range(3000):
        confirmed = base + rng.randrange(0, 4 * 3600) * 1_000_000 + rng.randrange(1_000_000)
        delay = rng.choice([0, 1, S - 1, S, S + 1, D - 1, D, D + S, 3 * D,
                            rng.randrange(0, 3 * D)])
        cancelled = None if rng.random() < 0.2 else confirmed + delay
        want = {start: 1 for start in range(G.pane_of(confirmed) - D + S,
                                             G.pane_of(confirmed) + 1, S)
                if windowing.counts_in(confirmed, cancelled, start, start + D)}
        assert window_counts(confirmed, cancelled) == want, (confirmed, cancelled)


def test_a_cancellation_on_a_window_end_no_longer_counts_in_that_window() -> None:
    pane = 1_780_000_000 * 1_000_000 - (1_780_000_000 * 1_000_000) % S
    confirmed = pane + 7
    end = pane + 3 * S  # a window end
    assert windowing.counts_in(confirmed, end, end - D, end)  # not cancelled *before* its end
    assert not windowing.counts_in(confirmed, end - 1, end - D, end)
    assert (end - D) in window_counts(confirmed, end)
    assert (end - D) not in window_counts(confirmed, end - 1)


def test_the_rule_works_on_numpy_arrays_as_on_ints() -> None:
    moments = np.array([0, 1, S - 1, S, S + 1, 10 * S + 3], np.int64)
    assert windowing.first_end(G, moments).tolist() == [
        windowing.first_end(G, int(m)) for m in moments]
    assert windowing.open_from(G, 3 * S) == 4 * S  # the window ending at the watermark is final
    assert windowing.is_final(G, 3 * S, 3 * S) and not windowing.is_final(G, 4 * S, 3 * S)


def test_window_totals_sum_slices_into_the_windows_they_reach() -> None:
    pane = 100 * S
    slices = {("US", 7, pane, pane + S): (3, 300), ("US", 7, pane, pane + 4 * S): (-1, -100)}
    totals = windowing.window_totals(G, slices, first_start_us=pane - D + 2 * S)
    # windows ending pane+2S .. pane+3S have the 3 units; pane+4S .. pane+D only 2
    assert totals[("US", pane - D + 2 * S, 7)] == (3, 300)
    assert totals[("US", pane - D + 3 * S, 7)] == (3, 300)
    assert totals[("US", pane - D + 4 * S, 7)] == (2, 200)
    assert totals[("US", pane, 7)] == (2, 200)
    assert ("US", pane - D + S, 7) not in totals  # before first_start: not produced
