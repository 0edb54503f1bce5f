# The README's commands. Each target is one line calling a script or the CLI.
.PHONY: setup demo test test-unit test-cluster up down status lint typecheck bench ui api airflow

setup:      ## install Debian packages, the venv and the jars (idempotent)
	bash infra/setup.sh

demo: setup ## set up from nothing and run the main demo
	.venv/bin/topproducts demo

test: setup ## set up from nothing, start the stack, run every test
	bash infra/test.sh

test-cluster: setup ## the cluster on its hosts (network namespaces; as root), its fault and partition test, then down
	bash infra/test-cluster.sh

test-unit: setup ## only the pure unit tests (no services, no JVM)
	.venv/bin/python -m pytest tests/unit -m "not integration"

up: setup
	.venv/bin/topproducts stack up

down:
	.venv/bin/topproducts stack down

status:
	.venv/bin/topproducts stack status

lint:
	.venv/bin/ruff check .

typecheck:  ## mypy over the four packages ([tool.mypy] in pyproject.toml); make test runs it too
	.venv/bin/mypy

bench: setup
	bash bench/run.sh

ui: setup   ## the Dagster UI (webserver + daemon) at http://127.0.0.1:3000
	.venv/bin/topproducts ui

api: setup  ## the API and the live page at http://127.0.0.1:8000
	.venv/bin/topproducts api

airflow: setup  ## Airflow 3.3 (own venv; TOPPRODUCTS_AIRFLOW_VERSION=2.11 for 2.11) running the exported DAGs, UI at :8080
	.venv/bin/topproducts airflow setup && .venv/bin/topproducts airflow run
