#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what is missing, then runs pytest.
# Usage: ./test.sh [pytest args]     (CI runs exactly this, through .ci/run)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# The shared-state tests run a real redis-server (Debian package "redis-server").
if ! command -v redis-server >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq redis-server >/dev/null
fi

exec "$PYTHON" -m pytest -q "$@"
