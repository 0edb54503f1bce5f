"""The API's board cache without Cassandra: one read per board per period, whatever the
number of requests; changes seen within a period and pushed to subscribers; never an old
board when Cassandra stops answering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.board_cache import BoardCache, BoardKey
from topproducts.leaderboards import ALL, Granularity, ItemTotal, Leaderboard, Metric, rank

KEY: BoardKey = (Metric.QUANTITY, Granularity.PRODUCT, "GLOBAL", "all")
OTHER: BoardKey = (Metric.REVENUE, Granularity.VARIANT, "IN", "all")


def board(key: BoardKey, units: int) -> Leaderboard:
    item = ItemTotal(1, "Lamp", None, None, None, units, Decimal(units))
    return Leaderboard(key[0], key[1], key[2], ALL, rank([item], key[0], 10),
                       datetime(2026, 11, 25, tzinfo=UTC))


class FakeCassandra:
    """Boards by key; counts reads; can go down."""

    def __init__(self) -> None:
        self.units = {KEY: 1, OTHER: 5}
        self.reads: list[BoardKey] = []
        self.down = False

    def read(self, key: BoardKey) -> Leaderboard:
        if self.down:
            raise ConnectionError("Cassandra is down")
        self.reads.append(key)
        return board(key, self.units[key])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


def units(b: Leaderboard) -> int:
    return b.entries[0].item.quantity


def test_requests_are_served_from_memory_while_watched():
    db = FakeCassandra()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=10.0)  # the watcher sleeps through the test
        cache.start()
        try:
            for _ in range(100):
                b, version = await cache.get(KEY)
            assert (units(b), version) == (1, 0)
            assert db.reads == [KEY]  # one read, a hundred answers
        finally:
            await cache.stop()

    run(scenario())


def test_without_the_watcher_every_request_reads():
    db = FakeCassandra()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=0.1)
        for _ in range(3):
            await cache.get(KEY)
        assert db.reads == [KEY] * 3

    run(scenario())


def test_a_refresh_sees_changes_and_wakes_subscribers_only_then():
    db = FakeCassandra()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=10.0)
        cache.start()
        try:
            _, version = await cache.get(KEY)
            await cache.get(OTHER)
            waiter = asyncio.create_task(cache.wait_change(KEY, version, timeout=5))
            await asyncio.sleep(0)
            assert await cache.refresh() == set()  # nothing changed: nobody woken
            assert not waiter.done()
            db.units[KEY] = 2
            assert await cache.refresh() == {KEY}
            assert await waiter is True
            b, new_version = await cache.get(KEY)
            assert (units(b), new_version) == (2, version + 1)
            assert await cache.wait_change(KEY, new_version, timeout=0.01) is False
        finally:
            await cache.stop()

    run(scenario())


def test_the_watcher_keeps_boards_current_within_its_period():
    db = FakeCassandra()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=0.02)
        cache.start()
        try:
            _, version = await cache.get(KEY)
            db.units[KEY] = 7
            assert await cache.wait_change(KEY, version, timeout=1.0)
            b, _ = await cache.get(KEY)
            assert units(b) == 7
        finally:
            await cache.stop()

    run(scenario())


def test_bodies_are_rendered_once_per_change_and_variant():
    db = FakeCassandra()
    rendered: list[tuple[int, int]] = []

    def render(limit: int):
        def go(b: Leaderboard) -> bytes:
            rendered.append((units(b), limit))
            return f"{units(b)}/{limit}".encode()
        return go

    async def scenario() -> None:
        cache = BoardCache(db.read, period=10.0)
        cache.start()
        try:
            for _ in range(3):
                assert (await cache.body(KEY, 10, render(10)))[0] == b"1/10"
                assert (await cache.body(KEY, 3, render(3)))[0] == b"1/3"
            db.units[KEY] = 4
            await cache.refresh()
            assert (await cache.body(KEY, 10, render(10)))[0] == b"4/10"
        finally:
            await cache.stop()

    run(scenario())
    assert rendered == [(1, 10), (1, 3), (4, 10)]


def test_idle_boards_are_forgotten_unless_subscribed():
    db = FakeCassandra()
    clock = Clock()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=10.0, idle=60.0, clock=clock)
        cache.start()
        try:
            await cache.get(KEY)
            _, version = await cache.get(OTHER)
            waiter = asyncio.create_task(cache.wait_change(OTHER, version, timeout=5))
            await asyncio.sleep(0)
            clock.now += 61
            db.reads.clear()
            await cache.refresh()
            assert db.reads == [OTHER] and len(cache) == 1
            waiter.cancel()
        finally:
            await cache.stop()

    run(scenario())


def test_an_unreadable_board_is_not_served_past_max_age():
    db = FakeCassandra()
    clock = Clock()

    async def scenario() -> None:
        cache = BoardCache(db.read, period=0.1, max_age=1.0, clock=clock)
        cache.start()
        try:
            await cache.get(KEY)
            db.down = True
            await cache.refresh()  # the watcher cannot read it: logged, board kept for now
            clock.now += 0.5
            assert units((await cache.get(KEY))[0]) == 1
            clock.now += 1.0  # older than max_age: a request reads Cassandra itself
            with pytest.raises(ConnectionError):
                await cache.get(KEY)
            db.down = False
            db.units[KEY] = 3
            assert units((await cache.get(KEY))[0]) == 3
        finally:
            await cache.stop()

    run(scenario())


def test_at_most_max_boards_are_held():
    db = FakeCassandra()
    clock = Clock()
    keys = [(Metric.QUANTITY, Granularity.PRODUCT, "GLOBAL", f"w{i}") for i in range(5)]
    db.units.update({k: 1 for k in keys})

    async def scenario() -> None:
        cache = BoardCache(db.read, period=10.0, max_boards=3, clock=clock)
        cache.start()
        try:
            _, version = await cache.get(keys[0])
            waiter = asyncio.create_task(cache.wait_change(keys[0], version, timeout=5))
            await asyncio.sleep(0)
            for k in keys[1:]:
                clock.now += 1
                await cache.get(k)
            assert len(cache) == 3
            db.reads.clear()
            await cache.refresh()  # the subscribed board and the two most recent ones
            assert sorted(db.reads, key=keys.index) == [keys[0], keys[3], keys[4]]
            waiter.cancel()
        finally:
            await cache.stop()

    run(scenario())


def test_close_from_another_thread_ends_the_watcher_on_its_loop():
    """An app run without a lifespan (a test's ASGI transport): a request started the
    watcher on a loop in another thread; `close` cancels it there, and no read follows."""
    import threading

    db = FakeCassandra()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cache = BoardCache(db.read, period=0.01)

    async def watch() -> asyncio.Task:
        cache.start()
        await cache.get(KEY)  # held: the watcher re-reads it every period
        return cache._task  # type: ignore[return-value]

    task = asyncio.run_coroutine_threadsafe(watch(), loop).result(5)
    try:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), loop).result(5)
        assert len(db.reads) > 2  # watching
        cache.close()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result(5)
        assert task.cancelled() and not cache.watching
        reads = len(db.reads)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), loop).result(5)
        assert len(db.reads) == reads  # nothing read after the close
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
