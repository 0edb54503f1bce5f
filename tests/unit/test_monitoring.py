"""The stream's health and the restart policy, as pure functions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from topproducts.leaderboards.ranking import ItemTotal, Metric, Ranked, rank
from topproducts.leaderboards.store import STREAM_QUERY, Progress
from topproducts.monitor import State, assess, health_of, lag
from topproducts.settings import Settings
from topproducts_assets.leaderboards import data_version, rank_problems
from topproducts_assets.monitoring import decide

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
STALL = timedelta(seconds=60)


def progress(query: str, offsets: str, batch_at: datetime) -> Progress:
    return Progress(query=query, run_id="r", batch_id=7, end_offsets=offsets, input_rows=10,
                    input_rows_per_second=5.0, processed_rows_per_second=50.0,
                    batch_duration_ms=200, watermark=None, late_rows_dropped=0,
                    late_rows_dropped_total=0, state_rows=3, batch_at=batch_at,
                    updated_at=batch_at)


def row(offsets: str, batch_at: datetime) -> Progress:
    """The stream's own progress row."""
    return progress(STREAM_QUERY, offsets, batch_at)


END = {"shop.orders": {0: 100, 1: 50}}


def test_lag_counts_unread_events_per_partition() -> None:
    assert lag(END, {"shop.orders": {0: 90, 1: 50}}) == 10
    assert lag(END, {}) == 150
    assert lag(END, {"shop.orders": {0: 100, 1: 60}}) == 0  # never negative


def test_healthy_idle_stalled_dead_not_started() -> None:
    recent = row('{"shop.orders": {"0": 90, "1": 50}}', NOW - timedelta(seconds=5))
    caught_up = row('{"shop.orders": {"0": 100, "1": 50}}', NOW - timedelta(hours=1))
    old = row('{"shop.orders": {"0": 90, "1": 50}}', NOW - timedelta(seconds=61))
    assert assess(123, recent, END, NOW, STALL).state is State.HEALTHY
    assert assess(123, caught_up, END, NOW, STALL).state is State.IDLE
    stalled = assess(123, old, END, NOW, STALL)
    assert stalled.state is State.STALLED and stalled.needs_restart
    assert "no batch for 61s while 10 events wait" in stalled.reason
    dead = assess(None, recent, END, NOW, STALL)
    assert dead.state is State.DEAD and dead.needs_restart and dead.lag == 10
    assert assess(None, None, END, NOW, STALL).state is State.NOT_STARTED
    assert assess(123, None, END, NOW, STALL).state is State.HEALTHY  # starting


def test_a_fresh_restart_is_not_stalled_by_its_predecessors_last_batch() -> None:
    old = row('{"shop.orders": {"0": 90, "1": 50}}', NOW - timedelta(minutes=10))
    just_started = assess(123, old, END, NOW, STALL, started_at=NOW - timedelta(seconds=20))
    assert just_started.state is State.HEALTHY
    long_ago = assess(123, old, END, NOW, STALL, started_at=NOW - timedelta(seconds=90))
    assert long_ago.state is State.STALLED and "no batch for 90s" in long_ago.reason


def test_only_the_streams_own_progress_row_counts(tmp_path: Path) -> None:
    rows = [progress("leaderboard_windows", '{"shop.orders": {"0": 1, "1": 1}}', NOW),  # old
            row('{"shop.orders": {"0": 80, "1": 40}}', NOW)]
    health = health_of(Settings(state_dir=tmp_path), rows, END, NOW)  # no pid file: dead
    assert (health.state, health.lag, health.last_batch_at) == (State.DEAD, 30, NOW)
    assert health_of(Settings(state_dir=tmp_path), rows[:1], END, NOW).state is (
        State.NOT_STARTED)


def test_restart_policy_respects_wanted_and_cooldown() -> None:
    old = row('{"shop.orders": {"0": 90, "1": 50}}', NOW - timedelta(seconds=5))
    dead = assess(None, old, END, NOW, STALL)
    now = NOW.timestamp()
    reason, _, cursor = decide(dead, True, {}, now, 120)
    assert reason and reason.startswith("stream dead") and cursor["restarts"] == 1
    again, why, same = decide(dead, True, cursor, now + 30, 120)
    assert again is None and "cooldown" in why and same == cursor
    later, _, cursor2 = decide(dead, True, cursor, now + 121, 120)
    assert later and cursor2["restarts"] == 2
    unwanted, why, _ = decide(dead, False, {}, now, 120)
    assert unwanted is None and "stop_stream" in why
    healthy = assess(1, old, END, NOW, STALL)
    assert decide(healthy, True, {}, now, 120)[0] is None


def item(variant: int, qty: int, revenue: str) -> ItemTotal:
    return ItemTotal(variant, f"P{variant}", "Oak", variant, None, qty, Decimal(revenue))


def test_rank_sanity_finds_each_problem() -> None:
    totals = [item(1, 5, "10.00"), item(2, 9, "3.00"), item(3, 1, "99.00")]
    good = rank(totals, Metric.QUANTITY, 2)
    assert rank_problems(good, good, 2) == []
    swapped = [Ranked(1, good[1].item, good[1].value), Ranked(2, good[0].item, good[0].value)]
    assert "values increase somewhere" in rank_problems(swapped, good, 2)
    gap = [good[0], Ranked(3, good[1].item, good[1].value)]
    assert any("not 1..2" in p for p in rank_problems(gap, good, 2))
    twice = [good[0], Ranked(2, good[0].item, good[0].value)]
    assert "two rows have the same name" in rank_problems(twice, good, 2)
    assert any("more than top 1" in p for p in rank_problems(good, good, 1))
    stale = [Ranked(1, good[0].item, good[0].value - 1), good[1]]
    assert "differs from the top N of the exact totals" in rank_problems(stale, good, 2)


def test_data_version_changes_only_with_the_board() -> None:
    board = {"GLOBAL": rank([item(1, 5, "10.00"), item(2, 9, "3.00")], Metric.QUANTITY, 10)}
    same = {"GLOBAL": rank([item(2, 9, "3.00"), item(1, 5, "10.00")], Metric.QUANTITY, 10)}
    moved = {"GLOBAL": rank([item(1, 5, "10.00"), item(2, 10, "3.00")], Metric.QUANTITY, 10)}
    assert data_version("all", board) == data_version("all", same)
    assert data_version("all", board) != data_version("all", moved)
    assert data_version("all", board) != data_version("2026-11-25T08:00:00Z", board)
