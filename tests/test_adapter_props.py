"""Property tests of every adapter's edges: whatever a client sends or an upstream answers, only the
gateway's own errors leave an adapter.

Every adapter in the registry (``shared.providers.ENGINES``) gets one channel from a small config.
Client side, ``build_request`` (and ``prepare``, which encodes the payload) is fed random JSON
shapes that know the chat fields' names, and valid chat bodies with one value replaced by a random
one (or removed). Upstream side, ``parse_response``, the stream translators (``feed`` in random
pieces, then ``finish``), ``parse_error`` and ``parse_models`` are fed random bytes, random JSON and
valid answers with one value replaced. The only exceptions allowed out are :class:`UpstreamError`
(which includes the translators' 400s, :class:`InvalidRequest`) and :class:`GatewayError`; a 400
names its field, and what comes out is valid JSON.

Hypothesis runs derandomized (the same examples on every run), with bounded example counts.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config import parse_config_text
from shared.errors import GatewayError
from shared.providers import ENGINES
from shared.providers.base import InvalidRequest, ParsedResponse, StreamContext, UpstreamError, dumps
from shared.routing import Channel, compile_routes
from shared.settings import Settings
from tests.fakes.anthropic_fake import stream_events
from tests.fakes.gemini_fake import Call, GeminiReply, gemini_events

ALLOWED = (UpstreamError, GatewayError)
PROPS = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
FEW = settings(PROPS, max_examples=150)

CONFIG = """
providers:
  - provider: oa
    base_url: http://127.0.0.1:9/v1/chat/completions
    api: sk-test-key-0001
    model: [gpt-4o]
    preferences:
      post_body_parameter_overrides: {seed: 1}
  - provider: az
    base_url: https://example.openai.azure.com
    api: az-test-key-0001
    model: [gpt-4o]
  - provider: orr
    base_url: https://openrouter.ai/api/v1
    api: or-test-key-0001
    model: [gpt-4o]
  - provider: cf
    cf_account_id: acc
    api: cf-test-key-0001
    model: ["@cf/meta/llama-3.1-8b-instruct"]
  - provider: an
    base_url: https://api.anthropic.com/v1/messages
    api: an-test-key-0001
    model: [claude-sonnet-4-20250514]
  - provider: ge
    base_url: https://generativelanguage.googleapis.com/v1beta
    api: ge-test-key-0001
    model: [gemini-2.5-flash]
  - provider: vx
    project_id: test-project
    client_email: svc@test-project.iam.gserviceaccount.com
    private_key: "-----BEGIN PRIVATE KEY-----not-a-key-----END PRIVATE KEY-----"
    model: [gemini-2.5-flash, "claude-sonnet-4@20250514"]
  - provider: br
    base_url: https://bedrock-runtime.us-east-1.amazonaws.com
    aws_access_key: AKIDEXAMPLE0001
    aws_secret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
    model: ["anthropic.claude-3-5-sonnet-20240620-v1:0"]
  - provider: mk
    engine: mock
    model: [mock-model]
  - provider: db
    base_url: https://adb-1234.azuredatabricks.net
    api: dapi-test-key-0001
    model: [databricks-claude-sonnet-4]
"""
TABLE = compile_routes(parse_config_text(CONFIG, "props.yaml", {}), Settings.from_env({}))
CHANNELS: list[Channel] = list(TABLE.channels.values())
ADAPTERS = {c.provider.engine: c.provider.adapter for c in CHANNELS}
LOOP = asyncio.new_event_loop()


def test_every_engine_of_the_registry_is_covered() -> None:
    assert set(ADAPTERS) == set(ENGINES)
    assert {c.upstream_model for c in CHANNELS if c.provider.engine == "vertex"} == {"gemini-2.5-flash", "claude-sonnet-4@20250514"}


# -- strategies ---------------------------------------------------------------------------------

# Names the translators read, so random objects often hit a field that matters.
NAMES = [
    "model", "messages", "role", "content", "type", "text", "image_url", "url", "detail", "input_audio", "data", "format",
    "file", "file_data", "file_id", "refusal", "tool_calls", "id", "function", "name", "arguments", "tool_call_id",
    "thinking_blocks", "thinking", "signature", "redacted_thinking", "cache_control", "tools", "tool_choice", "parameters",
    "description", "properties", "items", "$ref", "$defs", "anyOf", "allOf", "oneOf", "enum", "required", "const",
    "allowed_tools", "mode", "response_format", "json_schema", "schema", "reasoning_effort", "stop", "max_tokens",
    "max_completion_tokens", "n", "temperature", "top_p", "top_k", "seed", "stream_options", "include_usage",
    "parallel_tool_calls", "user", "output_config", "extra_content", "google", "thought_signature",
    # upstream side
    "choices", "message", "delta", "usage", "prompt_tokens", "completion_tokens", "error", "code", "status", "details",
    "reason", "retryDelay", "errors", "success", "object", "candidates", "parts", "functionCall", "args", "thought",
    "thoughtSignature", "finishReason", "usageMetadata", "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
    "cachedContentTokenCount", "promptFeedback", "blockReason", "responseId", "index", "content_block", "input",
    "partial_json", "stop_reason", "input_tokens", "output_tokens", "cache_read_input_tokens", "models",
    "supportedGenerationMethods",
]
STRINGS = [
    "", "\ud800", "a\udfffb", "x" * 3000, "user", "assistant", "system", "developer", "tool", "function", "text",
    "image_url", "input_audio", "file", "refusal", "thinking", "redacted_thinking", "tool_use", "auto", "none",
    "required", "allowed_tools", "json_object", "json_schema", "object", "array", "string", "null", "high", "minimal",
    "data:image/png;base64,iVBORw0KGgo=", "data:;base64,", "data:image/bmp;base64,AAA", "https://example.com/a.png",
    "#/$defs/a", "#", "STOP", "SAFETY", "message_start", "content_block_start", "content_block_delta", "text_delta",
    "input_json_delta", "thinking_delta", "signature_delta", "message_delta", "message_stop", "error",
    "error", "{", '{"a": 1}', "[1, 2]", "12", "NaN", "call_0123456789abcdef01234567_ts_c2ln", "30s", "nans", "1e999s",
]
scalars = (st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -(10**30), 2**63, 0, -1, 1])
           | st.floats() | st.sampled_from(STRINGS) | st.text(max_size=12))
keys = st.sampled_from(NAMES) | st.text(max_size=6)
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
                           max_leaves=24)


def nested(depth: int) -> Any:
    """A value ``depth`` levels deep (JSON the parser still reads); its keys are a name translators look for."""
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"error" if depth % 2 else "content": value}
    return value


deep_values = st.integers(min_value=50, max_value=990).map(nested)
values = json_values | deep_values

PART_TYPES = st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "thinking", "redacted_thinking", "video"])
part = st.fixed_dictionaries({"type": PART_TYPES | values}, optional={name: values for name in (
    "text", "image_url", "input_audio", "file", "refusal", "thinking", "signature", "data", "cache_control")})
content = st.sampled_from(STRINGS) | st.lists(part | values, max_size=4) | values
tool_call = st.fixed_dictionaries({"id": st.sampled_from(STRINGS) | values, "type": st.just("function") | values,
                                   "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "get_weather"]) | values,
                                                                      "arguments": st.sampled_from(["{}", '{"a": 1}', "not json", "[[[["]) | values})
                                   | values})
message = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]) | values},
                                optional={"content": content, "tool_calls": st.lists(tool_call | values, max_size=3) | values,
                                          "tool_call_id": st.sampled_from(["call_1", "f"]) | values, "name": values,
                                          "thinking_blocks": values, "refusal": values})
tool = st.fixed_dictionaries({"type": st.just("function") | values,
                              "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "get_weather"]) | values},
                                                                optional={"description": values, "parameters": values}) | values},
                             optional={"cache_control": values})
TOP_FIELDS = ["tool_choice", "response_format", "reasoning_effort", "stop", "max_tokens", "max_completion_tokens", "n",
              "temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty", "stream_options",
              "parallel_tool_calls", "user", "safety_identifier", "thinking", "output_config", "functions", "function_call"]
random_bodies = st.fixed_dictionaries(
    {"model": st.just("m"), "messages": st.lists(message | values, min_size=1, max_size=4) | values},
    optional={"tools": st.lists(tool | values, max_size=3) | values, **{name: values for name in TOP_FIELDS}})

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "format": "uri"}, "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
                                           "kind": {"const": "x"}, "note": {"type": ["string", "null"]}, "all": {"allOf": [{"$ref": "#/$defs/tag"}]},
                                           "one": {"oneOf": [{"type": "integer"}, {"type": "null"}]}},
          "required": ["city"], "$defs": {"tag": {"type": "object", "properties": {"name": {"type": "string"}, "sub": {"$ref": "#/$defs/tag"}}}}}
VALID_BODIES: list[dict[str, Any]] = [
    {"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]},
        {"role": "developer", "content": "No emojis."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                                     {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}]},
        {"role": "assistant", "content": "Let me look.", "thinking_blocks": [{"type": "thinking", "thinking": "hm", "signature": "sig"}],
         "tool_calls": [{"id": "call_0123456789abcdef01234567_ts_c2ln", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_0123456789abcdef01234567_ts_c2ln", "content": [{"type": "text", "text": "{\"temp\": 3}"}]},
        {"role": "user", "content": "thanks"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}],
     "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False,
     "temperature": 0.5, "top_p": 0.9, "max_tokens": 100, "stop": ["END"], "seed": 7, "user": "u1",
     "stream_options": {"include_usage": True}},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]},
                                {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}], "refusal": "no"},
                                {"role": "function", "name": "f", "content": "1"}],
     "response_format": {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": SCHEMA}},
     "reasoning_effort": "high", "max_completion_tokens": 5000, "n": 1, "stop": "x",
     "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}],
     "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}}},
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5,
     "response_format": {"type": "json_object"}, "tool_choice": "auto", "output_config": {"effort": "high"}},
]


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (object keys and array indices)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield prefix + (key,)
            yield from paths_of(sub, prefix + (key,))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield prefix + (i,)
            yield from paths_of(sub, prefix + (i,))


def mutate(value: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    """A copy of ``value`` with the value at ``path`` replaced by ``new`` (or removed)."""
    out = copy.deepcopy(value)
    holder = out
    for step in path[:-1]:
        holder = holder[step]
    if delete and isinstance(holder, dict):
        holder.pop(path[-1], None)
    elif delete:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return out


def mutations(samples: list[Any], extra: tuple[tuple[Any, ...], ...] = ()) -> st.SearchStrategy[Any]:
    """A sample with one value replaced by a random one, or removed (``extra``: paths to add a value at)."""
    def one(sample: Any) -> st.SearchStrategy[Any]:
        paths = sorted(set(paths_of(sample)) | set(extra), key=repr)
        return st.builds(mutate, st.just(sample), st.sampled_from(paths), values, st.sampled_from([False, False, True]))
    return st.sampled_from(samples).flatmap(one)


mutated_bodies = mutations(VALID_BODIES, tuple((name,) for name in TOP_FIELDS))


# -- client side ----------------------------------------------------------------------------------

def build_all(body: dict[str, Any]) -> None:
    """``build_request`` (both ways) and the payload's encoding on every channel: a result or an allowed error."""
    for channel in CHANNELS:
        adapter = channel.provider.adapter
        for stream in (False, True):
            try:
                built = LOOP.run_until_complete(adapter.build_request(channel, None, body, stream))
                if channel.provider.engine == "vertex":  # prepare would fetch an OAuth token: encode like it does
                    json.loads(dumps(built.payload))
                else:
                    outbound = LOOP.run_until_complete(adapter.prepare(channel, None, built))
                    json.loads(outbound.content)
            except InvalidRequest as exc:
                assert exc.status == 400 and isinstance(exc.message, str) and len(exc.message) < 1000, exc.message
                assert exc.param is None or isinstance(exc.param, str)
            except ALLOWED:
                pass


def test_valid_bodies_translate_on_every_channel() -> None:
    """The bodies the mutations start from translate (the second uses audio and a ``function`` message,
    which Anthropic models cannot take)."""
    for i, body in enumerate(VALID_BODIES):
        for channel in CHANNELS:
            if i == 1 and "claude" in channel.upstream_model:
                continue
            if channel.provider.engine == "bedrock" and '"http' in json.dumps(body):
                continue  # Bedrock takes images only as data URLs (a clear 400 otherwise)
            built = LOOP.run_until_complete(channel.provider.adapter.build_request(channel, None, body, False))
            assert json.loads(dumps(built.payload))


@PROPS
@given(random_bodies)
def test_random_bodies_never_crash_a_translator(body: dict[str, Any]) -> None:
    build_all(body)


@PROPS
@given(mutated_bodies)
def test_valid_bodies_with_one_bad_value_never_crash_a_translator(body: dict[str, Any]) -> None:
    build_all(body)


@FEW
@given(values)
def test_any_json_as_the_body_never_crashes_a_translator(value: Any) -> None:
    build_all(value if isinstance(value, dict) else {"model": "m", "messages": value})


# -- upstream side --------------------------------------------------------------------------------

OPENAI_ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "tool_calls": [
                     {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
ANTHROPIC_ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                    "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "redacted_thinking", "data": "abc"},
                                {"type": "text", "text": "hi there"}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1]}}],
                    "stop_reason": "tool_use", "stop_sequence": None,
                    "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 1, "cache_creation_input_tokens": 2,
                              "output_tokens_details": {"thinking_tokens": 1}}}
GEMINI_EVENTS = gemini_events(GeminiReply(text="hello there you", thoughts="let me think", usage_after_finish=True,
                                          calls=[Call("f", {"a": 1}, signature="c2lnbmF0dXJl"), Call("g", {})]),
                              "hello there you", 5, "resp-1", "gemini-2.5-flash")
GEMINI_ANSWER = {"candidates": [{"content": {"role": "model", "parts": [
    {"text": "hm", "thought": True}, {"text": "hi"}, {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]},
    "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "thoughtsTokenCount": 1, "cachedContentTokenCount": 1},
    "responseId": "resp-1", "promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "no"}}
ANSWERS = [OPENAI_ANSWER, ANTHROPIC_ANSWER, GEMINI_ANSWER, [GEMINI_ANSWER],
           {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}},
           {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]
OPENAI_EVENTS = [{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
                 {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
                 {"error": {"message": "boom", "code": 503}}]
ANTHROPIC_EVENTS = [data for _, data in stream_events(ANTHROPIC_ANSWER)]
STREAMS: list[list[Any]] = [OPENAI_EVENTS, ANTHROPIC_EVENTS, GEMINI_EVENTS]
ERRORS = [{"type": "error", "error": {"type": "rate_limit_error", "message": "prompt is too long"}},
          [{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT",
                      "details": [{"reason": "API_KEY_INVALID"}, {"retryDelay": "7s"}]}}],
          {"error": {"message": "m", "type": "t", "code": "c", "param": "messages"}}, {"error": "plain"},
          {"object": "error", "message": "vllm", "type": "BadRequestError", "code": 400},
          {"success": False, "errors": [{"code": 7000, "message": "cf"}]}, {"message": "bare"}]
MODEL_LISTS = [{"data": [{"id": "gpt-4o"}, {"id": "x"}]},
               {"models": [{"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]}]}]

random_bytes = st.binary(max_size=300)
too_deep = st.integers(min_value=990, max_value=5000).flatmap(
    lambda n: st.sampled_from([b"[" * n + b"]" * n, b'{"error": ' + b"[" * n, b'{"choices": [], "usage": ' + b"[" * n]))
json_bytes = values.map(dumps) | too_deep
answers = random_bytes | json_bytes | mutations(ANSWERS).map(dumps) | st.sampled_from(ANSWERS).map(dumps)


def assert_usage(usage: Any) -> None:
    """What the dispatcher records: integer token counts."""
    assert usage is None or (isinstance(usage, dict) and all(
        isinstance(usage.get(name, 0), int) and not isinstance(usage.get(name, 0), bool) for name in ("prompt_tokens", "completion_tokens")))


def ctx() -> StreamContext:
    return StreamContext(model="m", include_usage=True)


@PROPS
@given(answers)
def test_any_answer_body_parses_to_a_result_or_a_gateway_error(data: bytes) -> None:
    for channel in CHANNELS:
        try:
            parsed = channel.provider.adapter.parse_response(channel, data, ctx())
        except ALLOWED:
            continue
        assert isinstance(parsed, ParsedResponse) and isinstance(json.loads(parsed.body), dict)
        assert_usage(parsed.usage)
    for adapter in ADAPTERS.values():
        if adapter.supports("moderations"):
            try:
                assert_usage(adapter.parse_endpoint("moderations", CHANNELS[0], data, ctx()).usage)
            except ALLOWED:
                pass


def frame(events: list[Any], style: int) -> bytes:
    """Events as SSE bytes: OpenAI's ``data:`` lines ending in ``[DONE]``, Anthropic's ``event:`` +
    ``data:``, or Google's CRLF."""
    if style == 0:
        return b"".join(b"data: " + dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    if style == 1:
        kinds = [e.get("type") if isinstance(e, dict) and isinstance(e.get("type"), str) else "message" for e in events]
        return b"".join(b"event: " + dumps(k)[1:-1] + b"\ndata: " + dumps(e) + b"\n\n" for k, e in zip(kinds, events, strict=True))
    return b"".join(b"data: " + dumps(e) + b"\r\n\r\n" for e in events)


def mutated_stream(sample: list[Any]) -> st.SearchStrategy[list[Any]]:
    return mutations([sample])


streams = st.one_of(
    st.tuples(st.sampled_from(STREAMS).flatmap(mutated_stream), st.integers(0, 2)).map(lambda t: frame(t[0], t[1])),
    st.tuples(st.lists(values, max_size=5), st.integers(0, 2)).map(lambda t: frame(t[0], t[1])),
    random_bytes,
    st.sampled_from(STREAMS).map(lambda s: frame(s, 1)),
)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@PROPS
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=6))
def test_any_stream_translates_to_events_or_a_gateway_error(data: bytes, cuts: list[int]) -> None:
    for channel in CHANNELS:
        translator = channel.provider.adapter.stream(channel, ctx())
        out: list[bytes] = []
        try:
            for piece in pieces(data, cuts):
                out += translator.feed(piece)
                if translator.error is not None:
                    break
            else:
                out += translator.finish()
        except ALLOWED:
            continue
        assert translator.error is None or isinstance(translator.error, UpstreamError)
        assert_usage(translator.usage)
        for event in out:
            assert event.startswith(b"data: ") and event.endswith(b"\n\n")
            if channel.provider.engine in ("anthropic", "gemini", "vertex"):  # translated: our own JSON
                json.loads(event[6:])


error_bodies = random_bytes | json_bytes | mutations(ERRORS).map(dumps) | st.sampled_from(ERRORS).map(dumps)
headers = st.sampled_from([{}, {"retry-after": "3"}, {"retry-after-ms": "1500"}, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}])


@PROPS
@given(st.integers(min_value=400, max_value=599), error_bodies, headers)
def test_any_error_body_parses_to_an_upstream_error(status: int, data: bytes, head: dict[str, str]) -> None:
    for engine, adapter in ADAPTERS.items():
        err = adapter.parse_error(status, data, head)
        assert isinstance(err, UpstreamError), engine
        assert isinstance(err.message, str) and 400 <= err.status <= 599
        assert err.type is None or isinstance(err.type, str)
        assert err.code is None or isinstance(err.code, str)
        assert err.param is None or isinstance(err.param, str)
        assert err.retry_after is None or 0 <= err.retry_after < float("inf")


@FEW
@given(values | mutations(MODEL_LISTS))
def test_any_model_list_parses_to_names(obj: Any) -> None:
    for adapter in ADAPTERS.values():
        names = adapter.parse_models(obj)
        assert isinstance(names, list) and all(isinstance(n, str) for n in names)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_valid_samples_parse(engine: str) -> None:
    """The samples the mutations start from are good answers for their own format (a sanity check)."""
    channel = next(c for c in CHANNELS if c.provider.engine == engine)
    bedrock = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn",
               "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}
    sample = {"anthropic": ANTHROPIC_ANSWER, "gemini": GEMINI_ANSWER, "vertex": GEMINI_ANSWER, "bedrock": bedrock}.get(engine, OPENAI_ANSWER)
    sample = {k: v for k, v in sample.items() if k != "promptFeedback"}
    parsed = channel.provider.adapter.parse_response(channel, dumps(sample), ctx())
    assert json.loads(parsed.body)["choices"][0]["message"]["content"]
