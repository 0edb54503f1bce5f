"""The local stack, for real: each service answers a real request."""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest

from topproducts import cassandra_io, db, kafka_io, stack
from topproducts.errors import StackError
from topproducts.settings import Settings
from topproducts.stack import process
from topproducts.stack.cluster import KafkaNode
from topproducts.stack.services import MariaDB

pytestmark = pytest.mark.integration


def test_status_reports_every_service_running(running_stack: Settings) -> None:
    statuses = {s.name: s for s in stack.status(running_stack)}
    assert set(statuses) == {"mariadb", "kafka", "cassandra"}
    for s in statuses.values():
        assert s.state == "running", s
        assert process.is_alive(s.pid)
    assert statuses["cassandra"].answer.startswith("Cassandra 5.0")


def test_up_twice_leaves_running_services_alone(running_stack: Settings) -> None:
    before = {s.name: s.pid for s in stack.status(running_stack)}
    again = {s.name: s.pid for s in stack.up(running_stack)}
    assert again == before


def test_mysql_write_and_read_back(running_stack: Settings, unique: str) -> None:
    database = running_stack.database("order_management")
    with db.transaction(running_stack, database) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {unique} (id INT PRIMARY KEY, amount DECIMAL(12,2))")
        cur.execute(f"INSERT INTO {unique} VALUES (1, '12.34')")
    try:
        with db.transaction(running_stack, database) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT amount FROM {unique} WHERE id = 1")
            assert str(cur.fetchone()[0]) == "12.34"
    finally:
        with db.transaction(running_stack, database) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE {unique}")


def test_the_five_databases_exist(running_stack: Settings) -> None:
    conn = db.connect(running_stack)
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        names = {row[0] for row in cur.fetchall()}
    conn.close()
    assert {running_stack.database(n) for n in db.DATABASES} <= names


def test_kafka_produce_and_consume(running_stack: Settings, unique: str) -> None:
    topic = f"{unique}.smoke"
    kafka_io.ensure_topics(running_stack, [topic])
    producer = kafka_io.producer(running_stack)
    delivered = []
    for i in range(10):
        producer.produce(topic, key=str(i), value=f"v{i}",
                         on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(10) == 0
    assert delivered == [None] * 10
    consumer = kafka_io.consumer(f"{unique}-group", running_stack)
    consumer.subscribe([topic])
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while len(seen) < 10 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            seen.append(msg.value().decode())
    consumer.close()
    assert sorted(seen) == sorted(f"v{i}" for i in range(10))


def test_cassandra_keyspace_table_round_trip(running_stack: Settings, unique: str) -> None:
    session = cassandra_io.connect(running_stack)
    try:
        session.execute(
            f"CREATE KEYSPACE {unique} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(f"CREATE TABLE {unique}.t (k text PRIMARY KEY, v decimal)")
        session.execute(f"INSERT INTO {unique}.t (k, v) VALUES ('a', 12.34)")
        row = session.execute(f"SELECT v FROM {unique}.t WHERE k = 'a'").one()
        assert str(row.v) == "12.34"
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {unique}")
        session.cluster.shutdown()


@pytest.mark.slow
def test_spark_batch_reads_kafka(running_stack: Settings, unique: str) -> None:
    from topproducts.stack.spark import spark_session

    topic = f"{unique}.spark"
    kafka_io.ensure_topics(running_stack, [topic])
    producer = kafka_io.producer(running_stack)
    for i in range(25):
        producer.produce(topic, key=str(i % 3), value=str(i))
    assert producer.flush(10) == 0
    spark = spark_session(running_stack, "test-stack-spark")
    rows = (spark.read.format("kafka")
            .option("kafka.bootstrap.servers", running_stack.kafka_bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest").option("endingOffsets", "latest")
            .load().selectExpr("CAST(value AS STRING) AS v").collect())
    assert sorted(int(r.v) for r in rows) == list(range(25))


def test_taken_port_fails_fast_naming_the_service(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = Settings(state_dir=tmp_path, mysql_port=port)
        started = time.monotonic()
        with pytest.raises(StackError, match=rf"mariadb: port 127.0.0.1:{port} is already taken"):
            stack.up(settings, ["mariadb"])
        assert time.monotonic() - started < 5


def test_second_instance_up_down_leaves_no_process(tmp_path: Path) -> None:
    """A throwaway MariaDB on a free port: up, up again, down; nothing is left running."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(state_dir=tmp_path / uuid.uuid4().hex[:6], mysql_port=port)
    first = stack.up(settings, ["mariadb"])[0]
    try:
        assert first.answer and first.answer.startswith("MariaDB")
        assert stack.up(settings, ["mariadb"])[0].pid == first.pid
        assert [s.state for s in stack.status(settings, ["mariadb"])] == ["running"]
    finally:
        assert stack.down(settings, ["mariadb"]) == ["mariadb"]
    assert not process.is_alive(first.pid)
    assert not process.port_open("127.0.0.1", port)
    assert not MariaDB(settings).pid_file.exists()
    assert [s.state for s in stack.status(settings, ["mariadb"])] == ["stopped"]


def test_a_kept_kafka_cluster_id_that_starts_with_a_dash_still_formats(
        running_stack: Settings, tmp_path: Path) -> None:
    """Ids made before the fix may start with "-" (one in 64 did) and are kept in the
    cluster's state; the real storage tool must take such an id as the id, not as an
    option."""
    settings = running_stack.replace(state_dir=tmp_path)
    shutil.copytree(running_stack.state_dir / "classpath", tmp_path / "classpath")
    node = KafkaNode(settings, 0)
    kept = "-" + "A" * 20 + "Q"
    node.cluster_id_file.write_text(kept + "\n")
    node.prepare()
    meta = (node.home / "data" / "meta.properties").read_text()
    assert f"cluster.id={kept}" in meta.splitlines()
