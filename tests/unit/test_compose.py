"""infra/docker-compose.yml cannot run here (no Docker engine); keep it in step with settings."""

import yaml

from topproducts.db import DATABASES
from topproducts.settings import REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "infra" / "docker-compose.yml"


def published_ports(service: dict) -> set[int]:
    return {int(p.rsplit(":", 2)[-2]) for p in service.get("ports", [])}


def test_services_and_ports_match_settings_defaults() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    s = Settings.from_env({})
    assert set(services) == {"mysql", "kafka", "cassandra"}
    assert published_ports(services["mysql"]) == {s.mysql_port}
    assert published_ports(services["kafka"]) == {s.kafka_port}
    assert published_ports(services["cassandra"]) == {s.cassandra_port}
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{s.kafka_bootstrap}"
    assert kafka_env["KAFKA_NUM_PARTITIONS"] == s.kafka_partitions
    mysql_env = services["mysql"]["environment"]
    assert f":-{s.mysql_user}}}" in mysql_env["MYSQL_USER"]


def test_init_script_creates_the_five_databases() -> None:
    init = (REPO_ROOT / "infra" / "docker" / "mysql-init.sql").read_text()
    for name in DATABASES:
        assert f"CREATE DATABASE IF NOT EXISTS {name};" in init
