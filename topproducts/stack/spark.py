"""Spark for this project: a SparkSession with the Kafka source jars from ``~/.m2``.

The ``spark-sql-kafka-0-10`` version is pinned in ``infra/maven/spark-kafka/pom.xml``
and must equal the installed pyspark version; :func:`kafka_jars` checks it.

Under ``spark-submit`` the session is spark-submit's (its ``--master``, ``--packages``,
``--conf``, ``--deploy-mode``): :func:`spark_session` takes it as it is.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from topproducts.errors import StackError
from topproducts.settings import Settings
from topproducts.stack import maven

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def pyspark_version() -> str:
    import pyspark

    return pyspark.__version__


def spark_home() -> Path:
    """The Spark distribution pyspark ships (``bin/spark-submit``, ``bin/spark-class``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def submitted() -> bool:
    """Whether this Python process is a driver that spark-submit started (its JVM, the
    parent, hands the gateway's port down)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def kafka_jars(settings: Settings) -> list[str]:
    """Jar paths that give Spark its Kafka source (only those pyspark lacks)."""
    pinned = re.search(r"<spark.version>([^<]+)</spark.version>",
                       maven.pom("spark-kafka").read_text())
    installed = pyspark_version()
    if pinned is None or pinned.group(1) != installed:
        raise StackError(
            f"pyspark {installed} is installed but infra/maven/spark-kafka/pom.xml pins "
            f"{pinned.group(1) if pinned else '?'}: make them equal"
        )
    return maven.classpath("spark-kafka", settings)


def spark_conf(settings: Settings, app_name: str, master: str | None = None) -> dict[str, str]:
    """The Spark configuration the project uses, as plain key/value pairs."""
    master = master or settings.spark_master
    return {
        **(_standalone_conf(settings) if master.startswith("spark://") else {}),
        "spark.app.name": app_name,
        "spark.master": master,
        "spark.jars": ",".join(kafka_jars(settings)),
        "spark.driver.memory": settings.spark_driver_memory,
        **({"spark.driver.extraJavaOptions": settings.spark_driver_java_options}
           if settings.spark_driver_java_options else {}),
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.port": str(settings.spark_ui_port),
        "spark.ui.showConsoleProgress": "false",
        # Executors connect back to the driver host; the driver (and its UI) bind here.
        "spark.driver.bindAddress": settings.spark_driver_bind,
        "spark.driver.host": settings.spark_driver_host,
    }


def _standalone_conf(settings: Settings) -> dict[str, str]:
    """Executors on a standalone cluster (client mode: the driver is this process)."""
    return {
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.executor.cores": str(settings.spark_executor_cores),
        # A lost executor's tasks go elsewhere; its worker is not blacklisted for the batch.
        "spark.excludeOnFailure.enabled": "false",
    }


def spark_session(settings: Settings, app_name: str, master: str | None = None) -> SparkSession:
    """A SparkSession ready to read Kafka (this process's session is reused if it can;
    under spark-submit, the session it built, as it is)."""
    from pyspark.sql import SparkSession

    if submitted():
        spark = SparkSession.builder.getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        return spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    scratch = settings.state_dir / "spark-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_DIRS", str(scratch))
    os.environ.setdefault("SPARK_LOCAL_IP", settings.spark_driver_bind)  # the driver's UI
    conf = spark_conf(settings, app_name, master)
    active = SparkSession.getActiveSession()
    if active is not None and active.conf.get("spark.jars", "") != conf["spark.jars"]:
        # The driver's class path is fixed when its JVM starts: jars cannot be added later.
        raise StackError("a SparkSession without the Kafka source jars already runs in this "
                         "process; build every session with topproducts.stack.spark")
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
