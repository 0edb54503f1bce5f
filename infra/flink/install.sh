#!/usr/bin/env bash
# Install the Flink SQL peer of `make bench` into its own folder, idempotently.
#
#   bash infra/flink/install.sh [DIR]
#
# DIR defaults to $TOPPRODUCTS_STATE_DIR/flink (state dir: .stack in the repo): a venv with
# apache-flink (requirements.txt; PyFlink ships Flink's own jars) and, in DIR/classpath.txt,
# the Kafka SQL connector's jar from Maven Central (pom.xml; the jar stays in ~/.m2). Nothing
# goes into the project's venv. Redone only when requirements.txt or pom.xml change (their
# sha256 is kept in DIR/.topproducts-flink); pip's cache makes a reinstall quick.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-${TOPPRODUCTS_STATE_DIR:-$repo/.stack}/flink}"
mkdir -p "$dir" && dir="$(cd "$dir" && pwd)"  # absolute: Maven resolves paths from the pom
venv="$dir/venv"
stamp="$dir/.topproducts-flink"
log() { printf '\033[1m[flink]\033[0m %s\n' "$*" >&2; }

want="$(cat "$here/requirements.txt" "$here/pom.xml" | sha256sum | cut -c1-16)"
if [ -x "$venv/bin/python" ] && [ -s "$dir/classpath.txt" ] \
    && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "already installed in $dir ($want)"
  exit 0
fi

py="${FLINK_PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "PyFlink needs Python 3.9-3.12 here (found $("$py" --version 2>&1)); set FLINK_PYTHON" >&2
  exit 1
fi
started=$SECONDS
mkdir -p "$dir"
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $("$py" --version)"
  "$py" -m venv "$venv"
fi
log "installing $(grep -c '==' "$here/requirements.txt") pinned package(s) (apache-flink is ~400 MB)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
log "resolving the Kafka connector from Maven Central (cached in ~/.m2)"
mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:build-classpath \
  -Dmdep.outputFile="$dir/classpath.txt"
"$venv/bin/python" -c 'import pyflink.table' >/dev/null
echo "$want" > "$stamp"
log "installed in $((SECONDS - started))s: $dir"
