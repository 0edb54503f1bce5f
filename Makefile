# The README's commands. Each target is one line calling a script or the CLI.
.PHONY: setup demo test test-unit up down status lint bench ui

setup:      ## install Debian packages, the venv and the jars (idempotent)
	bash infra/setup.sh

demo: setup ## set up from nothing and run the main demo
	.venv/bin/topproducts demo

test: setup ## set up from nothing, start the stack, run every test
	bash infra/test.sh

test-unit: setup ## only the pure unit tests (no services)
	.venv/bin/python -m pytest -m "not integration"

up: setup
	.venv/bin/topproducts stack up

down:
	.venv/bin/topproducts stack down

status:
	.venv/bin/topproducts stack status

lint:
	.venv/bin/ruff check .

bench: setup
	bash bench/run.sh
