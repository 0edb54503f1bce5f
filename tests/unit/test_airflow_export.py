"""The Airflow export: committed DAG files match the Dagster definitions; the renderer's rules.

Airflow itself is not imported here (it lives in its own venv); the DAG files are checked as
Python source. tests/integration/test_airflow.py loads them in real Airflow.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import dagster as dg
import pytest

from topproducts import airflow_export as ax
from topproducts.errors import ConfigError
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack import airflow as local_airflow
from topproducts_assets.definitions import defs

EXPECTED = {  # dag id -> (schedule, cron, job), as in the original system's DAGs
    "customer_profile": ("seed_customers_schedule", "*/15 * * * *", "seed_customers"),
    "customer_order": ("produce_orders_schedule", "* * * * *", "produce_orders"),
}


def operator_kwargs(source: str) -> dict[str, object]:
    """The keyword arguments of the operator call (DagsterJobOperator(...)) in a DAG file,
    as values."""
    tree = ast.parse(source)
    constants = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body if isinstance(node, ast.Assign)
        for t in node.targets if isinstance(t, ast.Name)
    }
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)
             and n.func.id == ax.OPERATOR_CLASS]
    assert len(calls) == 1
    return {kw.arg: constants[kw.value.id] if isinstance(kw.value, ast.Name)
            else ast.literal_eval(kw.value) for kw in calls[0].keywords}


def dag_kwargs(source: str) -> dict[str, ast.expr]:
    tree = ast.parse(source)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == "DAG")
    return {kw.arg: kw.value for kw in call.keywords}


# The real definitions --------------------------------------------------------------------


def test_committed_dags_are_up_to_date() -> None:
    """Regenerate from the Dagster definitions: the committed files must not differ."""
    problems = ax.drift()
    assert not problems, f"run `topproducts airflow export` and commit: {problems}"


def test_one_dag_per_schedule_with_the_original_ids() -> None:
    specs = {s.dag_id: s for s in ax.dag_specs(defs, ax.location_name())}
    schedules = list(defs.get_repository_def().schedule_defs)
    assert sorted(s.schedule_name for s in specs.values()) == sorted(s.name for s in schedules)
    assert set(EXPECTED) <= set(specs)
    assert sorted(p.name for p in ax.DAGS_DIR.glob("*.py")) == sorted(
        [f"{d}.py" for d in specs] + [f"{ax.OPERATOR_MODULE}.py"])
    for dag_id, (schedule, cron, job) in EXPECTED.items():
        spec = specs[dag_id]
        assert (spec.schedule_name, spec.cron, spec.job_name) == (schedule, cron, job)
        assert spec.cron == defs.resolve_schedule_def(schedule).cron_schedule
        assert spec.repository_name == "__repository__"
        assert spec.location_name == "topproducts"  # workspace.yaml's location_name


@pytest.mark.parametrize("spec", ax.dag_specs(defs, ax.location_name()), ids=lambda s: s.dag_id)
def test_committed_file_launches_the_job_through_the_webserver(spec: ax.DagSpec) -> None:
    dag_id, cron, job = spec.dag_id, spec.cron, spec.job_name
    source = (ax.DAGS_DIR / f"{dag_id}.py").read_text()
    kwargs = operator_kwargs(source)
    assert kwargs["task_id"] == job
    assert kwargs["job_name"] == job
    assert kwargs["dagster_conn_id"] == "dagster_default"
    assert kwargs["repository_name"] == "__repository__"
    assert kwargs["location_name"] == "topproducts"
    # the job's default run config, defaults spelled out, valid for the job
    job_def = defs.resolve_job_def(job)
    assert dg.validate_run_config(job_def, kwargs["run_config"])
    dag = dag_kwargs(source)
    assert ast.literal_eval(dag["schedule"]) == cron
    assert ast.literal_eval(dag["catchup"]) is False
    assert ast.literal_eval(dag["dag_id"]) == dag_id
    # a schedule Dagster already runs starts paused in Airflow: the job must not run twice
    running = defs.resolve_schedule_def(spec.schedule_name).default_status.value == "RUNNING"
    assert ("is_paused_upon_creation" in dag) is running
    if running:
        assert ast.literal_eval(dag["is_paused_upon_creation"]) is True


@pytest.mark.parametrize(("dag_id", "days_back"),
                         [("daily_leaderboards", 1), ("daily_leaderboards_final", 2)])
def test_partitioned_dags_launch_the_day_the_dagster_schedule_builds(dag_id: str,
                                                                     days_back: int) -> None:
    """No template of the logical date (an Airflow 3 manual run has none): the operator picks
    the day when the task runs, from the conf's ``partition`` else the data interval."""
    spec = next(s for s in ax.dag_specs(defs, ax.location_name()) if s.dag_id == dag_id)
    assert spec.partition_days_back == days_back
    source = (ax.DAGS_DIR / f"{dag_id}.py").read_text()
    assert operator_kwargs(source)["partition_days_back"] == days_back
    assert "{{" not in source.split('"""', 2)[2]
    assert ast.literal_eval(dag_kwargs(source)["params"]) == {"partition": None}
    unpartitioned = next(s for s in ax.dag_specs(defs, ax.location_name())
                         if s.dag_id == "customer_order")
    assert unpartitioned.partition_days_back is None
    assert "partition_days_back" not in operator_kwargs(ax.render(unpartitioned))
    assert "params" not in dag_kwargs(ax.render(unpartitioned))


@pytest.mark.parametrize("spec", ax.dag_specs(defs, ax.location_name()), ids=lambda s: s.dag_id)
def test_committed_file_imports_only_pendulum_and_the_shared_operator(spec: ax.DagSpec) -> None:
    """One operator module for every DAG, the same file on Airflow 3.x and 2.x; no operator
    class per DAG file; the connection is named, not read, in the DAG."""
    tree = ast.parse((ax.DAGS_DIR / spec.file_name).read_text())
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
    imported = {(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom)
                for a in n.names}
    imported |= {(None, a.name) for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert imported == {("datetime", "timedelta"), (None, "pendulum"),
                        (ax.OPERATOR_MODULE, "DAG"), (ax.OPERATOR_MODULE, ax.OPERATOR_CLASS)}


def test_the_shared_operator_module_is_kept_out_of_dag_parsing() -> None:
    """Airflow parses every .py file in the folder that mentions airflow and dag; the
    operator module is listed in .airflowignore (one line valid as a regexp, Airflow 2's
    default syntax, and as a glob, Airflow 3's)."""
    module = ax.DAGS_DIR / f"{ax.OPERATOR_MODULE}.py"
    compile(module.read_text(), str(module), "exec")
    ignored = [ln for ln in (ax.DAGS_DIR / ".airflowignore").read_text().splitlines()
               if ln and not ln.startswith("#")]
    assert ignored == [f"{ax.OPERATOR_MODULE}.py"]


def test_order_dag_says_how_many_orders_a_run_places() -> None:
    kwargs = operator_kwargs((ax.DAGS_DIR / "customer_order.py").read_text())
    config = kwargs["run_config"]["ops"]["order_events"]["config"]
    assert config["orders"] == 500 and config["batch_size"] == 500


def test_airflow_folder_does_not_shadow_the_airflow_package() -> None:
    assert not (REPO_ROOT / "airflow" / "__init__.py").exists()
    assert not (ax.DAGS_DIR / "__init__.py").exists()


# The renderer, on throwaway definitions ---------------------------------------------------


@dg.op(config_schema={"n": dg.Field(int, default_value=3)})
def count_op(context) -> int:  # (Dagster reads the annotation; a string one is refused)
    return context.op_config["n"]


@dg.job(description="Count\n  things.")
def count_job() -> None:
    count_op()


@dg.job(config={"ops": {"count_op": {"config": {"n": 9}}}})
def configured_job() -> None:
    count_op()


def throwaway(*schedules: dg.ScheduleDefinition) -> dg.Definitions:
    return dg.Definitions(jobs=[count_job, configured_job], schedules=list(schedules))


def test_unknown_schedule_keeps_its_name_and_timezone() -> None:
    spec, = ax.dag_specs(throwaway(dg.ScheduleDefinition(
        name="hourly_count", job=count_job, cron_schedule="0 * * * *",
        execution_timezone="Europe/London")), "loc")
    assert (spec.dag_id, spec.timezone, spec.location_name) == ("hourly_count",
                                                                "Europe/London", "loc")
    assert spec.description == "Count things."  # the job's, on one line
    assert spec.run_config == {"ops": {"count_op": {"config": {"n": 3}}}}
    source = ax.render(spec)
    assert 'tz="Europe/London"' in source
    assert operator_kwargs(source)["run_config"] == spec.run_config


def test_run_config_job_default_and_schedule_override() -> None:
    job_default, = ax.dag_specs(throwaway(dg.ScheduleDefinition(
        name="a", job=configured_job, cron_schedule="* * * * *")), "loc")
    assert job_default.run_config == {"ops": {"count_op": {"config": {"n": 9}}}}
    from_schedule, = ax.dag_specs(throwaway(dg.ScheduleDefinition(
        name="b", job=count_job, cron_schedule="* * * * *",
        run_config={"ops": {"count_op": {"config": {"n": 5}}}})), "loc")
    assert from_schedule.run_config == {"ops": {"count_op": {"config": {"n": 5}}}}


def test_two_schedules_on_one_dag_id_are_refused() -> None:
    with pytest.raises(ConfigError, match="same Airflow DAG id"):
        ax.dag_specs(throwaway(
            dg.ScheduleDefinition(name="customer_order", job=count_job, cron_schedule="* * * * *"),
            dg.ScheduleDefinition(name="produce_orders_schedule", job=count_job,
                                  cron_schedule="* * * * *"),
        ), "loc")


def test_export_replaces_stale_generated_files_and_keeps_hand_written(tmp_path: Path) -> None:
    first = ax.render_all(throwaway(
        dg.ScheduleDefinition(name="old", job=count_job, cron_schedule="* * * * *")), "loc")
    ax.export(tmp_path, first)
    (tmp_path / "mine.py").write_text("# a hand-written DAG\n")
    second = ax.render_all(throwaway(
        dg.ScheduleDefinition(name="new", job=count_job, cron_schedule="*/5 * * * *")), "loc")
    assert ax.drift(tmp_path, second) == [
        "new.py: missing", "old.py: no Dagster schedule exports it"]
    ax.export(tmp_path, second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py", "new.py"]
    assert ax.drift(tmp_path, second) == []
    (tmp_path / "new.py").write_text((tmp_path / "new.py").read_text().replace("*/5", "*/6"))
    assert ax.drift(tmp_path, second) == ["new.py: differs from the Dagster definitions"]


def test_rendered_files_are_valid_python_that_reads_well() -> None:
    for name, source in ax.render_all().items():
        compile(source, name, "exec")
        assert source.startswith(ax.GENERATED_MARKER)
        assert max(len(line) for line in source.splitlines()) <= 120
        assert "'" not in source.split('"""', 2)[2].replace("dagster-airflow's", "")


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        ("load_from:\n  - python_module: topproducts_assets.definitions\n",
         "topproducts_assets.definitions"),
        ("load_from:\n  - python_module:\n      module_name: topproducts_assets.definitions\n",
         "topproducts_assets.definitions"),
        ("load_from:\n  - python_module:\n      module_name: topproducts_assets.definitions\n"
         "      location_name: shop\n", "shop"),
    ],
)
def test_location_name_follows_workspace_yaml(tmp_path: Path, workspace: str,
                                              expected: str) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(workspace)
    assert ax.location_name(path) == expected


def test_location_name_refuses_a_workspace_without_the_module(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from:\n  - python_module: other.module\n")
    with pytest.raises(ConfigError, match="does not load"):
        ax.location_name(path)


@pytest.mark.parametrize("version", ["3.3", "2.11"])
def test_airflow_env_points_the_connection_at_the_configured_webserver(
        tmp_path: Path, version: str) -> None:
    settings = Settings(state_dir=tmp_path, dagster_host="10.0.0.5", dagster_port=3333,
                        airflow_version=version)
    env = local_airflow.airflow_env(settings, port=8181)
    conn = json.loads(env["AIRFLOW_CONN_DAGSTER_DEFAULT"])
    # the login is the GraphQL URL verbatim (dagster-airflow's rule; the operator's too)
    assert conn == {"conn_type": "dagster", "login": "http://10.0.0.5:3333/graphql"}
    home = tmp_path / f"airflow-{version}"
    assert env["AIRFLOW_HOME"] == str(home)
    assert local_airflow.airflow_venv(settings) == tmp_path / f"airflow-{version}-venv"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ax.DAGS_DIR)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow.db"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    if version == "3.3":  # tasks reach the api-server's execution API; one shared JWT secret
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
            "http://127.0.0.1:8181/execution/")
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == local_airflow.airflow_env(
            settings)["AIRFLOW__API_AUTH__JWT_SECRET"]
    else:
        assert env["AIRFLOW__CORE__EXECUTOR"] == "SequentialExecutor"
        assert env["AIRFLOW__WEBSERVER__WEB_SERVER_PORT"] == "8181"


def test_the_default_airflow_is_3_3_and_each_version_has_its_pins() -> None:
    assert Settings().airflow_version == "3.3"
    assert Settings.from_env({"TOPPRODUCTS_AIRFLOW_VERSION": "2.11"}).airflow_version == "2.11"
    for version, release in local_airflow.VERSIONS.items():
        pins = local_airflow.requirements(Settings(airflow_version=version)).read_text()
        assert f"apache-airflow=={release}\n" in pins
        assert ("dagster-airflow==" in pins) is (version == "2.11")  # breaks Airflow 3
