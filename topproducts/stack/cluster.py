"""A local cluster of hosts: 3 Kafka nodes, 3 Cassandra nodes, Spark standalone, MariaDB.

Each node runs on a **host** of its own (:data:`HOSTS`): a Linux network namespace
joined to the others by a bridge (:mod:`topproducts.stack.netns`; as root), so every
connection crosses a host boundary as on separate machines; the stream's driver (and
Dagster, the API) belong on the ``app`` host. Without namespaces the hosts fall back to
loopback aliases (``cluster_hosts``: 127.0.0.2-4), as before.

``topproducts cluster up`` makes the hosts, then starts, each as a background process of
ours with its own folder under ``settings.cluster_state_dir`` (logs, pid files, data):

- **Kafka**: 3 KRaft nodes, each broker and controller, all formatted with one stable
  cluster id; SASL/SCRAM on the client listener (the user is created at format time),
  SASL/PLAIN on the controller listener;
- **Cassandra**: 3 nodes with balanced single tokens, one seed list (all three: a
  fresh cluster has nothing to bootstrap), ``PasswordAuthenticator`` and
  ``system_auth`` replicated 3 times;
- **Spark**: a standalone master and 2 workers, run with the ``spark-class`` that
  pyspark ships;
- **MariaDB**: the shop's database (one node, as a managed MySQL would be), so the
  cluster never touches the single-node stack's.

The clients see the cluster through ordinary settings (:func:`client_settings`):
``topproducts cluster env`` prints them as ``TOPPRODUCTS_*`` variables, the same ones
that point the project at real clusters. Starting, waiting and stopping are the
one supervisor's (:mod:`topproducts.stack.supervisor`, through :mod:`topproducts.stack`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pyspark
from cassandra import InvalidRequest

from topproducts import stack
from topproducts.errors import ConfigError, StackError
from topproducts.exposure import is_loopback, on_cluster_hosts
from topproducts.settings import Settings, variable
from topproducts.stack import maven, netns, process, supervisor
from topproducts.stack.services import (
    CONF,
    Cassandra,
    Kafka,
    MariaDB,
    Service,
    _java,
    _render,
    new_kafka_cluster_id,
)
from topproducts.stack.spark import spark_home

if TYPE_CHECKING:
    from cassandra.cluster import Session

CLUSTER_CONF = CONF / "cluster"
NODES = 3
SPARK_WORKERS = 2
MURMUR3_MIN = -(2**63)
DEFAULT_USER = "topproducts"
DEFAULT_PASSWORD = "topproducts-cluster"  # local default only; set the variables elsewhere
SPARK_MASTER_UI_PORT = 8180
SPARK_WORKER_PORT = 7078
SPARK_WORKER_UI_PORT = 8181
REFUSED = re.compile(r"[Aa]uthenticat|not permitted")  # a login Cassandra refused
CASSANDRA_JMX_BASE_PORT = 7200  # node i (1-based) listens on 127.0.0.1:7200+i
KAFKA_NODES = tuple(f"kafka-{i + 1}" for i in range(NODES))
CASSANDRA_NODES = tuple(f"cassandra-{i + 1}" for i in range(NODES))
WORKERS = tuple(f"spark-worker-{i + 1}" for i in range(SPARK_WORKERS))
APP = "app"  # the stream's driver, Dagster and the API
HOSTS = ("mariadb", *KAFKA_NODES, *CASSANDRA_NODES, "spark-master", *WORKERS, APP)


def network_mode(settings: Settings) -> tuple[str, str | None]:
    """("netns" or "loopback", why not namespaces) for ``cluster_network``."""
    if settings.cluster_network != "auto":
        return settings.cluster_network, None
    why = netns.unavailable()
    return ("loopback", why) if why else ("netns", None)


def network(settings: Settings) -> netns.Network:
    """The cluster's hosts: namespaces on ``cluster_subnet``, or (``cluster_network`` =
    loopback) today's aliases: node i of Kafka and Cassandra on ``cluster_hosts[i]``,
    MariaDB and the master on the first, worker i on the (i+2)-th, the app on 127.0.0.1."""
    mode, _ = network_mode(settings)
    if mode == "netns":
        return netns.plan(HOSTS, settings.cluster_subnet, settings.cluster_netns_prefix)
    hosts = settings.cluster_host_list
    if len(hosts) != NODES:
        raise StackError(f"TOPPRODUCTS_CLUSTER_HOSTS needs {NODES} addresses, got {hosts}")
    return netns.loopback({
        "mariadb": hosts[0],
        **{name: hosts[i] for i, name in enumerate(KAFKA_NODES)},
        **{name: hosts[i] for i, name in enumerate(CASSANDRA_NODES)},
        "spark-master": hosts[0],
        **{name: hosts[(i + 1) % NODES] for i, name in enumerate(WORKERS)},
        APP: "127.0.0.1",
    })


def address(settings: Settings, host: str) -> str:
    return network(settings).host(host).address


def client_settings(settings: Settings) -> Settings:
    """The settings a client uses to reach the local cluster.

    Every address from the hosts (:func:`network`; the stream's driver on the app host),
    replication 3 everywhere, writes that need 2 copies (Kafka ``min.insync.replicas``,
    Cassandra ``LOCAL_QUORUM``), credentials on (defaults unless set), and state under
    ``cluster_state_dir`` so nothing is shared with the single-node stack.
    """
    mode, _ = network_mode(settings)
    settings = settings.replace(cluster_network=mode)
    hosts = network(settings).by_name()
    kafka_port = settings.kafka_port
    cassandra = [hosts[name].address for name in CASSANDRA_NODES]
    app = hosts[APP]
    return settings.replace(
        state_dir=settings.cluster_state_dir,
        mysql_host=hosts["mariadb"].address,
        kafka_bootstrap=",".join(f"{hosts[name].address}:{kafka_port}" for name in KAFKA_NODES),
        kafka_replication=NODES,
        kafka_min_insync_replicas=2,
        kafka_sasl_username=settings.kafka_sasl_username or DEFAULT_USER,
        kafka_sasl_password=settings.kafka_sasl_password or DEFAULT_PASSWORD,
        kafka_heap=settings.cluster_kafka_heap,
        cassandra_host=cassandra[0],
        cassandra_contact_points=",".join(cassandra),
        cassandra_replication=(f"{{'class': 'NetworkTopologyStrategy', "
                               f"'{settings.cassandra_local_dc}': {NODES}}}"),
        cassandra_consistency="LOCAL_QUORUM",
        # A node cut off the network answers nothing: its requests go to another after 1 s.
        cassandra_speculative_seconds=settings.cassandra_speculative_seconds or 1.0,
        cassandra_username=settings.cassandra_username or DEFAULT_USER,
        cassandra_password=settings.cassandra_password or DEFAULT_PASSWORD,
        cassandra_heap=settings.cluster_cassandra_heap,
        spark_master=f"spark://{hosts['spark-master'].address}:"
                     f"{settings.cluster_spark_master_port}",
        # The single-node stream may run beside us with the default UI port.
        spark_ui_port=4041 if settings.spark_ui_port == 4040 else settings.spark_ui_port,
        # Executors on the worker hosts connect back to the driver on the app host.
        spark_driver_host=app.address,
        spark_driver_bind_address="",
        stream_netns=app.netns or "",
    )


CLIENT_FIELDS = (
    "state_dir", "mysql_host", "kafka_bootstrap", "kafka_replication",
    "kafka_min_insync_replicas", "kafka_sasl_username", "kafka_sasl_password",
    "cassandra_host", "cassandra_contact_points", "cassandra_replication",
    "cassandra_consistency", "cassandra_username", "cassandra_password", "spark_master",
    "spark_ui_port", "spark_driver_host", "stream_netns", "cluster_network",
    "cassandra_speculative_seconds",
)


def client_env(settings: Settings) -> dict[str, str]:
    """The ``TOPPRODUCTS_*`` variables that point every command at the cluster."""
    env = client_settings(settings).to_env()
    return {k: v for k, v in env.items() if k.removeprefix("TOPPRODUCTS_").lower()
            in CLIENT_FIELDS}


def balanced_tokens(n: int) -> list[int]:
    """One Murmur3 token per node, evenly spaced over the ring."""
    return [MURMUR3_MIN + i * (2**64 // n) for i in range(n)]


class Placed(Service):
    """A process of the cluster, run on its host (:func:`network`, by the service's name)."""

    @property
    def place(self) -> netns.Host:
        return network(self.settings).host(self.name)

    @property
    def host(self) -> str:
        return self.place.address

    def launcher(self) -> list[str]:
        return self.place.exec_prefix()


class ClusterMariaDB(Placed, MariaDB):
    """The shop's MariaDB on its host; the application user may log in from any host."""

    def client_hosts(self) -> list[str]:
        net = network(self.settings)
        if not net.namespaced:
            return super().client_hosts()
        mask = ipaddress.IPv4Network(self.settings.cluster_subnet).netmask
        return [*super().client_hosts(),
                f"{ipaddress.IPv4Network(self.settings.cluster_subnet).network_address}/{mask}"]


class KafkaNode(Placed, Kafka):
    """Node ``index`` (0-based) of the Kafka cluster: broker + controller, node id index+1."""

    start_timeout = 120.0

    def __init__(self, settings: Settings, index: int) -> None:
        super().__init__(settings)
        self.index = index
        self.name = f"kafka-{index + 1}"

    @property
    def node_id(self) -> int:
        return self.index + 1

    @property
    def cluster_id_file(self) -> Path:
        return self.settings.state_dir / "kafka-cluster-id"

    def cluster_id(self) -> str:
        """One id for every node, made once and kept (a node formatted with another
        id would refuse to join)."""
        if not self.cluster_id_file.exists():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            fresh = new_kafka_cluster_id()
            tmp = self.cluster_id_file.with_suffix(f".{os.getpid()}.{self.index}")
            tmp.write_text(fresh + "\n")
            try:
                os.link(tmp, self.cluster_id_file)  # the first node to get here wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return self.cluster_id_file.read_text().strip()

    def _sasl(self) -> tuple[str, str, str]:
        """(the client listener's protocol, the controller listener's, their settings).

        Clients and brokers: SASL/SCRAM (the user is created at format time). Controllers
        (among themselves, and brokers to them): SASL/PLAIN, the one mechanism Kafka offers
        there besides GSSAPI and OAuth (SCRAM users live in the metadata the controllers
        serve), with the same user and password. Both are plain text on the wire: TLS is
        a deployment's to add (docs/scale-out.md).
        """
        s = self.settings
        if not s.kafka_sasl_username:
            return "PLAINTEXT", "PLAINTEXT", ""
        mechanism = s.kafka_sasl_mechanism
        user, password = s.kafka_sasl_username, s.kafka_sasl_password
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="{user}" password="{password}";')
        plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                 f'username="{user}" password="{password}" user_{user}="{password}";')
        return "SASL_PLAINTEXT", "SASL_PLAINTEXT", "\n".join([
            f"sasl.enabled.mechanisms={mechanism}",
            f"sasl.mechanism.inter.broker.protocol={mechanism}",
            f"listener.name.sasl_plaintext.{mechanism.lower()}.sasl.jaas.config={jaas}",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain}",
        ])

    def prepare(self) -> None:
        s = self.settings
        data_dir = self.home / "data"
        voters = ",".join(f"{i + 1}@{address(s, name)}:{s.kafka_controller_port}"
                          for i, name in enumerate(KAFKA_NODES))
        protocol, controller_protocol, sasl = self._sasl()
        _render(CLUSTER_CONF / "kafka.properties", self.config, node_id=self.node_id,
                voters=voters, protocol=protocol, controller_protocol=controller_protocol,
                sasl=sasl, host=self.host,
                port=s.kafka_port, controller_port=s.kafka_controller_port, data_dir=data_dir,
                partitions=s.kafka_partitions)
        if (data_dir / "meta.properties").exists():
            return
        scram = ([] if not s.kafka_sasl_username else
                 ["--add-scram", f"{s.kafka_sasl_mechanism}=[name={s.kafka_sasl_username},"
                                 f"password={s.kafka_sasl_password}]"])
        self._format_storage(*scram)

    def probe(self) -> str:
        from confluent_kafka.admin import AdminClient

        from topproducts.kafka_io import security_config

        client = AdminClient({**security_config(self.settings),
                              "bootstrap.servers": f"{self.host}:{self.settings.kafka_port}",
                              "socket.connection.setup.timeout.ms": 2000, "log_level": 0})
        metadata = client.list_topics(timeout=3)
        if self.node_id not in metadata.brokers:
            raise StackError(f"broker {self.node_id} not registered yet")
        return f"Kafka KRaft node {self.node_id}, sees {len(metadata.brokers)} brokers"


class CassandraNode(Placed, Cassandra):
    """Node ``index`` (0-based) of the Cassandra cluster."""

    start_timeout = 240.0

    def __init__(self, settings: Settings, index: int) -> None:
        super().__init__(settings)
        self.index = index
        self.name = f"cassandra-{index + 1}"

    @property
    def jmx_port(self) -> int:
        return CASSANDRA_JMX_BASE_PORT + self.index + 1

    def prepare(self) -> None:
        _java()
        s = self.settings
        seeds = ",".join(f"{address(s, name)}:{s.cassandra_storage_port}"
                         for name in CASSANDRA_NODES)
        authenticator = ("PasswordAuthenticator" if s.cassandra_username
                         else "AllowAllAuthenticator")
        _render(CLUSTER_CONF / "cassandra.yaml", self.config, host=self.host,
                port=s.cassandra_port, storage_port=s.cassandra_storage_port,
                data_dir=self.home, seeds=seeds, authenticator=authenticator,
                token=balanced_tokens(NODES)[self.index])

    def command(self) -> list[str]:
        java, *rest = super().command()
        return [
            java,
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            # Roles live on every node: a login still works with one node down.
            f"-Dcassandra.system_auth.default_rf={NODES}",
            "-Dcassandra.superuser_setup_delay_ms=1000",
            "-XX:ParallelGCThreads=1", "-XX:ConcGCThreads=1",
            *rest,
        ]

    def login(self, username: str, password: str) -> Session:
        """A session on this node only, as ``username``."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([self.host]),
                                   request_timeout=10)
        auth = PlainTextAuthProvider(username, password) if username else None
        cluster = Cluster([self.host], port=self.settings.cassandra_port, connect_timeout=3,
                          protocol_version=5, auth_provider=auth,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            return cluster.connect()
        except Exception:
            cluster.shutdown()
            raise

    def probe(self) -> str:
        s = self.settings
        session = self.login(s.cassandra_username, s.cassandra_password)
        try:
            version = session.execute("SELECT release_version FROM system.local").one()[0]
            peers = list(session.execute("SELECT peer FROM system.peers_v2"))
            return f"Cassandra {version}, ring of {len(peers) + 1}"
        finally:
            session.cluster.shutdown()

    def bootstrap(self) -> bool:
        """Node 1 creates the application's role once every node is up (it is written to
        all three: ``system_auth`` has replication 3), then logs in with it and takes
        login and superuser away from Cassandra's well-known ``cassandra`` role; done once
        that role can no longer log in (the nodes cache roles: see cassandra.yaml)."""
        s = self.settings
        if self.index != 0 or not s.cassandra_username:
            return True
        try:
            session = self.login(s.cassandra_username, s.cassandra_password)
        except Exception:  # the role does not exist yet
            self._create_role()
            return False  # the next round logs in with it
        try:
            session.execute("ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false")
        except InvalidRequest:  # no default role on this cluster
            pass
        finally:
            session.cluster.shutdown()
        try:
            self.login("cassandra", "cassandra").cluster.shutdown()
        except Exception as exc:  # refused: done (other errors: a cache half-refreshed)
            return bool(REFUSED.search(str(exc)))
        return False  # its cached role still logs in; the next round looks again

    def _create_role(self) -> None:
        s = self.settings
        session = self.login("cassandra", "cassandra")  # Cassandra's default superuser
        try:
            peers = list(session.execute("SELECT peer FROM system.peers_v2"))
            if len(peers) + 1 < NODES:
                return  # wait for all three: each replica gets the role now, not by hint
            session.execute(
                "CREATE ROLE IF NOT EXISTS %s WITH PASSWORD = %s AND LOGIN = true "
                "AND SUPERUSER = true", (s.cassandra_username, s.cassandra_password))
        finally:
            session.cluster.shutdown()


class SparkDaemon(Placed):
    """A Spark standalone daemon run by pyspark's ``spark-class``, bound to its address."""

    start_timeout = 90.0
    main_class: str

    @property
    def marker(self) -> str:  # type: ignore[override]
        return self.main_class  # spark-class execs java with it

    def _master_json(self) -> dict:
        import httpx

        host = address(self.settings, "spark-master")
        response = httpx.get(f"http://{host}:{SPARK_MASTER_UI_PORT}/json/", timeout=3)
        response.raise_for_status()
        return response.json()

    def prepare(self) -> None:
        _java()
        (self.home / "work").mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": self.host,  # the RPC endpoints and the web UI bind here only
            "SPARK_DAEMON_MEMORY": "256m",
            "SPARK_LOCAL_DIRS": str(self.home / "work"),
            "SPARK_NO_DAEMONIZE": "1",
        }

    def daemon_args(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        return [str(spark_home() / "bin" / "spark-class"), self.main_class, *self.daemon_args()]


class SparkMaster(SparkDaemon):
    name = "spark-master"
    main_class = "org.apache.spark.deploy.master.Master"

    @property
    def ports(self) -> list[int]:
        return [self.settings.cluster_spark_master_port, SPARK_MASTER_UI_PORT]

    def daemon_args(self) -> list[str]:
        return ["--host", self.host, "--port", str(self.ports[0]),
                "--webui-port", str(SPARK_MASTER_UI_PORT)]

    def probe(self) -> str:
        state = self._master_json()
        if state.get("status") != "ALIVE":
            raise StackError(f"master is {state.get('status')}")
        alive = sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
        return f"Spark master {pyspark.__version__}, {alive} workers alive"


class SparkWorker(SparkDaemon):
    """Worker ``index`` (0-based), on its own host."""

    main_class = "org.apache.spark.deploy.worker.Worker"

    def __init__(self, settings: Settings, index: int) -> None:
        super().__init__(settings)
        self.index = index
        self.name = f"spark-worker-{index + 1}"

    @property
    def ports(self) -> list[int]:
        return [SPARK_WORKER_PORT, SPARK_WORKER_UI_PORT]

    def daemon_args(self) -> list[str]:
        s = self.settings
        master = f"spark://{address(s, 'spark-master')}:{s.cluster_spark_master_port}"
        return [master, "--host", self.host, "--port", str(SPARK_WORKER_PORT),
                "--webui-port", str(SPARK_WORKER_UI_PORT), "--cores", "1",
                "--memory", s.cluster_spark_worker_memory, "--work-dir",
                str(self.home / "work")]

    def probe(self) -> str:
        for worker in self._master_json().get("workers", []):
            if worker.get("host") == self.host and worker.get("state") == "ALIVE":
                return (f"Spark worker, {worker.get('cores')} core, "
                        f"{worker.get('memory')} MiB, {worker.get('coresused')} used")
        raise StackError(f"no ALIVE worker on {self.host} at the master")


def services(settings: Settings) -> list[Service]:
    """Every process of the cluster, in start order (``settings``: the cluster's own,
    from :func:`client_settings`)."""
    return [
        ClusterMariaDB(settings),
        *(KafkaNode(settings, i) for i in range(NODES)),
        *(CassandraNode(settings, i) for i in range(NODES)),
        SparkMaster(settings),
        *(SparkWorker(settings, i) for i in range(SPARK_WORKERS)),
    ]


def by_name(settings: Settings, name: str) -> Service:
    for svc in services(settings):
        if svc.name == name:
            return svc
    known = ", ".join(s.name for s in services(settings))
    raise StackError(f"unknown cluster process {name!r}; known: {known}")


def _parallel(work: Callable[[Service], object], chosen: Sequence[Service]) -> list:
    """Run ``work`` on every service at once (the JVMs start or stop side by side)."""
    with ThreadPoolExecutor(max_workers=len(chosen) or 1) as pool:
        return list(pool.map(work, chosen))


def check_exposure(settings: Settings) -> None:
    """Refuse to start nodes that others could reach while a password is the source's
    default (the hosts are loopback aliases, or namespaces on a bridge with no uplink: only
    this machine reaches them, unless it forwards packets)."""
    defaults = [variable(name) for name, value, default in (
        ("kafka_sasl_password", settings.kafka_sasl_password, DEFAULT_PASSWORD),
        ("cassandra_password", settings.cassandra_password, DEFAULT_PASSWORD),
        ("mysql_password", settings.mysql_password, Settings().mysql_password))
        if value == default]
    if not defaults:
        return
    forwarding = netns.forwarding()
    for host in network(settings).hosts:
        if not (is_loopback(host.address)
                or on_cluster_hosts(settings, host.address, forwarding)):
            raise ConfigError(
                f"refusing to start the cluster's {host.name} on {host.address} (reachable "
                f"from beyond this machine: it forwards packets) while {defaults[0]} is "
                f"still the local default: set {', '.join(defaults)}")


def up(settings: Settings, progress: stack.Progress | None = None) -> list[stack.ServiceStatus]:
    """Make the hosts (what is missing of them), then start every process that does not
    run yet, side by side; wait until each answers."""
    check_exposure(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    net = network(settings)
    if net.namespaced:
        netns.ensure(net)
        if progress:
            progress("network", f"{len(net.hosts)} hosts on {net.bridge} "
                                f"({settings.cluster_subnet}, gateway {net.gateway})")
    for component in ("kafka", "cassandra"):  # once, before the nodes start side by side
        maven.classpath(component, settings)
    return _parallel(lambda svc: stack.start(svc, progress), services(settings))


def status(settings: Settings) -> list[stack.ServiceStatus]:
    return _parallel(stack.service_status, services(settings))


def other_processes(settings: Settings) -> dict[str, int]:
    """Our other processes with a pid file in the cluster's run folder (the stream)."""
    return {sup.name: sup.pid() or 0 for sup in _others(settings)}


def _others(settings: Settings) -> list[supervisor.Supervised]:
    # SIGTERM to the leader only: the stream's driver stops its JVM itself.
    return supervisor.others(settings.run_dir, settings.logs_dir,
                             [svc.pid_file for svc in services(settings)], term_group=False)


def down(settings: Settings, progress: stack.Progress | None = None) -> list[str]:
    """Stop the stream (and anything else of ours in the run folder), then the cluster."""
    def say(name: str, message: str) -> None:
        if progress:
            progress(name, message)

    stopped = [other.name for other in _others(settings) if other.stop(timeout=60, progress=say)]
    everything = services(settings)
    spark = [s for s in everything if isinstance(s, SparkDaemon)]
    rest = [s for s in everything if not isinstance(s, SparkDaemon)]
    for group in (spark, rest):
        done = _parallel(lambda svc: stack.stop_service(svc, say), group)
        stopped += [svc.name for svc, ok in zip(group, done, strict=True) if ok]
    net = network(settings)
    if net.namespaced:
        removed = netns.destroy(net)
        say("network", f"removed {len(removed)} namespaces and links" if removed
            else "no namespace or link left")
    return stopped


def leftovers(settings: Settings) -> list[str]:
    """What of the cluster is still there after ``down``: namespaces, links, processes in
    the hosts, live processes of its pid files."""
    found = netns.leftovers(network(settings))
    for svc in services(settings):
        pid = svc.supervised().pid()
        if pid is not None:
            found.append(f"{svc.name} (pid {pid})")
    return found


def kill_host(settings: Settings, name: str) -> list[int]:
    """``kill -9`` every process of one host at once, as a crash of its machine would (on
    loopback aliases: the process of that name and its children). Their pid files stay
    (stale) until ``up`` starts them again."""
    host = network(settings).host(name)
    if host.netns is not None:
        killed = netns.kill_all(host)
        for pid in killed:
            if not process.wait_gone(pid, 30):
                raise StackError(f"pid {pid} on {name} survived kill -9")
    else:
        killed = [kill(by_name(settings, name))]
    if not killed:
        raise StackError(f"nothing runs on {name}")
    return killed


def cut(settings: Settings, name: str) -> None:
    """Cut one host off the network (namespace hosts only): its processes run on."""
    netns.cut(network(settings).host(name))


def heal(settings: Settings, name: str) -> None:
    netns.heal(network(settings).host(name))


def kill(svc: Service) -> int:
    """``kill -9`` a process of the cluster and its children (a worker's executor), as a
    crash of its machine would; its pid file stays (stale) until it is started again."""
    pid = svc.supervised().kill()
    if pid is None:
        raise StackError(f"{svc.name} is not running")
    return pid
