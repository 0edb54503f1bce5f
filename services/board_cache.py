"""The boards the API serves, held in memory and kept current by one watcher per process.

A board is one Cassandra row (:meth:`LeaderboardStore.top`). Reading it per request
costs a round trip and the driver's decoding (~1.3 ms of a 2-core machine that also
runs Cassandra), and 20 clients asking for the same ten boards ask the same question
hundreds of times a second. Instead, every board a client asked for in the last
``idle`` seconds (or that a server-sent-events client is subscribed to) is re-read by
**one** watcher task every ``period`` seconds, whatever the number of clients:

- a request is answered from memory, with the JSON bytes rendered once per board
  change (and per ``limit``);
- a board is what Cassandra held at most ``period`` (plus one read) ago; when the
  watcher cannot read it for ``max_age`` seconds, requests read Cassandra themselves
  again (and fail with 503 if it is down) rather than serve an old board;
- when a re-read board differs from the one held, its subscribers are woken (the
  ``/stream`` endpoint pushes it);
- at most ``max_boards`` boards are held (the least recently asked for without a
  subscriber goes first), so clients asking for many windows cannot make the watcher
  read without bound.

Without a running watcher (an app used outside its lifespan), every request reads
Cassandra: correct, only slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from topproducts.leaderboards import Granularity, Leaderboard, Metric

log = logging.getLogger(__name__)

BoardKey = tuple[Metric, Granularity, str, str]  # (metric, by, scope, window id)
ReadBoard = Callable[[BoardKey], Leaderboard]


@dataclass
class _Held:
    board: Leaderboard
    checked_at: float  # when Cassandra last answered for it (monotonic seconds)
    used_at: float  # when a client last asked for it
    version: int = 0  # +1 each time the board changed
    bodies: dict[Hashable, bytes] = field(default_factory=dict)  # rendered, per variant
    waiters: set[asyncio.Event] = field(default_factory=set)


class BoardCache:
    """Boards by key, re-read by one watcher task; see the module docstring."""

    def __init__(self, read: ReadBoard, period: float, *, idle: float = 60.0,
                 max_age: float | None = None, max_boards: int = 256, threads: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.period = period
        self.idle = idle
        self.max_age = max(1.0, 10 * period) if max_age is None else max_age
        self.clock = clock
        self.max_boards = max_boards
        self.threads = threads
        self._held: dict[BoardKey, _Held] = {}
        self._loading: dict[BoardKey, asyncio.Future[Leaderboard]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None

    # -- lifecycle ----------------------------------------------------------------
    @property
    def watching(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the watcher on the running event loop (idempotent)."""
        if not self.watching:
            self._task = asyncio.get_running_loop().create_task(self._watch(),
                                                               name="board-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """:meth:`stop` from any thread, without awaiting: for an app that ran without a
        lifespan (a test's ASGI transport), whose watcher was started by a request on a
        loop that may outlive the test. Cancels the watcher on its own loop."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                task.get_loop().call_soon_threadsafe(task.cancel)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="board-read")
        return self._pool

    # -- reads ----------------------------------------------------------------------
    async def get(self, key: BoardKey) -> tuple[Leaderboard, int]:
        """The board and its version; from memory when the watcher keeps it current."""
        held = self._held.get(key)
        now = self.clock()
        if held is not None and self.watching and now - held.checked_at <= self.max_age:
            held.used_at = now
            return held.board, held.version
        asked = self.clock()
        board = await self._load(key)
        held = self._held.get(key)
        if held is None:
            self._make_room()
            held = self._held[key] = _Held(board, asked, self.clock())
        elif held.checked_at < asked:  # else the watcher read it meanwhile, after us
            self._apply(key, held, board)
            held.checked_at = asked
        held.used_at = self.clock()
        return held.board, held.version

    async def body(self, key: BoardKey, variant: Hashable,
                   render: Callable[[Leaderboard], bytes]) -> tuple[bytes, int]:
        """``render(board)`` for the current board, rendered once per board change and
        ``variant`` (e.g. the ``limit``), and the board's version."""
        board, version = await self.get(key)
        held = self._held[key]
        out = held.bodies.get(variant) if held.version == version else None
        if out is None:
            out = render(board)
            if held.version == version:
                held.bodies[variant] = out
        return out, version

    async def _load(self, key: BoardKey) -> Leaderboard:
        """One direct read; concurrent requests for the same key share it."""
        pending = self._loading.get(key)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._loading[key] = asyncio.ensure_future(
                loop.run_in_executor(self._executor(), self.read, key))
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(pending)

    def _make_room(self) -> None:
        """Forget the least recently used unsubscribed boards until one more fits."""
        idle = sorted((h.used_at, k) for k, h in self._held.items() if not h.waiters)
        while len(self._held) >= self.max_boards and idle:
            del self._held[idle.pop(0)[1]]

    # -- change notification -----------------------------------------------------------
    async def wait_change(self, key: BoardKey, version: int, timeout: float) -> bool:
        """Wait until the board of ``key`` is no longer at ``version``; False on timeout."""
        held = self._held.get(key)
        if held is None or held.version != version:
            return True
        event = asyncio.Event()
        held.waiters.add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            held.waiters.discard(event)

    # -- the watcher ------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            started = self.clock()
            try:
                await self.refresh()
            except Exception:  # never let one bad cycle end the watcher
                log.exception("board watcher: refresh failed")
            await asyncio.sleep(max(0.0, self.period - (self.clock() - started)))

    async def refresh(self) -> set[BoardKey]:
        """One watcher cycle: forget idle boards, re-read the others; the keys that changed."""
        now = self.clock()
        for key, h in list(self._held.items()):
            if not h.waiters and now - h.used_at > self.idle:
                del self._held[key]
        keys = list(self._held)
        if not keys:
            return set()
        loop = asyncio.get_running_loop()
        chunks = [keys[i::self.threads] for i in range(min(self.threads, len(keys)))]
        results = await asyncio.gather(
            *(loop.run_in_executor(self._executor(), self._read_many, c) for c in chunks))
        changed: set[BoardKey] = set()
        for chunk, boards in zip(chunks, results, strict=True):
            for key, board in zip(chunk, boards, strict=True):
                held = self._held.get(key)
                if held is None or board is None:
                    continue  # forgotten meanwhile, or unreadable: it ages out (max_age)
                held.checked_at = self.clock()
                if self._apply(key, held, board):
                    changed.add(key)
        return changed

    def _read_many(self, keys: Sequence[BoardKey]) -> list[Leaderboard | None]:
        out: list[Leaderboard | None] = []
        for key in keys:
            try:
                out.append(self.read(key))
            except Exception as exc:
                log.warning("board watcher: cannot read %s: %s", key, exc)
                out.append(None)
        return out

    @staticmethod
    def _apply(key: BoardKey, held: _Held, board: Leaderboard) -> bool:
        """Hold ``board``; wake the subscribers if it differs from the one held."""
        if board == held.board:
            return False
        held.board = board
        held.version += 1
        held.bodies.clear()
        for event in held.waiters:
            event.set()
        return True

    def __len__(self) -> int:
        return len(self._held)
