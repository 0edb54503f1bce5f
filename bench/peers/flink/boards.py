"""Follow one item on the Flink peer's boards topic, as a reader would (the latency run).

    with ItemOnBoards(settings, f"{peer.out}.boards", item="17") as boards:
        boards.quantity("all"), boards.quantity(str(window_start_epoch_s))

The peer writes its boards as an upsert changelog (:mod:`bench.peers.flink.job`): key
``{granularity, metric, scope, win, item}``, value the item's totals, a tombstone when the
item leaves a board. This thread consumes the topic from its start and keeps, per window,
the item's latest quantity on the ``GLOBAL`` quantity board of one granularity: what the
stream's reader gets from Cassandra, read the moment Kafka hands it over.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType

from bench.baselines import _assigned_consumer
from topproducts.settings import Settings


class ItemOnBoards(threading.Thread):
    """The latest quantity of ``item`` per window (``"all"``: all-time) on one kind of board."""

    def __init__(self, settings: Settings, topic: str, item: str, scope: str = "GLOBAL",
                 granularity: str = "variant", metric: str = "quantity") -> None:
        super().__init__(name="peer-boards", daemon=True)
        self.settings, self.topic = settings, topic
        self.want = {"granularity": granularity, "metric": metric, "scope": scope,
                     "item": item}
        self._quantity: dict[str, int] = {}
        self._lock = threading.Lock()
        self.messages = 0  # every message of the topic consumed so far
        self.stopping = threading.Event()
        self.error: str | None = None

    def quantity(self, win: str) -> int:
        """The item's quantity on the window's board (0 when it is not on it)."""
        with self._lock:
            return self._quantity.get(win, 0)

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            return
        k = json.loads(key)
        if any(k.get(name) != want for name, want in self.want.items()):
            return
        with self._lock:
            if value is None:  # left the board
                self._quantity.pop(k["win"], None)
            else:
                self._quantity[k["win"]] = int(json.loads(value)["quantity"])

    def run(self) -> None:
        consumer, _ = _assigned_consumer(self.settings, self.topic)
        try:
            while not self.stopping.is_set():
                for msg in consumer.consume(num_messages=1000, timeout=0.05):
                    if msg.error() is not None:
                        continue
                    self.messages += 1
                    self._take(msg.key(), msg.value())
        except Exception as exc:  # reported by the caller, never a silent stop
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            consumer.close()

    def __enter__(self) -> ItemOnBoards:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stopping.set()
        self.join(10)
