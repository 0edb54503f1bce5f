"""The exported DAGs in real Airflow 3.3 and 2.11, launching real Dagster runs.

Every test runs on both versions (3.3 first, the default; then 2.11), each from its own venv
(``<state_dir>/airflow-<version>-venv``, installed here if missing) with a throwaway
AIRFLOW_HOME and SQLite DB; every Airflow call is a subprocess of that venv's python. One
Dagster webserver + daemon is started on a free port for a sandboxed shop (own databases and
topics), so the DAG runs launch Dagster runs that write only to the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import httpx
import pytest
import yaml
from confluent_kafka import TopicPartition

from tests.support.ports import free_port
from tests.support.sandbox import new_name, sandbox
from topproducts import airflow_export as ax
from topproducts import daily, kafka_io
from topproducts.events import Topic
from topproducts.leaderboards.store import open_store
from topproducts.settings import Settings
from topproducts.shop import history, schema, seed
from topproducts.stack import airflow as local_airflow
from topproducts.stack import dagster
from topproducts_assets.definitions import defs

pytestmark = pytest.mark.integration

VERSIONS = ("3.3", "2.11")

# Loads the DAG folder in Airflow (3.x: as its DAG bundle, on sys.path, as the dag-processor
# does) and prints what the DAGs say, as one JSON line at the end.
DAGBAG_SCRIPT = textwrap.dedent("""
    import json, os
    from pathlib import Path
    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    try:
        from airflow.dag_processing.dagbag import BundleDagBag
        bag = BundleDagBag(dag_folder=folder, bundle_path=Path(folder))
    except ImportError:  # Airflow 2
        from airflow.models import DagBag
        bag = DagBag(dag_folder=folder, include_examples=False)

    def graphql_url(task):  # the connection is read on first use
        try:
            return task._url()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": getattr(dag, "schedule_interval", None) or dag.schedule,
            "catchup": dag.catchup,
            "timezone": dag.timezone.name, "max_active_runs": dag.max_active_runs,
            "paused_upon_creation": dag.is_paused_upon_creation,
            "params": {k: dag.params[k] for k in dag.params},
            "tasks": {t.task_id: {
                "operator": type(t).__module__ + "." + type(t).__name__,
                "bases": [c.__module__ + "." + c.__name__ for c in type(t).__mro__[1:3]],
                "job_name": t.job_name, "repository_name": t.repository_name,
                "location_name": t.location_name, "run_config": t.run_config,
                "dagster_conn_id": t.dagster_conn_id, "graphql_url": graphql_url(t),
                "retries": t.retries, "partition_days_back": t.partition_days_back}
                for t in dag.tasks},
        }
    print("DAGBAG " + json.dumps({"import_errors": bag.import_errors, "dags": dags}))
""")

RUNS_QUERY = """
query Runs($job: String!) {
  runsOrError(filter: {pipelineName: $job}) {
    __typename
    ... on Runs { results { runId status runConfigYaml tags { key value } } }
  }
}
"""


@pytest.fixture(scope="module", params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def airflow_python(settings: Settings, version: str) -> Path:
    """This version's venv python (installed now if missing: about 35 s with a warm pip
    cache, 130-165 pinned packages)."""
    versioned = settings.replace(airflow_version=version)
    started = time.monotonic()
    local_airflow.install(versioned)
    print(f"airflow {version} venv ready in {time.monotonic() - started:.1f}s")
    return local_airflow.airflow_venv(versioned) / "bin" / "python"


@contextmanager
def dagster_shop(base: Settings, state_dir: Path, prefix: str) -> Iterator[Settings]:
    """A sandboxed shop (countries, FX rates, a small catalogue; no customers yet) whose
    Dagster webserver + daemon run on a free port with their own DAGSTER_HOME in
    ``state_dir``; stopped and dropped on exit."""
    with sandbox(base, new_name(prefix), state_dir=state_dir) as isolated:
        settings = isolated.replace(dagster_port=free_port())
        schema.ensure_schema(settings)
        seed.seed_fx_rates(settings)
        seed.seed_catalogue(settings, 30, seed=5)
        try:
            dagster.start(settings)
            yield settings
        finally:
            dagster.stop(settings)


@pytest.fixture(scope="module")
def shop(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    """The shop every test of the module shares (see :func:`dagster_shop`)."""
    with dagster_shop(running_stack, tmp_path_factory.mktemp("airflow-state"), "taf") as s:
        yield s


@pytest.fixture(scope="module")
def airflow_shop(shop: Settings, version: str, airflow_python: Path) -> Settings:
    """``shop`` with this Airflow version; its state dir (the shop's own) links the venv."""
    settings = shop.replace(airflow_version=version)
    venv = local_airflow.airflow_venv(settings)
    if not venv.exists():
        venv.symlink_to(airflow_python.parent.parent, target_is_directory=True)
    return settings


@pytest.fixture(scope="module")
def airflow_env(airflow_python: Path, airflow_shop: Settings) -> dict[str, str]:
    """Environment for Airflow commands: a fresh home and DB (one per version), the connection
    to the shop's Dagster webserver, the committed DAG folder."""
    env = local_airflow.airflow_process_env(airflow_shop)
    result = run(airflow_python, ["-m", "airflow", "db", "migrate"], env, timeout=300)
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}"
    return env


def run(python: Path, args: list[str], env: dict[str, str], timeout: float
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, check=False)


def load_dagbag(python: Path, env: dict[str, str]) -> dict:
    result = run(python, ["-c", DAGBAG_SCRIPT], env, timeout=300)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("DAGBAG ")]
    assert result.returncode == 0 and lines, f"loading the DagBag failed:\n{result.stdout[-3000:]}"
    return json.loads(lines[-1].removeprefix("DAGBAG "))


def count_orders(settings: Settings) -> tuple[int, int]:
    """(orders in MySQL, messages in the orders topic)."""
    mysql = seed.count_rows(settings, ("orders",))["orders"]
    consumer = kafka_io.consumer(f"{settings.kafka_topic_prefix}-count", settings)
    try:
        topic = settings.topic(Topic.ORDERS.value)
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:  # not created yet: no messages
            return mysql, 0
        kafka = 0
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=10)
            kafka += high - low
    finally:
        consumer.close()
    return mysql, kafka


def dagster_runs(settings: Settings, job: str, exclude: Iterable[dict] = ()) -> list[dict]:
    """The job's runs, newest first, except those in ``exclude`` (by id)."""
    known = {r["runId"] for r in exclude}
    response = httpx.post(dagster.graphql_url(settings), timeout=30,
                          json={"query": RUNS_QUERY, "variables": {"job": job}})
    response.raise_for_status()
    return [r for r in response.json()["data"]["runsOrError"]["results"]
            if r["runId"] not in known]


def tags(dagster_run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in dagster_run["tags"]}


def spec_of(dag_id: str) -> ax.DagSpec:
    return next(s for s in ax.dag_specs(defs, ax.location_name()) if s.dag_id == dag_id)


def dags_test(python: Path, env: dict[str, str], dag_id: str, *args: str) -> str:
    """``airflow dags test DAG_ID ARGS``; its output (the callers check the Dagster run)."""
    started = time.monotonic()
    result = run(python, ["-m", "airflow", "dags", "test", dag_id, *args], env, timeout=600)
    print(f"airflow dags test {dag_id}: {time.monotonic() - started:.1f}s")
    assert result.returncode == 0, f"airflow dags test {dag_id} failed:\n{result.stdout[-5000:]}"
    return result.stdout


def test_dagbag_loads_the_exported_dags_as_the_dagster_definitions_say(
        version: str, airflow_python: Path, airflow_env: dict[str, str],
        airflow_shop: Settings) -> None:
    bag = load_dagbag(airflow_python, airflow_env)
    assert bag["import_errors"] == {}
    specs = {s.dag_id: s for s in ax.dag_specs(defs, ax.location_name())}
    assert set(bag["dags"]) == set(specs)  # topproducts_dagster.py is no DAG (.airflowignore)
    assert {"customer_profile", "customer_order"} <= set(specs)
    for dag_id, spec in specs.items():
        dag = bag["dags"][dag_id]
        schedule = defs.resolve_schedule_def(spec.schedule_name)
        assert dag["schedule"] == schedule.cron_schedule
        assert dag["timezone"] == (schedule.execution_timezone or "UTC")
        assert dag["catchup"] is False and dag["max_active_runs"] == 1
        assert dag["paused_upon_creation"] is (True if spec.runs_in_dagster else None)
        partitioned = spec.partition_days_back is not None
        assert dag["params"] == ({"partition": None} if partitioned else {})
        task = dict(dag["tasks"][spec.job_name])
        # one shared operator: a Task SDK operator on 3.x, dagster-airflow's on 2.x
        assert task.pop("bases") == (
            ["airflow.sdk.bases.operator.BaseOperator",
             "airflow.sdk.definitions._internal.abstractoperator.AbstractOperator"]
            if version.startswith("3.") else
            ["dagster_airflow.operators.dagster_operator.DagsterOperator",
             "airflow.models.baseoperator.BaseOperator"])
        assert {spec.job_name: task} == {spec.job_name: {
            "operator": "topproducts_dagster.DagsterJobOperator",
            "job_name": schedule.job_name,
            "repository_name": defs.get_repository_def().name,
            "location_name": "topproducts",
            "run_config": spec.run_config,
            "dagster_conn_id": "dagster_default",
            "graphql_url": f"http://127.0.0.1:{airflow_shop.dagster_port}/graphql",
            "retries": ax.RETRIES,
            "partition_days_back": spec.partition_days_back,
        }}
    # what `airflow dags list-import-errors` says once the DAGs are in the metadata DB
    result = run(airflow_python, ["-m", "airflow", "dags", "reserialize"], airflow_env, 300)
    assert result.returncode == 0, result.stdout[-3000:]
    result = run(airflow_python, ["-m", "airflow", "dags", "list-import-errors", "-o", "json"],
                 airflow_env, 300)
    assert result.returncode == 0, result.stdout[-3000:]
    listed = [ln for ln in result.stdout.splitlines() if ln.startswith("[") and ln.endswith("]")
              and not ln.startswith("[20")]  # the JSON, not a log line's timestamp
    assert listed and json.loads(listed[-1]) == [], result.stdout[-3000:]


def test_without_the_connection_the_dags_import_and_a_task_run_names_it(
        airflow_python: Path, airflow_env: dict[str, str]) -> None:
    """The operator reads the connection when the task runs, not when the DAG is parsed: the
    DAGs import in an Airflow that has no ``dagster_default`` yet, and running a task there
    fails saying which connection is missing and how to add it."""
    env = {k: v for k, v in airflow_env.items() if k != local_airflow.CONN_ENV_VAR}
    bag = load_dagbag(airflow_python, env)
    assert bag["import_errors"] == {}
    specs = {s.dag_id: s for s in ax.dag_specs(defs, ax.location_name())}
    assert set(bag["dags"]) == set(specs)
    for dag_id, spec in specs.items():
        task = bag["dags"][dag_id]["tasks"][spec.job_name]
        assert task["dagster_conn_id"] == "dagster_default"
        assert task["graphql_url"].startswith(
            "AirflowException: the Airflow connection `dagster_default` is not defined")

    result = run(airflow_python, ["-m", "airflow", "tasks", "test", "customer_profile",
                                  spec_of("customer_profile").job_name, "2024-06-01"],
                 env, timeout=300)
    assert "the Airflow connection `dagster_default` is not defined" in result.stdout, (
        result.stdout[-3000:])
    assert "AIRFLOW_CONN_DAGSTER_DEFAULT" in result.stdout


def test_dags_test_runs_the_dagster_jobs_for_real(
        airflow_python: Path, airflow_env: dict[str, str], shop: Settings) -> None:
    # customer_profile -> Dagster job seed_customers: the shop gets its customers
    customers = seed.count_rows(shop, ("customers",))["customers"]
    before = dagster_runs(shop, "seed_customers")
    output = dags_test(airflow_python, airflow_env, "customer_profile")
    config = spec_of("customer_profile").run_config["ops"]["customers"]["config"]
    expected_customers = max(config["minimum"], customers + config["new_customers"])
    assert seed.count_rows(shop, ("customers",))["customers"] == expected_customers
    runs = dagster_runs(shop, "seed_customers", exclude=before)
    assert [r["status"] for r in runs] == ["SUCCESS"]
    assert runs[0]["runId"] in output  # the Airflow task launched exactly this run
    assert tags(runs[0])["airflow/dag_id"] == "customer_profile"

    # customer_order -> Dagster job produce_orders: new orders in MySQL and in Kafka
    orders_before, events_before = count_orders(shop)
    before = dagster_runs(shop, "produce_orders")
    output = dags_test(airflow_python, airflow_env, "customer_order")
    orders_after, events_after = count_orders(shop)
    runs = dagster_runs(shop, "produce_orders", exclude=before)
    assert [r["status"] for r in runs] == ["SUCCESS"], runs
    assert runs[0]["runId"] in output
    assert yaml.safe_load(runs[0]["runConfigYaml"]) == spec_of("customer_order").run_config
    placed = spec_of("customer_order").run_config["ops"]["order_events"]["config"]["orders"]
    assert orders_after - orders_before == placed
    assert events_after - events_before >= placed  # order_placed, then confirmed/cancelled


def test_dags_test_builds_one_day_of_the_daily_leaderboards(
        version: str, airflow_python: Path, airflow_env: dict[str, str], shop: Settings
        ) -> None:
    """daily_leaderboards -> the Dagster job build_daily_leaderboards for one partition: with
    a logical date, the day before the run's data interval ends, as the Dagster schedule
    builds it; with the conf {"partition": DAY}, that day."""
    day = datetime.now(UTC).date() - timedelta(days=3 if version == "3.3" else 4)
    if seed.count_rows(shop, ("customers",))["customers"] == 0:
        seed.seed_customers(shop, 30, seed.DEFAULT_SEED)
    kafka_io.ensure_topics(shop)
    assert history.place_on_day(shop, day, 60, seed=1).confirmed > 0
    # the tick at 00:15 UTC the day after `day` closes the interval that builds `day`
    logical = datetime.combine(day + timedelta(days=1), dt_time(12), tzinfo=UTC)
    before = dagster_runs(shop, "build_daily_leaderboards")
    output = dags_test(airflow_python, airflow_env, "daily_leaderboards", logical.isoformat())
    runs = dagster_runs(shop, "build_daily_leaderboards", exclude=before)
    assert [r["status"] for r in runs] == ["SUCCESS"], runs
    assert runs[0]["runId"] in output
    assert tags(runs[0])["dagster/partition"] == str(day)
    with open_store(shop) as store:
        boards = daily.stored_boards(store, day)
    assert boards == daily.sql_boards(shop, daily.Span.of(day, datetime.now(UTC), shop))
    assert any(boards.values())

    # the conf names the partition: it wins over the logical date
    other = day - timedelta(days=7)
    before = dagster_runs(shop, "build_daily_leaderboards")
    output = dags_test(airflow_python, airflow_env, "daily_leaderboards", logical.isoformat(),
                       "--conf", json.dumps({"partition": str(other)}))
    runs = dagster_runs(shop, "build_daily_leaderboards", exclude=before)
    assert [(r["status"], tags(r)["dagster/partition"]) for r in runs] == [
        ("SUCCESS", str(other))], runs
    assert runs[0]["runId"] in output
