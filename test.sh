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

# Serverless Framework v3 for tests/test_deploy_files.py (`serverless print`), installed outside the work
# tree (sam build and Vercel must never package node_modules); reused while the lockfile is unchanged.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
SLS_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/uni-gateway/serverless"
if ! cmp -s tests/deploy/package-lock.json "$SLS_HOME/package-lock.json" || [ ! -x "$SLS_HOME/node_modules/.bin/serverless" ]; then
  rm -rf "$SLS_HOME" && mkdir -p "$SLS_HOME"
  cp tests/deploy/package.json tests/deploy/package-lock.json "$SLS_HOME/"
  (cd "$SLS_HOME" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
export SERVERLESS_BIN="$SLS_HOME/node_modules/.bin/serverless"

# The openai npm package for tests/test_browser.py (its ESM files are served to the page), likewise
# outside the work tree and reused while tests/browser/package-lock.json is unchanged.
BROWSER_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/uni-gateway/browser"
if ! cmp -s tests/browser/package-lock.json "$BROWSER_HOME/package-lock.json" || [ ! -f "$BROWSER_HOME/node_modules/openai/index.mjs" ]; then
  rm -rf "$BROWSER_HOME" && mkdir -p "$BROWSER_HOME"
  cp tests/browser/package.json tests/browser/package-lock.json "$BROWSER_HOME/"
  (cd "$BROWSER_HOME" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
export BROWSER_NODE_MODULES="$BROWSER_HOME/node_modules"

# The Anthropic Node SDK for tests/test_anthropic_node.py, installed the same way from tests/node/anthropic/.
ANTHROPIC_NODE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/uni-gateway/anthropic-node"
if ! cmp -s tests/node/anthropic/package-lock.json "$ANTHROPIC_NODE_HOME/package-lock.json" \
    || [ ! -f "$ANTHROPIC_NODE_HOME/node_modules/@anthropic-ai/sdk/package.json" ]; then
  rm -rf "$ANTHROPIC_NODE_HOME" && mkdir -p "$ANTHROPIC_NODE_HOME"
  cp tests/node/anthropic/package.json tests/node/anthropic/package-lock.json "$ANTHROPIC_NODE_HOME/"
  (cd "$ANTHROPIC_NODE_HOME" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
export ANTHROPIC_NODE_MODULES="$ANTHROPIC_NODE_HOME/node_modules"

# The Vercel AI SDK (`ai`, `@ai-sdk/openai`) for tests/test_responses_ai_sdk.py, installed the same way.
AI_SDK_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/uni-gateway/ai-sdk"
if ! cmp -s tests/node/ai-sdk/package-lock.json "$AI_SDK_HOME/package-lock.json" || [ ! -d "$AI_SDK_HOME/node_modules/@ai-sdk/openai" ]; then
  rm -rf "$AI_SDK_HOME" && mkdir -p "$AI_SDK_HOME"
  cp tests/node/ai-sdk/package.json tests/node/ai-sdk/package-lock.json "$AI_SDK_HOME/"
  (cd "$AI_SDK_HOME" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
export AI_SDK_HOME

# The lint and type gate (ruff.toml, mypy.ini): shared/ stays ruff-clean and mypy --strict clean.
"$PYTHON" -m ruff check shared
"$PYTHON" -m mypy

exec "$PYTHON" -m pytest -q "$@"
