#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what is missing, then runs pytest.
# Usage: ./test.sh [pytest args]     (CI runs exactly this, through .ci/run)
set -euo pipefail
cd "$(dirname "$0")"

# Python: $PYTHON if given, else the active virtual environment, else ./.venv (created on first use:
# Debian's and Ubuntu's system Python refuse `pip install`). Activated, so that subprocesses the tests
# start by name (python3, uvicorn, functions-framework) come from the same environment.
if [ -z "${PYTHON:-}" ]; then
  if [ -z "${VIRTUAL_ENV:-}" ]; then
    if [ ! -x .venv/bin/python ]; then
      if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv
      fi
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
  fi
  PYTHON=python
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# The shared-state tests run a real redis-server; the benchmark smoke test drives wrk; tests/test_browser.py
# drives Debian's chromium through Playwright (requirements-dev.txt; never `playwright install`: its own
# browser download is not used). Debian packages.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# Node packages the tests drive: Serverless Framework v3, the openai npm package (in a browser),
# the Anthropic Node SDK and the Vercel AI SDK.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
# npm_cache NAME LOCKDIR MARKER: install the npm packages pinned in LOCKDIR/package-lock.json into
# ~/.cache/uni-gateway/NAME (outside the work tree: sam build and Vercel must never package
# node_modules), again only when the lockfile changed or MARKER (a path under node_modules) is missing.
npm_cache() {
  local home="${XDG_CACHE_HOME:-$HOME/.cache}/uni-gateway/$1"
  if ! cmp -s "$2/package-lock.json" "$home/package-lock.json" || [ ! -e "$home/node_modules/$3" ]; then
    rm -rf "$home" && mkdir -p "$home"
    cp "$2/package.json" "$2/package-lock.json" "$home/"
    (cd "$home" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
  NPM_HOME="$home"
}

npm_cache serverless tests/deploy .bin/serverless  # tests/test_deploy_files.py (`serverless print`, `package`)
export SERVERLESS_BIN="$NPM_HOME/node_modules/.bin/serverless"
npm_cache browser tests/browser openai/index.mjs  # tests/test_browser.py: its ESM files are served to the page
export BROWSER_NODE_MODULES="$NPM_HOME/node_modules"
npm_cache anthropic-node tests/node/anthropic @anthropic-ai/sdk/package.json  # tests/test_anthropic_node.py
export ANTHROPIC_NODE_MODULES="$NPM_HOME/node_modules"
npm_cache ai-sdk tests/node/ai-sdk @ai-sdk/openai  # tests/test_responses_ai_sdk.py (the Vercel AI SDK)
export AI_SDK_HOME="$NPM_HOME"

# The lint and type gate (ruff.toml, mypy.ini): shared/ stays ruff-clean and mypy --strict clean.
"$PYTHON" -m ruff check shared
"$PYTHON" -m mypy

exec "$PYTHON" -m pytest -q "$@"
