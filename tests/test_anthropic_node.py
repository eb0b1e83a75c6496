"""The official Anthropic Node SDK (``@anthropic-ai/sdk``, pinned in tests/node/anthropic/) against a
running gateway: create, stream, a streamed tool call and countTokens, on a translated (OpenAI) and
a native (Anthropic) upstream, and an authentication error.

``./test.sh`` installs the SDK outside the work tree (``~/.cache/uni-gateway/anthropic-node``) from
the committed ``package.json`` and ``package-lock.json``, as it installs the Serverless Framework.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.builders import config, provider
from tests.conftest import ROOT, USER
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.anthropic_fake import Reply as AReply
from tests.fakes.openai_fake import Reply as OReply

SCRIPT = os.path.join(ROOT, "tests", "node", "anthropic", "client.cjs")


def sdk_modules() -> str:
    """The ``node_modules`` holding ``@anthropic-ai/sdk``, as test.sh installs it (or $ANTHROPIC_NODE_MODULES)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    for candidate in (os.environ.get("ANTHROPIC_NODE_MODULES", ""), os.path.join(cache, "uni-gateway", "anthropic-node", "node_modules")):
        if candidate and os.path.isfile(os.path.join(candidate, "@anthropic-ai", "sdk", "package.json")):
            return candidate
    pytest.fail("@anthropic-ai/sdk is not installed. Install it as test.sh does: copy tests/node/anthropic/package*.json to "
                "~/.cache/uni-gateway/anthropic-node and run `npm ci --ignore-scripts` there (or set ANTHROPIC_NODE_MODULES).")


def test_the_anthropic_node_sdk_creates_streams_calls_tools_and_counts(fake_factory, gateway_factory) -> None:
    modules = sdk_modules()
    openai_fake, claude_fake = fake_factory("oa"), fake_factory(kind=FakeAnthropic)
    gw = gateway_factory(config(provider("oa", openai_fake, models=[{"gpt-4o": "gpt"}]),
                                provider("claude", claude_fake, path="/v1/messages", api="sk-ant-key-1", models=[{"claude-sonnet-4-20250514": "claude"}])))
    openai_fake.then(OReply(), OReply(), OReply(tool_calls=[{"id": "call_1", "type": "function",
                                                             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]))
    claude_fake.then(AReply(), AReply(), AReply(tool_calls=[{"id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]))
    env = {**os.environ, "NODE_PATH": modules}
    done = subprocess.run(["node", SCRIPT, gw.url, USER, "gpt", "claude"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for model, name in (("gpt", "oa"), ("claude", "claude")):
        result = got["results"][model]
        assert result["created"]["content"] == [{"type": "text", "text": f"{name} says: hello from node"}]
        assert result["created"]["model"] == model and result["created"]["stop_reason"] == "end_turn"
        assert result["text"] == f"{name} says: stream from node"
        assert result["streamed"]["content"][0]["text"] == result["text"] and result["streamed"]["usage"]["output_tokens"] >= 1
        call = result["toolCall"]["content"][-1]
        assert (call["type"], call["name"], call["input"]) == ("tool_use", "get_weather", {"city": "Paris"})
        assert result["toolCall"]["stop_reason"] == "tool_use"
        assert result["counted"]["input_tokens"] >= 1
    assert got["denied"] == {"status": 401, "type": "authentication_error", "name": "AuthenticationError"}
    assert claude_fake.requests[-1]["path"] == "/v1/messages/count_tokens"
