#!/usr/bin/env bash
# Type-check, start what the tests need and run them. Called by `make test` (and so by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The type check first ([tool.mypy] in pyproject.toml; `make typecheck`): an error fails the run.
.venv/bin/mypy
.venv/bin/topproducts stack up
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a success.
if [ $rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit $rc
