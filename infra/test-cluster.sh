#!/usr/bin/env bash
# Start the local 3-node cluster, run its fault test, stop it. Called by `make test-cluster`
# (and so by .ci/run, after the single-node suite). As root the nodes run on hosts of their
# own (network namespaces); the test ends with `cluster down` and checks nothing is left.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
.venv/bin/topproducts cluster up
set +e
# Our own temporary folder (the stream's state lives there): pytest prunes old ones in
# the shared /tmp/pytest-of-$USER while other sessions start.
.venv/bin/python -m pytest tests/cluster -m cluster --basetemp=.stack/cluster/pytest-tmp "$@"
rc=$?
set -e
.venv/bin/topproducts cluster down
echo "test-cluster: $(( $(date +%s) - started ))s in all (cluster up, fault test, down)" >&2
if [ $rc -eq 5 ]; then echo "no cluster tests were collected" >&2; exit 1; fi
exit $rc
