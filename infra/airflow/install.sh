#!/usr/bin/env bash
# Install Airflow into its own venv from the pinned set of one version, idempotently.
#
#   bash infra/airflow/install.sh [VERSION [VENV_DIR]]
#
# VERSION is 3.3 (the default; Airflow 3.3.2) or 2.11 (Airflow 2.11.2 + dagster-airflow), as
# TOPPRODUCTS_AIRFLOW_VERSION. VENV_DIR defaults to $TOPPRODUCTS_STATE_DIR/airflow-VERSION-venv
# (state dir: .stack in the repo). Airflow gets its own venv: 2.11 needs SQLAlchemy 1.4, and
# neither version's pins should move the project's Dagster. The venv is (re)installed only when
# requirements-VERSION.txt changes (its sha256 is kept in VENV_DIR/.topproducts-requirements);
# pip's wheel cache (~/.cache/pip) makes a reinstall quick. pip check must be clean.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
version="${1:-${TOPPRODUCTS_AIRFLOW_VERSION:-3.3}}"
venv="${2:-${TOPPRODUCTS_STATE_DIR:-$repo/.stack}/airflow-$version-venv}"
req="$here/requirements-$version.txt"
stamp="$venv/.topproducts-requirements"
case "$version" in
  3.3) check='import airflow.sdk' ;;
  2.11) check='import airflow, dagster_airflow' ;;
  *) echo "unknown Airflow version '$version' (3.3 or 2.11)" >&2; exit 1 ;;
esac

log() { printf '\033[1m[airflow %s]\033[0m %s\n' "$version" "$*" >&2; }

want="$(sha256sum "$req" | cut -c1-16)"
if [ -x "$venv/bin/airflow" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "already installed in $venv (requirements $want)"
  exit 0
fi

# The pins were resolved on Python 3.11 (both versions support 3.10-3.12).
py="${AIRFLOW_PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
if ! "$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "Airflow $version needs Python 3.10-3.12 here (found $("$py" --version 2>&1)); set AIRFLOW_PYTHON" >&2
  exit 1
fi

started=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $("$py" --version)"
  "$py" -m venv "$venv"
fi
log "installing $(grep -c '==' "$req") pinned packages from $(basename "$req")"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
"$venv/bin/python" -m pip check --disable-pip-version-check >&2
# Importing airflow writes an airflow.cfg into AIRFLOW_HOME: give it a throwaway one.
check_home="$(mktemp -d)"
if ! AIRFLOW_HOME="$check_home" "$venv/bin/python" -W ignore -c "$check" \
    >/dev/null 2>"$check_home/err"; then
  tail -5 "$check_home/err" >&2
  echo "installed, but '$check' fails in $venv" >&2
  rm -rf "$check_home"; exit 1
fi
rm -rf "$check_home"
echo "$want" > "$stamp"
log "installed in $((SECONDS - started))s: $venv"
