"""Hostile chat requests through a real gateway to every upstream format, streamed and not.

A hand-written corpus of bodies with a wrong type (or an absurd value) in every field a translator
reads is sent as raw JSON (httpx, not the SDK, so any shape can be sent) to a model on each wire
format: OpenAI-compatible, Anthropic, Gemini, and Vertex AI with Gemini and Claude models, against
the fake upstreams of ``tests/fakes``. Whatever comes in:

* the gateway never answers 500;
* every 4xx is a well-formed OpenAI error object, and where the corpus names the field at fault,
  the translating adapters answer 400 with exactly that ``param``;
* every 200 is a chat completion, or a stream whose events are JSON and which ends with
  ``data: [DONE]``.

The OpenAI-compatible adapter forwards bodies as they are (its upstream judges them), so for it
only the gateway's own checks are asserted; what the fake OpenAI server makes of junk (it is not a
validating fake) may be a 502 naming the failed upstream, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.providers import google_auth
from tests.conftest import USER
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGoogle, make_service_account
from tests.fakes.openai_fake import FakeOpenAI

EMAIL = "hostile-test@test-project.iam.gserviceaccount.com"
# model -> family (which translator serves it)
TARGETS = {"gpt-4o": "openai", "claude": "anthropic", "gemini-2.5-flash": "gemini", "vx-gemini": "gemini", "vx-claude": "anthropic"}
HI = [{"role": "user", "content": "hi"}]
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
RAW = "__raw__"  # a string value replaced by raw JSON text (NaN, 1e400…) when the body is encoded


def call(call_id: str = "call_1", **function: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}", **function}}


def with_call(*calls: Any, tool: Any = None) -> list[dict[str, Any]]:
    """A user turn, an assistant turn with ``calls``, and optionally a tool message."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": list(calls)}]
    if tool is not None:
        messages.append(tool)
    return messages


def part(**kw: Any) -> list[dict[str, Any]]:
    """One user message whose content is the single part ``kw``."""
    return [{"role": "user", "content": [kw]}]


def nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def node_schema(refs: int) -> dict[str, Any]:
    """The audit's schema: a ``$defs`` entry that refers to itself ``refs`` times."""
    return {"type": "object", "properties": {"root": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "object", "properties": {chr(97 + i): {"$ref": "#/$defs/node"} for i in range(refs)}}}}


def doubling_chain(length: int) -> dict[str, Any]:
    """No recursion, but each definition uses the next one twice: 2**length copies if inlined blindly."""
    defs = {f"d{i}": {"type": "object", "properties": {"l": {"$ref": f"#/$defs/d{i + 1}"}, "r": {"$ref": f"#/$defs/d{i + 1}"}}}
            for i in range(length)}
    defs[f"d{length}"] = {"type": "string"}
    return {"type": "object", "properties": {"top": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def tool(**function: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "f", **function}}]


@dataclass
class Case:
    name: str
    body: dict[str, Any]  # merged over {"messages": HI}; "model" is the target's unless given
    param: str | dict[str, str] | None = None  # the field the translating adapters must name (per family, "*" = every model)
    raw: str | None = None  # raw JSON text for the RAW placeholder


CASES = [
    # -- the body's own shape (checked before any adapter) --------------------------------------------------
    Case("messages-empty", {"messages": []}, {"*": "messages"}),
    Case("role-number", {"messages": [{"role": 5, "content": "hi"}]}, {"*": "messages"}),
    Case("stream-string", {"stream": "yes"}, {"*": "stream"}),
    Case("model-empty", {"model": ""}, {"*": "model"}),
    Case("model-lone-surrogate", {"model": "\ud800"}, {"*": "model"}),
    Case("model-long-unknown", {"model": "m" * 100_000}, {"*": "model"}),
    Case("model-unicode-unknown", {"model": "模型-🙂"}, {"*": "model"}),
    # -- message content ------------------------------------------------------------------------------------
    Case("content-number", {"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    Case("content-object", {"messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
    Case("content-part-number", {"messages": [{"role": "user", "content": [42]}]}, "messages[0].content[0]"),
    Case("content-part-empty-object", {"messages": part()}, "messages[0].content[0].type"),
    Case("part-type-list", {"messages": part(type=["text"], text="hi")}, "messages[0].content[0].type"),
    Case("part-type-unknown", {"messages": part(type="video", video="x")}, "messages[0].content[0].type"),
    Case("text-number", {"messages": part(type="text", text=42)}, "messages[0].content[0].text"),
    Case("text-list", {"messages": part(type="text", text=["a", "b"])}, "messages[0].content[0].text"),
    Case("text-missing", {"messages": part(type="text")}, "messages[0].content[0].text"),
    Case("image-url-number", {"messages": part(type="image_url", image_url=42)}, "messages[0].content[0].image_url"),
    Case("image-url-url-number", {"messages": part(type="image_url", image_url={"url": 42})}, "messages[0].content[0].image_url"),
    Case("image-url-url-empty", {"messages": part(type="image_url", image_url={"url": ""})}, "messages[0].content[0].image_url"),
    Case("image-url-list", {"messages": part(type="image_url", image_url=[PNG])}, "messages[0].content[0].image_url"),
    Case("image-data-url-without-base64", {"messages": part(type="image_url", image_url={"url": "data:image/png,abc"})},
         "messages[0].content[0].image_url"),
    Case("image-ftp-url", {"messages": part(type="image_url", image_url={"url": "ftp://example.com/a.png"})},
         {"anthropic": "messages[0].content[0].image_url"}),
    Case("image-bmp", {"messages": part(type="image_url", image_url={"url": "data:image/bmp;base64,AAAA"})},
         {"anthropic": "messages[0].content[0].image_url"}),
    Case("input-audio-string", {"messages": part(type="input_audio", input_audio="AAAA")},
         {"gemini": "messages[0].content[0].input_audio", "anthropic": "messages[0].content[0]"}),
    Case("input-audio-data-number", {"messages": part(type="input_audio", input_audio={"data": 5, "format": "wav"})},
         {"gemini": "messages[0].content[0].input_audio.data", "anthropic": "messages[0].content[0]"}),
    Case("file-string", {"messages": part(type="file", file="x")}, "messages[0].content[0].file"),
    Case("file-id-only", {"messages": part(type="file", file={"file_id": "file-1"})}, "messages[0].content[0].file"),
    Case("file-data-number", {"messages": part(type="file", file={"file_data": 5})},
         {"gemini": "messages[0].content[0].file.file_data", "anthropic": "messages[0].content[0].file"}),
    Case("refusal-part-number", {"messages": [{"role": "assistant", "content": [{"type": "refusal", "refusal": 5}]}, *HI]},
         "messages[0].content[0].refusal"),
    Case("content-deeply-nested", {"messages": [{"role": "user", "content": [nested(900)]}]}, "messages[0].content[0]"),
    Case("content-deep-list", {"messages": [{"role": "user", "content": nested(900)}]}, "messages[0].content[0].type"),
    Case("content-empty-string", {"messages": [{"role": "user", "content": ""}]}),
    # Lone surrogates go where the fakes do not echo them back (they could not encode their answer).
    Case("system-lone-surrogates", {"messages": [{"role": "system", "content": "\ud800 and \udfff"}, *HI]}),
    Case("system-part-lone-surrogate", {"messages": [{"role": "system", "content": [{"type": "text", "text": "a\udfffb"}]}, *HI]}),
    Case("content-very-long", {"messages": [{"role": "user", "content": "x" * 2_000_000}]}),
    Case("content-many-parts", {"messages": [{"role": "user", "content": [{"type": "text", "text": ""}] * 20_000
                                                                         + [{"type": "text", "text": "p"}]}]}),
    Case("many-messages", {"messages": [{"role": "user", "content": "m"}, {"role": "assistant", "content": "n"}] * 2_500 + HI}),
    # -- roles and message fields ---------------------------------------------------------------------------
    Case("role-unknown", {"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    Case("system-content-number", {"messages": [{"role": "system", "content": 5}, *HI]}, "messages[0].content"),
    Case("system-text-number", {"messages": [{"role": "system", "content": [{"type": "text", "text": 5}]}, *HI]},
         "messages[0].content[0].text"),
    Case("system-image-part", {"messages": [{"role": "system", "content": part(type="image_url", image_url={"url": PNG})[0]["content"]}, *HI]},
         {"anthropic": "messages[0].content[0]"}),
    Case("assistant-content-number", {"messages": [*HI, {"role": "assistant", "content": 5}, *HI]}, "messages[1].content"),
    Case("tool-calls-string", {"messages": [*HI, {"role": "assistant", "content": "x", "tool_calls": "x"}, *HI]}, "messages[1].tool_calls"),
    Case("tool-calls-number", {"messages": [*HI, {"role": "assistant", "content": "x", "tool_calls": 7}, *HI]}, "messages[1].tool_calls"),
    Case("tool-call-number", {"messages": with_call(5)}, "messages[1].tool_calls[0]"),
    Case("tool-call-function-string", {"messages": with_call({"id": "c", "type": "function", "function": "f"})},
         "messages[1].tool_calls[0].function"),
    Case("tool-call-name-number", {"messages": with_call(call(name=5))}, "messages[1].tool_calls[0].function.name"),
    Case("tool-call-arguments-number", {"messages": with_call(call(arguments=5))}, "messages[1].tool_calls[0].function.arguments"),
    Case("tool-call-arguments-list", {"messages": with_call(call(arguments=[1, 2]))}, "messages[1].tool_calls[0].function.arguments"),
    Case("tool-call-arguments-deep-json", {"messages": with_call(call(arguments="[" * 5000 + "]" * 5000))},
         {"gemini": "messages[1].tool_calls[0].function.arguments"}),
    Case("tool-call-id-number", {"messages": with_call(call(call_id=5))}, "messages[1].tool_calls[0].id"),
    Case("tool-call-name-lone-surrogate", {"messages": with_call(call(name="f\ud800"),
                                                                 tool={"role": "tool", "tool_call_id": "call_1", "content": "1"}),
                                           "tools": tool(description="\udfff")}),
    Case("tool-message-call-id-number", {"messages": with_call(call(), tool={"role": "tool", "tool_call_id": 5, "content": "1"})},
         "messages[2].tool_call_id"),
    Case("tool-message-content-object", {"messages": with_call(call(), tool={"role": "tool", "tool_call_id": "call_1", "content": {"a": 1}})},
         "messages[2].content"),
    Case("tool-message-unknown-call", {"messages": with_call(call(), tool={"role": "tool", "tool_call_id": "nope", "content": "1"})},
         {"gemini": "messages[2].tool_call_id"}),
    Case("tool-message-content-deep-json", {"messages": with_call(call(), tool={"role": "tool", "tool_call_id": "call_1",
                                                                                 "content": "[" * 5000 + "]" * 5000})}),
    Case("thinking-blocks-garbage", {"messages": [*HI, {"role": "assistant", "content": "x", "thinking_blocks": [5, {"type": "thinking",
                                                                                                                      "signature": 5}]}, *HI]}),
    Case("refusal-number", {"messages": [*HI, {"role": "assistant", "content": None, "refusal": 5}, *HI]}),
    Case("name-object", {"messages": [{"role": "user", "content": "hi", "name": {"a": 1}}]}),
    # -- tools and tool_choice ------------------------------------------------------------------------------
    Case("tools-string", {"tools": "f"}, "tools"),
    Case("tools-number-item", {"tools": [5]}, "tools[0]"),
    Case("tools-function-string", {"tools": [{"type": "function", "function": "f"}]}, "tools[0].function"),
    Case("tools-name-number", {"tools": [{"type": "function", "function": {"name": 5}}]}, "tools[0].function.name"),
    Case("tools-name-empty", {"tools": tool(name="")}, "tools[0].function.name"),
    Case("tools-type-other", {"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
    Case("tools-description-number", {"tools": tool(description=5)}, "tools[0].function.description"),
    Case("tools-parameters-string", {"tools": tool(parameters="x")}, "tools[0].function.parameters"),
    Case("tools-parameters-list", {"tools": tool(parameters=[["type", "object"]])}, "tools[0].function.parameters"),
    Case("tools-schema-self-reference-3x", {"tools": tool(parameters=node_schema(3))}),
    Case("tools-schema-self-reference-12x", {"tools": tool(parameters=node_schema(12))}, {"gemini": "tools[0].function.parameters"}),
    Case("tools-schema-doubling-chain", {"tools": tool(parameters=doubling_chain(30))}),
    Case("tools-schema-deep", {"tools": tool(parameters={"type": "object", "properties": {"x": nested(600)}})}),
    Case("tools-schema-garbage-keywords", {"tools": tool(parameters={"type": "object", "properties": {
        "a": {"type": ["string", 5], "format": ["x"], "enum": [1, [2]], "required": [{"x": 1}], "allOf": [5, {"$ref": 5}]},
        "b": {"$ref": "#/$defs/missing"}, "c": {"anyOf": "x", "items": 5}}, "required": "a", "$defs": [1]})}),
    Case("tool-choice-number", {"tools": tool(), "tool_choice": 5}, "tool_choice"),
    Case("tool-choice-unknown-string", {"tools": tool(), "tool_choice": "sometimes"}, "tool_choice"),
    Case("tool-choice-function-string", {"tools": tool(), "tool_choice": {"type": "function", "function": "f"}}, "tool_choice.function"),
    Case("tool-choice-name-number", {"tools": tool(), "tool_choice": {"type": "function", "function": {"name": 5}}},
         "tool_choice.function.name"),
    Case("tool-choice-allowed-list", {"tools": tool(), "tool_choice": {"type": "allowed_tools", "allowed_tools": []}},
         "tool_choice.allowed_tools"),
    Case("tool-choice-allowed-name-object", {"tools": tool(), "tool_choice": {"type": "allowed_tools", "allowed_tools": {
        "mode": "auto", "tools": [{"type": "function", "function": {"name": {"x": 1}}}]}}}, "tool_choice.allowed_tools.tools[0].function.name"),
    Case("tool-choice-type-unknown", {"tools": tool(), "tool_choice": {"type": "magic"}}, "tool_choice.type"),
    Case("parallel-tool-calls-string", {"tools": tool(), "parallel_tool_calls": "yes"}, {"anthropic": "parallel_tool_calls"}),
    Case("functions-deprecated", {"functions": [{"name": "f"}]}, {"anthropic": "functions"}),
    # -- output options -------------------------------------------------------------------------------------
    Case("response-format-string", {"response_format": "json"}, "response_format"),
    Case("response-format-type-number", {"response_format": {"type": 5}}, "response_format.type"),
    Case("response-format-type-unknown", {"response_format": {"type": "yaml"}}, "response_format.type"),
    Case("response-format-json-schema-string", {"response_format": {"type": "json_schema", "json_schema": "x"}},
         "response_format.json_schema"),
    Case("response-format-schema-list", {"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": [1]}}},
         "response_format.json_schema.schema"),
    Case("response-format-schema-recursive", {"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": node_schema(3)}}}),
    Case("reasoning-effort-number", {"reasoning_effort": 5}, "reasoning_effort"),
    Case("reasoning-effort-list", {"reasoning_effort": ["high"]}, "reasoning_effort"),
    Case("reasoning-effort-unknown", {"reasoning_effort": "ludicrous"}, "reasoning_effort"),
    Case("stop-number", {"stop": 5}, "stop"),
    Case("stop-list-of-numbers", {"stop": [1, 2]}, "stop[0]"),
    Case("stop-object", {"stop": {"a": 1}}, "stop"),
    Case("stop-lone-surrogate", {"stop": ["\ud800"]}),
    Case("max-tokens-string", {"max_tokens": "100"}, "max_tokens"),
    Case("max-tokens-negative", {"max_tokens": -5}, "max_tokens"),
    Case("max-tokens-zero", {"max_tokens": 0}, "max_tokens"),
    Case("max-tokens-float", {"max_tokens": 10.5}, "max_tokens"),
    Case("max-tokens-1e400", {"max_tokens": RAW}, "max_tokens", raw="1e400"),
    Case("max-tokens-huge-int", {"max_tokens": 10**30}),
    Case("max-completion-tokens-bool", {"max_completion_tokens": True}, "max_completion_tokens"),
    Case("n-string", {"n": "2"}, "n"),
    Case("n-three", {"n": 3}, "n"),
    Case("temperature-string", {"temperature": "hot"}, "temperature"),
    Case("temperature-nan", {"temperature": RAW}, "temperature", raw="NaN"),
    Case("temperature-infinity", {"temperature": RAW}, "temperature", raw="-Infinity"),
    Case("temperature-1e400", {"temperature": RAW}, "temperature", raw="1e400"),
    Case("temperature-huge-int", {"temperature": RAW}, "temperature", raw="9" * 400),
    Case("temperature-list", {"temperature": [0.5]}, "temperature"),
    Case("temperature-object", {"temperature": {"value": 1}}, "temperature"),
    Case("top-p-string", {"top_p": "x"}, "top_p"),
    Case("seed-float", {"seed": 1.5}, {"gemini": "seed"}),
    Case("top-k-string", {"top_k": "5"}, {"anthropic": "top_k"}),
    Case("stream-options-string", {"stream_options": "yes"}),
    Case("stream-options-include-usage-string", {"stream_options": {"include_usage": "yes"}}),
    Case("user-number", {"user": 5}, {"anthropic": "user"}),
    Case("thinking-string", {"thinking": "on"}, {"anthropic": "thinking"}),
    Case("output-config-number", {"output_config": 5}, {"anthropic": "output_config"}),
    Case("metadata-deeply-nested", {"metadata": nested(900)}),
]


def encode(case: Case, model: str, stream: bool) -> bytes:
    body = {"model": model, "messages": HI, **case.body, "stream": case.body.get("stream", stream)}
    text = json.dumps(body)  # ASCII-escaped: lone surrogates travel as \ud800, as a client would send them
    if case.raw is not None:
        text = text.replace(json.dumps(RAW), case.raw)
    return text.encode()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Any]]:
    google_auth.reset()
    private_key, public_key = make_service_account()
    fakes = {"openai": FakeOpenAI("oa").start(), "anthropic": FakeAnthropic().start(),
             "google": FakeGoogle(accounts={EMAIL: public_key}).start()}
    yield {"fakes": fakes, "private_key": private_key}
    for fake in fakes.values():
        fake.stop()
    google_auth.reset()


@pytest.fixture
def gateway(upstreams, gateway_factory):
    fakes = upstreams["fakes"]
    google = fakes["google"].url
    return gateway_factory(f"""
providers:
  - provider: oa
    base_url: {fakes["openai"].url}/v1/chat/completions
    api: sk-upstream-key-1
    model: [gpt-4o]
  - provider: an
    base_url: {fakes["anthropic"].url}/v1/messages
    api: sk-ant-key-1
    model:
      - claude-sonnet-4-20250514: claude
  - provider: ge
    base_url: {google}/v1beta
    api: gemini-key-1
    model: [gemini-2.5-flash]
  - provider: vx
    base_url: {google}
    project_id: test-project
    client_email: {EMAIL}
    private_key: ${{VERTEX_PRIVATE_KEY}}
    token_uri: {google}/token
    region: us-east5
    model:
      - gemini-2.5-flash: vx-gemini
      - claude-sonnet-4@20250514: vx-claude
""", env={"VERTEX_PRIVATE_KEY": upstreams["private_key"]})


def test_the_corpus_is_large_and_names_its_cases_once() -> None:
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)


def problems_with(response: httpx.Response, case: Case, family: str, stream: bool) -> list[str]:
    """What is wrong with one answer (nothing: [])."""
    status = response.status_code
    if status == 500:
        return [f"500: {response.text[:300]}"]
    expected = case.param if isinstance(case.param, dict) else ({"anthropic": case.param, "gemini": case.param} if case.param else {})
    want = expected.get("*", expected.get(family))
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            return [f"{status} with a body that is not JSON: {response.text[:200]!r}"]
        error = body.get("error") if isinstance(body, dict) and list(body) == ["error"] else None
        if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
            return [f"{status} is not an OpenAI error object: {response.text[:300]}"]
        if not isinstance(error["message"], str) or not error["message"] or not isinstance(error["type"], str):
            return [f"{status}: bad message or type: {error}"]
        if not all(error[k] is None or isinstance(error[k], str) for k in ("param", "code")):
            return [f"{status}: bad param or code: {error}"]
        if status >= 500 and not (family == "openai" and status == 502):
            return [f"{status}: {error['message'][:300]}"]
        if want is not None and (status not in (400, 404) or error["param"] != want):
            return [f"expected a 400 naming {want!r}, got {status} param={error['param']!r}: {error['message'][:200]}"]
        return []
    if want is not None:
        return [f"expected a 400 naming {want!r}, got {status}"]
    if status != 200:
        return [f"unexpected status {status}"]
    if not stream:
        answer = response.json()
        return [] if isinstance(answer.get("choices"), list) else [f"200 without choices: {response.text[:200]}"]
    text = response.text
    if not text.endswith("data: [DONE]\n\n"):
        return [f"stream does not end with [DONE]: {text[-200:]!r}"]
    for event in text.split("\n\n")[:-2]:
        if not event.startswith("data: "):
            return [f"not a data event: {event[:100]!r}"]
        json.loads(event[6:])
    return []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", list(TARGETS))
def test_hostile_requests_get_a_clean_answer(gateway, model: str, stream: bool) -> None:
    family = TARGETS[model]
    failures = []
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {USER}", "content-type": "application/json"},
                      timeout=30) as client:
        for case in CASES:
            response = client.post("/v1/chat/completions", content=encode(case, model, stream))
            failures += [f"{case.name}: {p}" for p in problems_with(response, case, family, stream)]
    assert not failures, "\n".join(failures)
