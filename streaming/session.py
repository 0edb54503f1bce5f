"""SparkSessions for the stream: the project's (with Kafka jars) and a bare local one for tests."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from topproducts.settings import Settings

# Interpreted expressions: the stream's default (see GENERATED below).
INTERPRETED = {"spark.sql.codegen.factoryMode": "NO_CODEGEN",
               "spark.sql.codegen.wholeStage": "false"}

# SQL settings the stream relies on; set on any session before its queries start.
STREAM_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # An idle query reports every second: its heartbeat, and the moment the driver writes
    # the boards it deferred while busy (see streaming.counting).
    "spark.sql.streaming.noDataProgressEventInterval": "1000",
    **INTERPRETED,
    # The checkpoint's offset and commit logs through Hadoop's FileSystem API rather than
    # its FileContext API. Both write a temporary file and rename it into place (atomic on
    # a local or POSIX disk, and HDFSMetadataLog never overwrites a batch's file); the
    # FileContext path costs several more metadata calls per write. Measured on 60-offset
    # micro-batches: walCommit 29-35 -> 7-8 ms and commitOffsets 30-35 -> 7-8 ms.
    "spark.sql.streaming.checkpointFileManagerClass":
        "org.apache.spark.sql.execution.streaming.checkpointing."
        "FileSystemBasedCheckpointFileManager",
}


# Generated code for the expressions, as Spark does by default. Spark generates the Java
# source again in every task of every micro-batch (only the compiled class is cached): a
# fixed cost per task that pays off on big batches only. Measured on the Spark part of
# the stream's query (the canonical screen): generated 2.6-2.8 s vs interpreted
# 3.0-3.6 s per 100,000 offsets; 48-66 vs 38-49 ms per 60 offsets. With every rule in
# the plan, generating its source took 33% of the driver JVM's CPU at 20 orders/s, so the
# rules (streaming.sink.recheck) always run interpreted.
GENERATED = {"spark.sql.codegen.factoryMode": "FALLBACK", "spark.sql.codegen.wholeStage": "true"}
CODEGEN_FROM_ROWS = 20_000  # a micro-batch after one this big is run with generated code


def use_codegen(spark: SparkSession, on: bool) -> None:
    """Generated (True) or interpreted (False) expressions for the session's next jobs."""
    for key, value in (GENERATED if on else INTERPRETED).items():
        spark.conf.set(key, value)


def stream_session(settings: Settings, app_name: str = "topproducts-stream") -> SparkSession:
    """The project's session (Kafka source jars, master, memory from settings)."""
    from topproducts.stack.spark import spark_session

    spark = spark_session(settings, app_name)
    for key, value in STREAM_CONF.items():
        spark.conf.set(key, value)
    spark.conf.set("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
    return spark


def local_session(app_name: str = "topproducts-tests", master: str = "local[1]") -> SparkSession:
    """A small session for unit tests of the transforms. It carries the Kafka source jars
    too: a JVM's class path is fixed at its start, and later sessions in the same test
    process (integration tests) reuse this JVM."""
    from topproducts.settings import get_settings
    from topproducts.stack.spark import kafka_jars

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.jars", ",".join(kafka_jars(get_settings())))
               .config("spark.driver.memory", "1g")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1"))
    for key, value in STREAM_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
