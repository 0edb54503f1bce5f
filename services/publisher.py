"""Getting the API's events from the outbox to Kafka.

Writes through the API put their events in the outbox in the same MySQL
transaction as their rows (the shop's domain code does that). After the commit
the route calls :meth:`EventPublisher.publish_now`, which drains the outbox with
the shop's own :class:`~topproducts.shop.outbox.Relay` and flushes, so the
response can say the events were acknowledged by Kafka. Relays take a MySQL
lock per drain; when another relay (the simulator's) is draining, this one waits
a few seconds for its turn. If Kafka is down or the wait runs out, the events
stay in the outbox, and a background thread drains leftovers every few seconds,
so nothing waits for the next simulator run.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Producer

from topproducts import kafka_io
from topproducts.errors import TopProductsError
from topproducts.settings import Settings
from topproducts.shop.outbox import Relay

log = logging.getLogger(__name__)


class EventPublisher:
    def __init__(self, settings: Settings, interval: float = 2.0) -> None:
        self.settings = settings
        self.interval = interval
        self._producer: Producer | None = None
        self._lock = threading.Lock()  # one relay per process at a time
        self._topics_ready = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _relay(self, lock_timeout: int) -> Relay:
        if self._producer is None:
            self._producer = kafka_io.producer(self.settings)
        if not self._topics_ready:
            kafka_io.ensure_topics(self.settings)
            self._topics_ready = True
        return Relay(self.settings, producer=self._producer, lock_timeout=lock_timeout,
                     flush_timeout=10.0)

    def publish_now(self, lock_timeout: int = 5) -> bool:
        """Drain the outbox; True when everything committed before the call is in Kafka.

        False when the relay lock stayed busy or Kafka failed: the events stay in
        the outbox and are published later (by the pump or another relay).
        """
        with self._lock:
            try:
                with self._relay(lock_timeout) as relay:
                    relay.publish_pending()
                    return True
            except TopProductsError as exc:
                log.info("events left in the outbox for later: %s", exc)
                self._wake.set()
                return False

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                with self._lock, self._relay(lock_timeout=0) as relay:
                    if relay.pending():
                        relay.publish_pending()
            except TopProductsError as exc:
                log.debug("outbox pump: %s", exc)
            except Exception as exc:  # e.g. the shop schema is missing: back off, stay alive
                log.warning("outbox pump: %s: %s", type(exc).__name__, exc)
                self._stop.wait(15 * self.interval)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._pump, name="outbox-pump", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None


def publish_after_commit(request) -> bool:
    """Publish what the request just committed to the outbox (see :class:`EventPublisher`)."""
    return request.app.state.publisher.publish_now()
