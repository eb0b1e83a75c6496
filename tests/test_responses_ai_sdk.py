"""The Vercel AI SDK (``ai`` + ``@ai-sdk/openai``, real npm packages) against the gateway: its default
OpenAI provider speaks the Responses API, ``.chat()`` speaks Chat Completions; ``generateText`` and
``streamText``, a tool loop, an error. The gateway answers with the built-in mock engine.

The packages are installed by ``./test.sh`` from ``tests/node/ai-sdk/package*.json`` into
``~/.cache/uni-gateway/ai-sdk`` (outside the work tree, like the Serverless Framework); the script
runs from a temporary directory whose ``node_modules`` points there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.builders import config, provider
from tests.conftest import ROOT, USER

SCRIPT = Path(ROOT) / "tests" / "node" / "ai-sdk" / "check.mjs"


def node_modules() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    found = Path(os.environ.get("AI_SDK_HOME") or Path(cache) / "uni-gateway" / "ai-sdk") / "node_modules"
    if not (found / "ai").is_dir() or not (found / "@ai-sdk" / "openai").is_dir() or shutil.which("node") is None:
        pytest.fail("The Vercel AI SDK is not installed. Install it as ./test.sh does: copy tests/node/ai-sdk/package*.json to "
                    "~/.cache/uni-gateway/ai-sdk and run `npm ci --ignore-scripts` there (or set AI_SDK_HOME).")
    return found


def test_vercel_ai_sdk_through_responses_and_chat(gateway_factory, tmp_path: Path) -> None:
    modules = node_modules()
    gw = gateway_factory(config(provider("mock", None, api=None, models=["mock-model"], engine="mock")))
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    shutil.copy(SCRIPT, tmp_path / "check.mjs")
    env = {**os.environ, "GATEWAY_URL": gw.url, "GATEWAY_KEY": USER}
    run = subprocess.run(["node", "check.mjs"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    plain = out["responsesGenerate"]
    assert plain["text"] == "mock answer to: Hello responses" and plain["id"].startswith("resp_")
    assert plain["finishReason"] == "stop" and plain["usage"]["inputTokens"] == 2 and plain["usage"]["outputTokens"] == 5
    stream = out["responsesStream"]
    assert stream["text"] == "mock answer to: Hello stream" and stream["finishReason"] == "stop" and stream["usage"]["outputTokens"] == 5

    tools = out["responsesTools"]
    assert tools["calls"] == [{"name": "get_weather", "input": {"city": "mock"}}] and tools["results"] == ["sunny in mock"]
    assert tools["steps"] == 2 and tools["text"] == "mock got the tool result: sunny in mock"
    assert out["responsesToolsStream"]["text"] == "mock got the tool result: sunny in mock"

    assert out["chatGenerate"]["text"] == "mock answer to: Hello chat" and out["chatGenerate"]["finishReason"] == "stop"
    assert out["chatStream"]["text"] == "mock answer to: Hello chat stream"
    assert out["error"]["status"] == 400 and "mock status 400" in out["error"]["message"]
