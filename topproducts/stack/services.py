"""The local services: MariaDB, Kafka (KRaft) and Cassandra, each a background process.

A :class:`Service` knows how to prepare its data folder and config, the command
that runs it, and a *real* request that proves it answers; :meth:`Service.supervised`
hands that to the one supervisor (:mod:`topproducts.stack.supervisor`), which starts,
waits for and stops it.
"""

from __future__ import annotations

import base64
import getpass
import os
import shutil
import subprocess
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from string import Template

from topproducts import cassandra_io, db
from topproducts.errors import StackError
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack import maven
from topproducts.stack.supervisor import Supervised

CONF = REPO_ROOT / "infra" / "conf"


class Service(ABC):
    """One local server process."""

    name: str
    start_timeout: float = 60.0
    # Text in the command line of our process (a recycled pid is not ours).
    marker: str | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def home(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def log_file(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Every port the service listens on (the first one is the client port)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports[0]}"

    @abstractmethod
    def prepare(self) -> None:
        """Check prerequisites, create data folders and configs (idempotent)."""

    @abstractmethod
    def command(self) -> list[str]: ...

    def env(self) -> dict[str, str]:
        return {}

    def launcher(self) -> list[str]:
        """What the command runs under (a cluster node: ``ip netns exec`` of its host)."""
        return []

    @abstractmethod
    def probe(self) -> str:
        """Make a real request; return a short description (version) or raise."""

    def bootstrap(self) -> bool:
        """Setup that needs the running server (users, databases); idempotent.

        Called while waiting for the service: raise or return False while the
        server is not ready for it yet, True once done.
        """
        return True

    def supervised(self) -> Supervised:
        """This service as a supervised process: its ports must be free to start it."""
        return Supervised(
            name=self.name, pid_file=self.pid_file, log_file=self.log_file,
            command=lambda: [*self.launcher(), *self.command()], env=self.env,
            marker=self.marker,
            ports=[(self.host, port) for port in self.ports], prepare=self.prepare,
            setup=self.bootstrap, probe=self.probe, start_timeout=self.start_timeout,
            stop_timeout=60.0,
        )


def _render(template: Path, target: Path, **values: object) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(Template(template.read_text()).substitute(**values))
    return target


def new_kafka_cluster_id() -> str:
    """A fresh KRaft cluster id: a random UUID in URL-safe base64, as Kafka makes them.

    Like Kafka's own ``Uuid.randomUuid``, it never starts with ``-``: the storage
    tool would read such an id as an option (1 id in 64 did, and failed the format).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("java not found: run `make setup` (installs Debian's openjdk-17)")
    return java


class MariaDB(Service):
    """Debian's MariaDB server with its own data folder, run as the current user."""

    name = "mariadb"
    start_timeout = 60.0
    marker = "mariadbd"

    @property
    def host(self) -> str:
        return self.settings.mysql_host

    @property
    def ports(self) -> list[int]:
        return [self.settings.mysql_port]

    @property
    def socket(self) -> Path:
        return self.settings.run_dir / "mariadb.sock"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @staticmethod
    def _binary(name: str) -> str:
        for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        raise StackError(
            f"{name} not found: run `make setup` (installs Debian's mariadb-server-core)"
        )

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def client_hosts(self) -> list[str]:
        """Where the application user may connect from (MariaDB's ``user@host``)."""
        return ["127.0.0.1", "localhost", "::1"]

    def prepare(self) -> None:
        mariadbd = self._binary("mariadbd")
        if (self.data_dir / "mysql").is_dir():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [self._binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.data_dir}",
             "--skip-test-db", "--auth-root-authentication-method=socket",
             f"--basedir={Path(mariadbd).resolve().parent.parent}", *self._user_args()],
            capture_output=True, text=True, check=False,
        )
        with open(self.log_file, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StackError(f"mariadb-install-db failed: {result.stderr.strip()[-300:]}")

    def command(self) -> list[str]:
        return [
            self._binary("mariadbd"), "--no-defaults", f"--datadir={self.data_dir}",
            f"--socket={self.socket}", f"--port={self.settings.mysql_port}",
            f"--bind-address={self.settings.mysql_host}",
            f"--pid-file={self.home / 'mariadbd.pid'}",  # its own; ours is run/mariadb.pid
            "--skip-name-resolve", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci", "--max-connections=300",
            "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=128M",
            # Commits are durable to the OS, fsynced once a second: fine for a local
            # stack (the server process can be killed without loss; a power cut cannot).
            "--innodb-flush-log-at-trx-commit=2",
            *self._user_args(),
        ]

    def probe(self) -> str:
        conn = db.connect(self.settings)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1, VERSION()")
                return f"MariaDB {cur.fetchone()[1]}"
        finally:
            conn.close()

    def bootstrap(self) -> bool:
        # Root logs in over the socket (unix_socket auth); the TCP probe then proves the
        # application user works as every client will use it.
        s = self.settings
        admin = "root" if os.geteuid() == 0 else getpass.getuser()
        conn = db.connect_socket(str(self.socket), admin)
        try:
            with conn.cursor() as cur:
                for host in self.client_hosts():
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                                (s.mysql_user, host, s.mysql_password))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s",
                                (s.mysql_user, host, s.mysql_password))
                    cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (s.mysql_user, host))
                for name in db.DATABASES:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{s.database(name)}`")
        finally:
            conn.close()
        return True


class Kafka(Service):
    """Apache Kafka in KRaft mode (broker + controller in one JVM), jars from Maven Central."""

    name = "kafka"
    start_timeout = 60.0
    marker = "kafka.Kafka"

    @property
    def host(self) -> str:
        return self.settings.kafka_host

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    def prepare(self) -> None:
        data_dir = self.home / "data"
        _render(CONF / "kafka" / "server.properties", self.config, host=self.host,
                port=self.settings.kafka_port, controller_port=self.settings.kafka_controller_port,
                data_dir=data_dir, partitions=self.settings.kafka_partitions)
        if (data_dir / "meta.properties").exists():
            return
        self._format_storage()

    def cluster_id(self) -> str:
        """The id the node's storage is formatted with: a single node makes a fresh one."""
        return new_kafka_cluster_id()

    def _format_storage(self, *extra: str) -> None:
        """Format the node's log directory for KRaft with :meth:`cluster_id`.

        The id goes as ``--cluster-id=ID``: an id kept from before
        :func:`new_kafka_cluster_id` may start with ``-``.
        """
        result = subprocess.run(
            [_java(), *self._log_opts(), "-cp",
             ":".join(maven.classpath("kafka", self.settings)), "kafka.tools.StorageTool",
             "format", f"--cluster-id={self.cluster_id()}", "-c", str(self.config), *extra],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"{self.name}: storage format failed: "
                             f"{(result.stdout + result.stderr)[-300:]}")

    def _log_opts(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={CONF / 'kafka' / 'log4j2.yaml'}"]

    def command(self) -> list[str]:
        heap = self.settings.kafka_heap
        return [
            _java(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true", *self._log_opts(),
            "-cp", ":".join(maven.classpath("kafka", self.settings)),
            "kafka.Kafka", str(self.config),
        ]

    def probe(self) -> str:
        from confluent_kafka.admin import AdminClient

        # log_level 0: while the broker boots, librdkafka would print every refused connect.
        client = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap,
                              "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
        metadata = client.list_topics(timeout=3)
        if not metadata.brokers:
            raise StackError("no broker in metadata")
        return f"Kafka KRaft, {len(metadata.brokers)} broker, {len(metadata.topics)} topics"


class Cassandra(Service):
    """Apache Cassandra 5.0 single node from ``cassandra-all`` and its Maven dependencies."""

    name = "cassandra"
    start_timeout = 120.0
    marker = "org.apache.cassandra.service.CassandraDaemon"

    @property
    def host(self) -> str:
        return self.settings.cassandra_host

    @property
    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    @property
    def config(self) -> Path:
        return self.home / "cassandra.yaml"

    def prepare(self) -> None:
        _java()
        _render(CONF / "cassandra" / "cassandra.yaml", self.config, host=self.host,
                port=self.settings.cassandra_port,
                storage_port=self.settings.cassandra_storage_port, data_dir=self.home)

    def command(self) -> list[str]:
        heap = self.settings.cassandra_heap
        options = [
            line.strip()
            for line in (CONF / "cassandra" / "jvm17.options").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        return [
            _java(), f"-Xms{heap}", f"-Xmx{heap}", *options,
            f"-Dcassandra.config=file://{self.config}",
            f"-Dlogback.configurationFile={CONF / 'cassandra' / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.home}", "-Dcassandra-foreground=yes",
            "-cp", ":".join(maven.classpath("cassandra", self.settings)),
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def probe(self) -> str:
        session = cassandra_io.connect(self.settings)
        try:
            version = session.execute("SELECT release_version FROM system.local").one()[0]
            return f"Cassandra {version}"
        finally:
            session.cluster.shutdown()


SERVICES: tuple[type[Service], ...] = (MariaDB, Kafka, Cassandra)
