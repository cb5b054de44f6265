#!/usr/bin/env bash
# Installs everything shardkeeper needs on a fresh Debian machine: Debian packages for the
# MariaDB tools, then a virtualenv with the project and its dev extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mariadb-backup >/dev/null 2>&1 || missing+=(mariadb-backup)
command -v mbstream >/dev/null 2>&1 || missing+=(mariadb-backup)
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  # policy-rc.d keeps a freshly installed mariadb-server from starting a service: the
  # project starts its own instances and must not touch the machine's.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq \
    --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
# The foreign-client test drives workflows from Node.js with @temporalio/client.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
else
  echo "setup: npm not found; the Node.js foreign-client test will fail" >&2
fi
echo "setup: done ($(.venv/bin/python --version), $(mariadb-backup --version 2>&1 | head -1))"
