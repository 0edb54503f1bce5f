"""The one sandbox: a test's own MySQL databases, Kafka topics, Cassandra keyspace and
state folder on the real local stack, dropped afterwards.

Every test that needs isolation takes it from here, either as the ``sandbox``
fixture (``tests/conftest.py``) or through :func:`sandbox` / :func:`seeded_sandbox`
for module-scoped fixtures and benchmarks. Isolation is by name only (a database
prefix, a topic prefix, a keyspace), never by mocks; see
``docs/architecture.md``, Configuration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from topproducts import cassandra_io, kafka_io
from topproducts.leaderboards import schema as leaderboard_schema
from topproducts.settings import Settings
from topproducts.shop import schema as shop_schema
from topproducts.shop import seed as shop_seed


def new_name(prefix: str = "t") -> str:
    """A short unique name, valid as a database prefix, topic prefix and keyspace."""
    return prefix + uuid.uuid4().hex[:10]


def isolated(base: Settings, name: str | None = None, state_dir: Path | None = None
             ) -> Settings:
    """``base`` with ``<name>_*`` databases, ``<name>.*`` topics and keyspace ``<name>``.

    With ``state_dir`` the sandbox also has its own state folder (pid files,
    checkpoints), so it can run its own stream; without, it shares ``base``'s.
    """
    name = name or new_name()
    s = base.replace(mysql_database_prefix=f"{name}_", kafka_topic_prefix=name,
                     cassandra_keyspace=name)
    return s if state_dir is None else s.replace(state_dir=Path(state_dir))


def check_isolated(s: Settings) -> None:
    """Refuse settings that point at the real shop (no prefix, default topics or keyspace)."""
    default = Settings()
    if (not s.mysql_database_prefix or s.kafka_topic_prefix == default.kafka_topic_prefix
            or s.cassandra_keyspace == default.cassandra_keyspace):
        raise ValueError("refusing to drop a shop that is not a sandbox")


def drop(s: Settings, own_state: bool = False) -> None:
    """Drop a sandbox: stop its stream (``own_state``: only when the state folder is its
    own), then its keyspace, databases and topics.

    Each part is tried even when an earlier one failed; the first failure is raised
    at the end.
    """
    check_isolated(s)
    parts = [_drop_keyspace, shop_schema.drop_databases, _drop_topics]
    if own_state:
        parts.insert(0, _stop_stream)
    failures: list[BaseException] = []
    for part in parts:
        try:
            part(s)
        except Exception as exc:  # every part is attempted
            failures.append(exc)
    if failures:
        raise failures[0]


def drop_shop(s: Settings) -> None:
    """Drop a sandbox's databases and topics only (the shop's benchmark runs without
    Cassandra)."""
    check_isolated(s)
    try:
        shop_schema.drop_databases(s)
    finally:
        _drop_topics(s)


def _stop_stream(s: Settings) -> None:
    from topproducts import stream_control as process

    process.stop(s, timeout=60)


def _drop_keyspace(s: Settings) -> None:
    leaderboard_schema.drop_leaderboards(s)


def stop_stream_and_drop_keyspace(s: Settings) -> None:
    """Teardown of a test's stream outside a sandbox: stop the job, drop its keyspace."""
    _stop_stream(s)
    _drop_keyspace(s)


def _drop_topics(s: Settings) -> None:
    client = kafka_io.admin(s)  # keep the handle alive until the futures end
    topics = [t for t in client.list_topics(timeout=10).topics
              if t.startswith(s.kafka_topic_prefix + ".")]
    for future in (client.delete_topics(topics).values() if topics else []):
        future.result(timeout=30)


@contextmanager
def sandbox(base: Settings, name: str | None = None, state_dir: Path | None = None
            ) -> Iterator[Settings]:
    """Isolated settings (see :func:`isolated`), dropped on exit."""
    s = isolated(base, name, state_dir)
    try:
        yield s
    finally:
        drop(s, own_state=state_dir is not None)


def prepare(s: Settings, customers: int = 12, products: int = 8,
            seed: int = shop_seed.DEFAULT_SEED) -> None:
    """Seed a sandbox's shop and create its topics and leaderboard tables."""
    shop_seed.seed(s, customers=customers, products=products, seed=seed)
    kafka_io.ensure_topics(s)
    session = cassandra_io.connect(s)
    try:
        leaderboard_schema.ensure_schema(session, s)
    finally:
        session.cluster.shutdown()


@contextmanager
def seeded_sandbox(base: Settings, customers: int = 12, products: int = 8,
                   name: str | None = None, state_dir: Path | None = None
                   ) -> Iterator[Settings]:
    """A small seeded shop with its topics and leaderboard keyspace; dropped on exit."""
    with sandbox(base, name, state_dir) as s:
        prepare(s, customers, products)
        yield s


@contextmanager
def streaming_sandbox(base: Settings, state_dir: Path, customers: int, products: int,
                      **settings: object) -> Iterator[Settings]:
    """A seeded sandbox with ``settings`` applied (windows, lateness...) and its own stream
    running, triggering every second on a free UI port; stopped and dropped on exit."""
    from tests.support.ports import free_port
    from topproducts import stream_control as process

    with seeded_sandbox(base, customers=customers, products=products,
                        state_dir=state_dir) as s:  # stops the stream
        s = s.replace(stream_trigger_seconds=1.0, spark_ui_port=free_port(), **settings)
        process.start(s)
        yield s
