"""The stream's two launchers and its host (issue 24): the command lines, without running."""

import sys

import pytest

from topproducts import stream_control
from topproducts.settings import Settings


@pytest.fixture(autouse=True)
def _jars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("topproducts.stack.spark.kafka_jars", lambda s: ["/m2/a.jar", "/m2/b.jar"])


def test_python_launcher_is_unchanged_by_default() -> None:
    assert stream_control.command(Settings()) == [sys.executable, "-m", "streaming.job"]
    assert stream_control.command(Settings(), rebuild=True)[-1] == "--rebuild"


def test_spark_submit_gets_the_cluster_conventions_and_runs_the_script() -> None:
    s = Settings(stream_launcher="spark-submit", spark_master="spark://10.0.0.9:7077",
                 spark_driver_host="10.0.0.12", spark_ui_port=4041)
    cmd = stream_control.command(s)
    assert cmd[0].endswith("/bin/spark-submit") and cmd[-1].endswith("streaming/job.py")
    assert cmd[cmd.index("--master") + 1] == "spark://10.0.0.9:7077"
    assert cmd[cmd.index("--jars") + 1] == "/m2/a.jar,/m2/b.jar"
    assert cmd[cmd.index("--executor-memory") + 1] == "512m"
    confs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--conf"]
    assert "spark.driver.host=10.0.0.12" in confs
    assert "spark.driver.bindAddress=10.0.0.12" in confs
    assert "spark.ui.port=4041" in confs
    assert stream_control.MARKER in " ".join(cmd)


def test_a_local_master_gets_no_executor_flags() -> None:
    cmd = stream_control.command(Settings(stream_launcher="spark-submit"))
    assert "--executor-memory" not in cmd


def test_the_stream_runs_on_its_host() -> None:
    cmd = stream_control.command(Settings(stream_netns="tp-app"))
    assert cmd[:4] == ["ip", "netns", "exec", "tp-app"]
    assert stream_control.MARKER in " ".join(cmd)


def test_checkpoint_location_is_a_path_or_a_file_url() -> None:
    from topproducts.errors import ConfigError

    assert str(Settings(stream_checkpoint_location="file:///mnt/ckpt").checkpoint_dir) == \
        "/mnt/ckpt"
    assert str(Settings(stream_checkpoint_location="/mnt/ckpt").checkpoint_dir) == "/mnt/ckpt"
    with pytest.raises(ConfigError, match=r"TOPPRODUCTS_STREAM_CHECKPOINT_LOCATION.*hdfs"):
        Settings(stream_checkpoint_location="hdfs://nn:8020/ckpt")


def test_the_drivers_ui_listens_on_its_bind_address() -> None:
    env = stream_control.supervised(Settings(spark_driver_host="10.0.0.12")).env
    assert isinstance(env, dict) and env["SPARK_LOCAL_IP"] == "10.0.0.12"
    env = stream_control.supervised(Settings()).env
    assert isinstance(env, dict) and env["SPARK_LOCAL_IP"] == "127.0.0.1"
