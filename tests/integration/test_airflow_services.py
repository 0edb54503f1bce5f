"""Airflow 3.3 as a service: the exported DAGs scheduled by a real scheduler, launching real
Dagster runs, seen through Airflow's REST API v2.

The dag-processor, the scheduler (LocalExecutor) and the api-server are started by the
project's own code (:func:`topproducts.stack.airflow.start`, as ``topproducts airflow run``
starts them) on 127.0.0.1 and a free port, with the home and SQLite DB of a throwaway state
dir (the venv is the project's ``.stack/airflow-3.3-venv``, linked). The connection
``dagster_default`` points at a Dagster webserver + daemon serving a sandboxed shop (own
databases and topics; see ``test_airflow.dagster_shop``), which starts with a catalogue and
no customers, so ``produce_orders`` fails there until customers are seeded. Airflow is
driven and read only through its REST API v2 with a JWT from the simple auth manager;
Dagster through GraphQL; the shop in MySQL, Kafka and Cassandra. The tests run in the order
written: the customer_order story needs the shop still without customers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.integration.test_airflow import (
    count_orders,
    dagster_runs,
    dagster_shop,
    spec_of,
    tags,
)
from tests.support.ports import free_port
from topproducts import airflow_export as ax
from topproducts import daily, kafka_io
from topproducts.leaderboards.store import open_store
from topproducts.settings import Settings
from topproducts.shop import history, seed
from topproducts.stack import airflow as local_airflow
from topproducts_assets.definitions import defs

pytestmark = pytest.mark.integration

VERSION = "3.3"
ENDED = {"success", "failed"}
T = TypeVar("T")


class AirflowAPI:
    """Airflow's REST API v2 on the api-server, with a JWT from the simple auth manager
    (``GET /auth/token``, which the local setup's all-admins mode allows)."""

    def __init__(self, base_url: str) -> None:
        response = httpx.get(f"{base_url}/auth/token", timeout=60)
        response.raise_for_status()
        token = response.json()["access_token"]
        self.client = httpx.Client(base_url=f"{base_url}/api/v2", timeout=60,
                                   headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: HTTP {response.status_code} {response.text}"
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        assert self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})[
            "is_paused"] is paused

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """A run triggered as from the UI's form: Airflow 3's default, no logical date."""
        return self.call("POST", f"/dags/{dag_id}/dagRuns",
                         json={"logical_date": None, "conf": conf})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first."""
        runs = self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
        return sorted(runs, key=lambda r: r["run_after"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def dagster_run_id(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The Dagster run id the task pushed to XCom (key ``run_id``)."""
        entry = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
                         "/xcomEntries/run_id", deserialize=True)
        return str(entry["value"]).strip('"')

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        response = self.client.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": True}, headers={"Accept": "application/json"})
        assert response.is_success, f"task log: HTTP {response.status_code} {response.text}"
        return response.text


@dataclass
class Airflow3:
    settings: Settings
    port: int
    pids: dict[str, int]
    api: AirflowAPI


def wait_for(what: str, check: Callable[[], T | None], timeout: float,
             airflow: Airflow3 | None = None, every: float = 2.0) -> T:
    """Poll ``check`` until it returns something; a deadline, not a measurement. On timeout
    the assertion names what was awaited (and shows the scheduler's last log lines)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = ""
            if airflow is not None:
                log = airflow.settings.logs_dir / f"{local_airflow.SCHEDULER}.log"
                tail = "\nscheduler log:\n" + local_airflow.last_lines(
                    log.read_text(errors="replace") if log.exists() else "", 30)
            raise AssertionError(f"no {what} within {timeout:.0f} s{tail}")
        time.sleep(every)


def process_groups(pgids: set[int]) -> dict[int, str]:
    """pid -> command line of every process in these process groups (ours: each Airflow
    process leads its own group, with the executor's workers and task runners in it)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rindex(")") + 2:].split()  # state, ppid, pgrp, ...
            if int(fields[2]) in pgids:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(stat.parent.name)] = cmdline.decode(errors="replace").strip()
        except (OSError, ValueError):  # gone meanwhile
            continue
    return found


def listening_sockets(pids: Iterable[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket these processes listen on (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
                found.add((socket.inet_ntop(family, raw), int(port, 16)))
    return found


@pytest.fixture(scope="module")
def shop(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    with dagster_shop(running_stack, tmp_path_factory.mktemp("airflow3-state"), "tas") as s:
        yield s


@pytest.fixture(scope="module")
def airflow3(settings: Settings, shop: Settings) -> Iterator[Airflow3]:
    """Airflow 3.3's processes for ``shop``, started as ``topproducts airflow run`` starts
    them, once the dag-processor has listed every exported DAG; stopped afterwards, with
    nothing left of their process groups."""
    installed = settings.replace(airflow_version=VERSION)
    local_airflow.install(installed)  # the project's venv (skipped when up to date)
    ours = shop.replace(airflow_version=VERSION)
    local_airflow.airflow_venv(ours).symlink_to(local_airflow.airflow_venv(installed),
                                                target_is_directory=True)
    local_airflow.migrate(ours)  # a fresh home and SQLite DB in the shop's state dir
    port = free_port()
    pids: dict[str, int] = {}
    try:
        pids = local_airflow.start(ours, port)
        airflow = Airflow3(ours, port, pids, AirflowAPI(f"http://{local_airflow.HOST}:{port}"))
        wanted = {s.dag_id for s in ax.dag_specs(defs, ax.location_name())}

        def listed() -> bool:
            dags = airflow.api.get("/dags", limit=100)["dags"]
            return {d["dag_id"] for d in dags} == wanted

        wait_for("list of every exported DAG from the dag-processor", listed, 240, airflow)
        yield airflow
    finally:
        stopped = local_airflow.stop(ours)
        left = process_groups(set(pids.values()))
        for pid in left:  # kill what outlived its group's leader, then say so
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"left running after stopping {stopped}: {left}"


def test_the_api_server_serves_the_dags_and_airflow_listens_on_loopback_only(
        airflow3: Airflow3) -> None:
    api = airflow3.api
    assert set(airflow3.pids) == set(local_airflow.PROCESSES[VERSION])
    assert api.get("/version")["version"] == local_airflow.VERSIONS[VERSION]
    specs = {s.dag_id: s for s in ax.dag_specs(defs, ax.location_name())}
    dags = {d["dag_id"]: d for d in api.get("/dags", limit=100)["dags"]}
    assert set(dags) == set(specs)  # (the fixture waited for the dag-processor to list them)
    assert api.get("/importErrors")["total_entries"] == 0
    for dag_id, spec in specs.items():
        assert dags[dag_id]["is_paused"] is True  # new DAGs start paused; the tests unpause
        assert dags[dag_id]["timetable_summary"] == spec.cron, dags[dag_id]
    # every socket Airflow's processes (and their children) listen on is on loopback: the
    # api-server's port, and no log server on [::]:8793
    listening = listening_sockets(process_groups(set(airflow3.pids.values())))
    assert (local_airflow.HOST, airflow3.port) in listening
    assert {host for host, _ in listening} == {local_airflow.HOST}, listening


def test_a_failing_dagster_run_fails_the_task_then_the_next_scheduled_run_succeeds(
        airflow3: Airflow3, shop: Settings) -> None:
    """customer_order on its cron, unpaused through the API. The shop has no customers, so
    every produce_orders run fails: each try of the task (1 + 2 retries, 30 s apart) launches
    a Dagster run that fails, and the task and the DAG run end failed. With customers seeded,
    the next scheduled run succeeds: its Dagster run places the DAG's orders."""
    api, dag_id = airflow3.api, "customer_order"
    spec = spec_of(dag_id)
    task_id = spec.job_name
    assert seed.count_rows(shop, ("customers",))["customers"] == 0, "the shop must start empty"
    orders_before, events_before = count_orders(shop)
    api.set_paused(dag_id, False)
    # catchup=False: the scheduler starts the latest cron tick's run at once
    first = wait_for("scheduled customer_order run", lambda: next(iter(api.runs(dag_id)), None),
                     180, airflow3)
    assert first["run_type"] == "scheduled" and first["logical_date"] is not None, first
    run_id = first["dag_run_id"]

    def run_ended() -> dict[str, Any] | None:
        run = api.run(dag_id, run_id)
        return run if run["state"] in ENDED else None

    failed = wait_for(f"end of {run_id}", run_ended, 600, airflow3, every=0.5)
    # at once: the scheduler starts the next tick's run as soon as this one ended
    seed.seed_customers(shop, 30, seed.DEFAULT_SEED)
    assert failed["state"] == "failed", failed
    task = api.task(dag_id, run_id, task_id)
    assert (task["state"], task["try_number"]) == ("failed", 1 + ax.RETRIES), task
    tries = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
    assert [t["state"] for t in tries["task_instances"]] == ["failed"] * (1 + ax.RETRIES), tries
    launched = [r for r in dagster_runs(shop, spec.job_name)
                if tags(r).get("airflow/run_id") == run_id]
    assert [r["status"] for r in launched] == ["FAILURE"] * (1 + ax.RETRIES), launched
    assert all(tags(r)["airflow/dag_id"] == dag_id for r in launched)
    # the last try's log, read through the API (no log server: from the shared home)
    log = api.log(dag_id, run_id, task_id, 1 + ax.RETRIES)
    last = launched[0]["runId"]  # newest first
    assert f"Dagster run {last} of {spec.job_name} ended FAILURE" in log, log[-3000:]

    def succeeded() -> dict[str, Any] | None:
        return next((r for r in api.runs(dag_id)
                     if r["dag_run_id"] != run_id and r["state"] == "success"), None)

    # (the next run may still read no customers: its tries then fail too, and a later run
    # succeeds; the deadline allows for that)
    ok = wait_for("successful customer_order run after the failed one", succeeded, 600, airflow3)
    api.set_paused(dag_id, True)
    # Paused, the scheduler queues no more tasks, but one already queued or running (the next
    # tick's) goes on: wait until none is, so that MySQL holds every order placed. (The DAG
    # run of a paused DAG is marked ended only by a sweep about once a minute: not awaited.)
    def quiet() -> bool:
        active = api.get(f"/dags/{dag_id}/dagRuns/~/taskInstances",
                         state=["queued", "running"])["total_entries"]
        return active == 0 and all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"}
                                   for r in dagster_runs(shop, spec.job_name))

    wait_for("end of the customer_order tasks and their Dagster runs", quiet, 300, airflow3)
    assert ok["run_type"] == "scheduled" and ok["logical_date"] > first["logical_date"], ok
    task = api.task(dag_id, ok["dag_run_id"], task_id)
    assert task["state"] == "success", task
    dagster_id = api.dagster_run_id(dag_id, ok["dag_run_id"], task_id)
    runs = {r["runId"]: r for r in dagster_runs(shop, spec.job_name)}
    assert runs[dagster_id]["status"] == "SUCCESS"
    assert tags(runs[dagster_id])["airflow/run_id"] == ok["dag_run_id"]
    assert yaml.safe_load(runs[dagster_id]["runConfigYaml"]) == spec.run_config
    assert dagster_id in api.log(dag_id, ok["dag_run_id"], task_id, task["try_number"])
    # MySQL holds exactly the orders of the Dagster runs that succeeded (the failed placed none)
    placed = spec.run_config["ops"]["order_events"]["config"]["orders"]
    successes = sum(r["status"] == "SUCCESS" for r in runs.values())
    orders_after, events_after = count_orders(shop)
    assert orders_after - orders_before == placed * successes
    assert events_after - events_before >= orders_after - orders_before


def test_daily_leaderboards_builds_the_day_in_the_conf_and_the_scheduled_day(
        airflow3: Airflow3, shop: Settings) -> None:
    """daily_leaderboards unpaused, then triggered through the API with the conf
    {"partition": DAY} and no logical date (an Airflow 3 manual run): the Dagster run builds
    DAY, tagged with it, and the stored boards equal MySQL's. Unpausing also makes the
    scheduler start the latest 00:15 tick's run, which builds the day before that tick."""
    api, dag_id = airflow3.api, "daily_leaderboards"
    spec = spec_of(dag_id)
    task_id = spec.job_name
    day = datetime.now(UTC).date() - timedelta(days=3)  # final: no later cancellation counts
    if seed.count_rows(shop, ("customers",))["customers"] == 0:
        seed.seed_customers(shop, 30, seed.DEFAULT_SEED)
    kafka_io.ensure_topics(shop)
    assert history.place_on_day(shop, day, 60, seed=1).confirmed > 0

    api.set_paused(dag_id, False)
    triggered = api.trigger(dag_id, {"partition": str(day)})
    assert triggered["logical_date"] is None and triggered["data_interval_end"] is None, triggered

    def ended() -> list[dict[str, Any]] | None:
        runs = api.runs(dag_id)
        scheduled = [r for r in runs if r["run_type"] == "scheduled"]
        done = scheduled and all(r["state"] in ENDED for r in runs)
        return runs if done else None

    runs = wait_for("end of the triggered and the scheduled daily_leaderboards runs", ended,
                    600, airflow3)
    api.set_paused(dag_id, True)
    by_type = {r["run_type"]: r for r in runs}
    assert sorted(by_type) == ["manual", "scheduled"] and len(runs) == 2, runs
    dagster = {r["runId"]: r for r in dagster_runs(shop, spec.job_name)}

    def built(run: dict[str, Any]) -> date:
        """The day the run's Dagster run built; the task and the Dagster run succeeded."""
        assert run["state"] == "success", run
        task = api.task(dag_id, run["dag_run_id"], task_id)
        assert task["state"] == "success", task
        dagster_run = dagster[api.dagster_run_id(dag_id, run["dag_run_id"], task_id)]
        assert dagster_run["status"] == "SUCCESS", dagster_run
        assert tags(dagster_run)["airflow/run_id"] == run["dag_run_id"]
        return date.fromisoformat(tags(dagster_run)["dagster/partition"])

    manual = by_type["manual"]
    assert manual["dag_run_id"] == triggered["dag_run_id"] and manual["conf"] == {
        "partition": str(day)}
    assert built(manual) == day
    with open_store(shop) as store:
        boards = daily.stored_boards(store, day)
    assert boards == daily.sql_boards(shop, daily.Span.of(day, datetime.now(UTC), shop))
    assert any(boards.values())

    scheduled = by_type["scheduled"]
    tick = datetime.fromisoformat(scheduled["data_interval_end"])
    assert (tick.hour, tick.minute) == (0, 15), scheduled
    assert built(scheduled) == tick.astimezone(UTC).date() - timedelta(days=1)
