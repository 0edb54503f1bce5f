#!/usr/bin/env bash
# Install Airflow 2.11 + dagster-airflow into their own venv, idempotently.
#
#   bash infra/airflow/install.sh [VENV_DIR]
#
# VENV_DIR defaults to $TOPPRODUCTS_STATE_DIR/airflow-venv (state dir: .stack in the repo).
# Airflow 2.x needs SQLAlchemy 1.4 while the project's venv has Dagster with SQLAlchemy 2,
# so the two cannot share a venv. The venv is (re)installed only when requirements.txt
# changes: its sha256 is kept in VENV_DIR/.topproducts-requirements.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${1:-${TOPPRODUCTS_STATE_DIR:-$repo/.stack}/airflow-venv}"
req="$here/requirements.txt"
stamp="$venv/.topproducts-requirements"

log() { printf '\033[1m[airflow]\033[0m %s\n' "$*" >&2; }

want="$(sha256sum "$req" | cut -c1-16)"
if [ -x "$venv/bin/airflow" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "already installed in $venv (requirements $want)"
  exit 0
fi

# The pins were resolved on Python 3.11; Airflow 2.11 supports 3.9-3.12.
py="${AIRFLOW_PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
if ! "$py" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "Airflow 2.11 needs Python 3.9-3.12 (found $("$py" --version 2>&1)); set AIRFLOW_PYTHON" >&2
  exit 1
fi

started=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $("$py" --version)"
  "$py" -m venv "$venv"
fi
log "installing Airflow 2.11 + dagster-airflow ($(grep -c '==' "$req") pinned packages)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
# Importing airflow writes an airflow.cfg into AIRFLOW_HOME: give it a throwaway one.
check_home="$(mktemp -d)"
if ! AIRFLOW_HOME="$check_home" "$venv/bin/python" -W ignore -c 'import airflow, dagster_airflow' \
    >/dev/null 2>"$check_home/err"; then
  tail -5 "$check_home/err" >&2
  echo "installed, but 'import airflow, dagster_airflow' fails in $venv" >&2
  rm -rf "$check_home"; exit 1
fi
rm -rf "$check_home"
echo "$want" > "$stamp"
log "installed in $((SECONDS - started))s: $venv"
