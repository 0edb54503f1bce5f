"""Launch a Dagster job from Airflow and wait for its run: the operator every exported DAG uses.

One module for Airflow 3.x and 2.x (tested on 3.3.2 and 2.11.2), copied beside the DAG files
and kept out of DAG parsing by the folder's ``.airflowignore``. Airflow puts the DAG folder on
``sys.path``, so the DAGs import it as ``topproducts_dagster``. It needs nothing but Airflow:
it talks to the Dagster webserver's GraphQL API with the standard library.

- On Airflow 3 it is a Task SDK operator (``airflow.sdk.BaseOperator``) and reads the
  connection with ``airflow.sdk.BaseHook.get_connection``.
- On Airflow 2 with dagster-airflow installed it is a subclass of dagster-airflow's
  ``DagsterOperator``, and the connection is read by dagster-airflow's ``DagsterHook``
  (which also builds Dagster+ URLs). dagster-airflow cannot be installed beside Airflow 3.
  Launching and waiting are this module's on both: ``DagsterHook.launch_run`` sends no tags
  (so no partition) and ``DagsterHook.wait_for_run`` waits for a queued run forever.

The Airflow connection (default ``dagster_default``) is read when the task runs, so a DAG
imports without it. Its **login is the Dagster webserver's GraphQL URL**, as dagster-airflow
reads it, e.g. ``AIRFLOW_CONN_DAGSTER_DEFAULT='{"conn_type": "dagster", "login":
"http://dagster.internal:3000/graphql"}'``. A login of ``https://dagster.cloud/`` (or none)
means Dagster+: the URL is built from the description (organization) and host (deployment),
and the password is the API token.

A task launches one run (``launchPipelineExecution``: the job, its run config, tags naming the
Airflow DAG run and, for a partitioned job, ``dagster/partition``), then polls it every
``poll_seconds`` until it ends. A run that fails or is cancelled fails the task; a run still
queued after ``queued_timeout_seconds`` is cancelled and fails the task (only the Dagster
daemon starts queued runs). When Airflow kills the task (``on_kill``, a timeout) the run is
terminated.

The partition of a daily-partitioned job (``partition_days_back`` set), in this order:
``partition`` from the run's conf or params (``YYYY-MM-DD``); else the UTC day
``partition_days_back`` days before the run's ``data_interval_end`` (a scheduled run: the
day the Dagster schedule builds at that tick); else the task fails and says how to name one
(an Airflow 3 manual run with no logical date has no data interval).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from typing import Any

try:  # Airflow 3: the Task SDK
    from airflow.sdk import DAG, BaseHook, BaseOperator

    AIRFLOW_3 = True
    DagsterHook = None
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.hooks.base import BaseHook

    AIRFLOW_3 = False
    try:  # dagster-airflow's route, where it is installed (Airflow 2 only)
        from dagster_airflow import DagsterOperator as BaseOperator
        from dagster_airflow.hooks.dagster_hook import DagsterHook
    except ImportError:
        from airflow.models import BaseOperator

        DagsterHook = None
from airflow.exceptions import AirflowException, AirflowNotFoundException

DAGSTER_CLOUD = "https://dagster.cloud/"
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
QUEUED = {"QUEUED", "NOT_STARTED"}

LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id } }
    ... on PythonError { message }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

__all__ = ["AIRFLOW_3", "DAG", "DagsterJobOperator", "partition_for"]


class DagsterJobOperator(BaseOperator):
    """Launch the Dagster job ``job_name`` with ``run_config`` and wait for the run to end.

    :param job_name: the Dagster job.
    :param repository_name: its repository (``__repository__`` for a ``Definitions``).
    :param location_name: its code location, as the webserver's workspace names it.
    :param run_config: the run config (templated).
    :param partition_days_back: set for a daily-partitioned job: see the module's docstring.
    :param dagster_conn_id: the Airflow connection to the webserver.
    :param poll_seconds: how often the run's status is read.
    :param queued_timeout_seconds: how long the run may stay queued.
    """

    template_fields = ("run_config",)
    ui_color = "#663399"
    ui_fgcolor = "#e0e3fc"

    def __init__(self, *, job_name: str, repository_name: str, location_name: str,
                 run_config: dict[str, Any] | None = None,
                 partition_days_back: int | None = None,
                 dagster_conn_id: str = "dagster_default", poll_seconds: float = 2.0,
                 queued_timeout_seconds: float = 300.0, **kwargs: Any) -> None:
        if DagsterHook is not None:
            # DagsterOperator.__init__ reads the connection unless given none (the DAG would
            # not import without it) and refuses a missing token: both are read at run time.
            kwargs.update(dagster_conn_id=None, user_token="", job_name=job_name,
                          repository_name=repository_name,
                          repostitory_location_name=location_name)  # sic: dagster-airflow's
        super().__init__(**kwargs)
        self.job_name = job_name
        self.repository_name = repository_name
        self.location_name = location_name
        self.run_config = run_config or {}
        self.partition_days_back = partition_days_back
        self.dagster_conn_id = dagster_conn_id
        self.poll_seconds = poll_seconds
        self.queued_timeout_seconds = queued_timeout_seconds
        self.run_id: str | None = None
        self._endpoint: tuple[str, str] | None = None

    # Airflow calls these ----------------------------------------------------------------------

    def execute(self, context: Any) -> str:
        partition = partition_for(context, self.partition_days_back)
        self.run_id = self._launch(context, partition)
        context["ti"].xcom_push(key="run_id", value=self.run_id)
        self.log.info("Dagster run %s launched: job %s%s, %s", self.run_id, self.job_name,
                      f", partition {partition}" if partition else "", self._url())
        try:
            status = self._wait(self.run_id)
        except BaseException:  # a timeout or a kill while waiting: the run must not go on
            self._terminate(self.run_id)
            raise
        if status != "SUCCESS":
            raise AirflowException(f"Dagster run {self.run_id} of {self.job_name} ended "
                                   f"{status}: see its logs in the Dagster UI")
        self.log.info("Dagster run %s succeeded", self.run_id)
        return self.run_id

    def on_kill(self) -> None:
        if self.run_id is not None:
            self._terminate(self.run_id)

    # The Dagster webserver --------------------------------------------------------------------

    def _launch(self, context: Any, partition: str | None) -> str:
        tags = [{"key": "airflow/dag_id", "value": self.dag_id},
                {"key": "airflow/run_id", "value": str(context["run_id"])}]
        if partition is not None:
            tags.append({"key": "dagster/partition", "value": partition})
        params = {
            "selector": {"repositoryName": self.repository_name,
                         "repositoryLocationName": self.location_name,
                         "jobName": self.job_name},
            "runConfigData": json.dumps(self.run_config),
            "executionMetadata": {"tags": tags},
        }
        launched = self._graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise AirflowException(f"Dagster did not launch {self.job_name} "
                                   f"({launched.pop('__typename')}): {launched}")
        return launched["run"]["id"]

    def _wait(self, run_id: str) -> str:
        queued_since = time.monotonic()
        last = None
        while True:
            found = self._graphql(STATUS, {"runId": run_id})["runOrError"]
            if found["__typename"] != "Run":
                raise AirflowException(f"Dagster run {run_id}: {found}")
            status = found["status"]
            if status != last:
                self.log.info("Dagster run %s: %s", run_id, status)
                last = status
            if status in ENDED:
                return status
            if status not in QUEUED:
                queued_since = None
            elif time.monotonic() - queued_since > self.queued_timeout_seconds:
                raise AirflowException(
                    f"Dagster run {run_id} stayed {status} for over "
                    f"{self.queued_timeout_seconds:.0f} s: is the Dagster daemon running? "
                    "Only the daemon (`dagster-daemon run`) starts queued runs.")
            time.sleep(self.poll_seconds)

    def _terminate(self, run_id: str) -> None:
        try:
            result = self._graphql(TERMINATE, {"runId": run_id})["terminateRun"]
            self.log.info("Dagster run %s: terminate -> %s", run_id, result)
        except Exception as exc:  # noqa: BLE001 - already failing; say so and go on
            self.log.warning("could not terminate Dagster run %s: %s", run_id, exc)

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        url, token = self._connection()
        request = urllib.request.Request(
            url, data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json", "Dagster-Cloud-Api-Token": token})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise AirflowException(f"Dagster webserver {url}: HTTP {exc.code}: "
                                   f"{exc.read()[:500]!r}") from exc
        except urllib.error.URLError as exc:
            raise AirflowException(f"Dagster webserver {url} does not answer: "
                                   f"{exc.reason}") from exc
        if body.get("errors"):
            raise AirflowException(f"Dagster webserver {url}: {body['errors']}")
        return body["data"]

    def _url(self) -> str:
        return self._connection()[0]

    def _connection(self) -> tuple[str, str]:
        """(GraphQL URL, API token) from the Airflow connection, read once, at run time."""
        if self._endpoint is None:
            try:
                if DagsterHook is not None:
                    hook = DagsterHook(dagster_conn_id=self.dagster_conn_id, user_token="")
                    self._endpoint = (hook.url, hook.user_token or "")
                else:
                    self._endpoint = graphql_endpoint(
                        BaseHook.get_connection(self.dagster_conn_id))
            except AirflowNotFoundException as exc:
                raise AirflowException(
                    f"the Airflow connection `{self.dagster_conn_id}` is not defined: add it "
                    "(Admin > Connections, type dagster, login: the GraphQL URL of the "
                    "Dagster webserver, e.g. http://127.0.0.1:3000/graphql) or set the "
                    f"variable AIRFLOW_CONN_{self.dagster_conn_id.upper()}") from exc
        return self._endpoint


def graphql_endpoint(conn: Any) -> tuple[str, str]:
    """(URL, token) as dagster-airflow's DagsterHook reads a connection: a login other than
    ``https://dagster.cloud/`` is the GraphQL URL verbatim; otherwise Dagster+."""
    login = conn.login or DAGSTER_CLOUD
    if login != DAGSTER_CLOUD:
        return login, ""
    if not conn.description or not conn.host:
        raise AirflowException("a Dagster+ connection needs the organization as description "
                               "and the deployment as host")
    return f"{login}{conn.description}/{conn.host}/graphql", conn.password or ""


def partition_for(context: Any, days_back: int | None) -> str | None:
    """The partition a run launches (None: the job is not partitioned). See the module."""
    if days_back is None:
        return None
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    named = conf.get("partition") or (context.get("params") or {}).get("partition")
    if named:
        try:
            return dt.date.fromisoformat(str(named)).isoformat()
        except ValueError:
            raise AirflowException(f"partition {named!r} is not a day (YYYY-MM-DD)") from None
    end = context.get("data_interval_end")
    if end is not None:
        day = end.astimezone(dt.timezone.utc).date() - dt.timedelta(days=days_back)
        return day.isoformat()
    raise AirflowException(
        "this run has no logical date (an Airflow 3 manual run) and names no partition: "
        'trigger it with the conf {"partition": "YYYY-MM-DD"} (the UTC day to build), or '
        "with a logical date: the day built is then "
        f"{days_back} day(s) before the end of its data interval")
