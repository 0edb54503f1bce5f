#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine, idempotently:
# Debian packages (MariaDB server, Maven, Java 17, iproute2), the Python venv with the project,
# and the jars from Maven Central (cached in ~/.m2). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Debian packages (skipped when present). mariadb-server-core has the server without the system service,
#    so nothing else claims port 3306; our stack runs its own instance.
need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server-core)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client-core)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# Headless Chromium for the live page's browser test (Debian's build; nothing downloaded
# by a test tool).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# iproute2's `ip` makes the local cluster's hosts (network namespaces, veth pairs, a bridge).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The MySQL driver (mysqlclient) is built by pip against MariaDB's Connector/C: its headers,
# pkg-config to find them, a C compiler and Python's headers.
pkg-config --exists libmariadb 2>/dev/null || need+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
${PYTHON:-python3} -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "Java 17 or newer is needed (found ${java_major:-none}): apt-get install openjdk-17-jre-headless" >&2
  exit 1
fi

# 2. The Python venv, reinstalled only when pyproject.toml changes.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.topproducts-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages into .venv (first time: a few minutes; pyspark is large)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# 3. Jars from Maven Central into ~/.m2 (Kafka, Cassandra, Spark's Kafka source).
log "resolving jars from Maven Central (cached in ~/.m2)"
.venv/bin/python -c '
from topproducts.settings import get_settings
from topproducts.stack import maven
for c in maven.COMPONENTS:
    print(f"  {c}: {len(maven.classpath(c, get_settings()))} jars")
'
log "ready in ${SECONDS}s"
