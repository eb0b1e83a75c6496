"""Property-style tests of the Anthropic stream translator, without any server.

Each recorded stream (providers.md 2.7, plus generated ones for parallel/empty-argument tool calls,
redacted thinking and every stop_reason) is re-rendered in many wire variants (LF, CRLF or CR line
endings; keep-alive comments, pings and unknown events interleaved; JSON spread over several
``data:`` lines; padded data; ``event:`` lines dropped) and fed in random pieces, in 1-byte pieces
and whole. Whatever the split, the OpenAI chunks must be well formed and add up to exactly what
``from_anthropic`` makes of the equivalent non-stream message. Only stdlib ``random`` with fixed
seeds, so every failure is reproducible.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from shared.providers.anthropic import FINISH_REASONS, AnthropicStream, from_anthropic
from shared.providers.base import StreamContext
from tests.fakes.anthropic_fake import (
    RECORDED_ERROR_STREAM, RECORDED_TEXT_MESSAGE, RECORDED_TEXT_STREAM, RECORDED_THINKING_MESSAGE,
    RECORDED_THINKING_STREAM, RECORDED_TOOL_MESSAGE, RECORDED_TOOL_STREAM, encode_event, stream_events,
)

CREATED = 1727346178

PARALLEL_MESSAGE: dict[str, Any] = {
    "id": "msg_parallel", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Zürich", "days": [1, 2]}},
        {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}},
        {"type": "tool_use", "id": "toolu_C", "name": "get_stock", "input": {"ticker": "AAPL"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000, "output_tokens": 70},
}

REDACTED_MESSAGE: dict[str, Any] = {
    "id": "msg_redacted", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted=="},
        {"type": "thinking", "thinking": "Short thought.", "signature": "sig-2"},
        {"type": "text", "text": "Cut off at the lim"},
    ],
    "stop_reason": "max_tokens", "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 4096},
}

ONLY_TOOL_MESSAGE: dict[str, Any] = {
    "id": "msg_only_tool", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "tool_use", "id": "toolu_noargs", "name": "ping_server", "input": {}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 5},
}


def generated(message: dict[str, Any]) -> bytes:
    return b"".join(encode_event(event, data) for event, data in stream_events(message))


CASES = {
    "text": (RECORDED_TEXT_STREAM, RECORDED_TEXT_MESSAGE),
    "tool": (RECORDED_TOOL_STREAM, RECORDED_TOOL_MESSAGE),
    "thinking": (RECORDED_THINKING_STREAM, RECORDED_THINKING_MESSAGE),
    "parallel": (generated(PARALLEL_MESSAGE), PARALLEL_MESSAGE),
    "redacted": (generated(REDACTED_MESSAGE), REDACTED_MESSAGE),
    "only_tool": (generated(ONLY_TOOL_MESSAGE), ONLY_TOOL_MESSAGE),
}


# --------------------------------------------------------------------------- wire variants


def events_of(stream: bytes) -> list[list[str]]:
    """The recorded stream as events, each a list of its lines."""
    return [block.split("\n") for block in stream.decode().split("\n\n") if block.strip()]


def render(stream: bytes, rng: random.Random) -> bytes:
    """The same events in a randomly chosen but equivalent wire form."""
    newline = rng.choice(["\n", "\r\n", "\r"])
    noise = rng.random() < 0.7
    multiline = rng.random() < 0.3
    pad = rng.random() < 0.3
    drop_event_lines = rng.random() < 0.2
    out = []
    for lines in events_of(stream):
        if noise and rng.random() < 0.4:
            out.append(rng.choice([
                [": keep-alive"],
                ["event: ping", 'data: {"type": "ping"}'],
                ["event: future_event", 'data: {"type":"future_event","x":1}'],
                ["id: 7", "retry: 1000"],
            ]))
        event: list[str] = []
        for line in lines:
            if line.startswith("event:") and drop_event_lines:
                continue
            if line.startswith("data:") and multiline:
                obj = json.loads(line[5:])
                event.extend("data: " + part for part in json.dumps(obj, indent=1, ensure_ascii=False).split("\n"))
            elif line.startswith("data:") and pad:
                event.append(line + "   ")
            else:
                event.append(line)
        out.append(event)
    return "".join(newline.join(lines) + newline + newline for lines in out).encode()


def split(data: bytes, rng: random.Random, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def run(pieces: list[bytes], ctx: StreamContext) -> tuple[AnthropicStream, list[dict[str, Any]]]:
    translator = AnthropicStream(ctx)
    out: list[bytes] = []
    for piece in pieces:
        out.extend(translator.feed(piece))
    out.extend(translator.finish())
    chunks = []
    for event in out:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2
        chunks.append(json.loads(event[6:]))
    return translator, chunks


# --------------------------------------------------------------------------- reassembly


def reassemble(chunks: list[dict[str, Any]], ctx: StreamContext, translator: AnthropicStream) -> dict[str, Any]:
    """providers.md 10.4 (stream -> one completion), checking chunk-level invariants on the way."""
    assert chunks, "no chunks at all"
    first = chunks[0]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content, reasoning, thinking_blocks = [], [], []
    calls: list[dict[str, Any]] = []
    finish, usage = None, None
    for n, c in enumerate(chunks):
        assert (c["id"], c["created"], c["model"], c["object"]) == (first["id"], CREATED, ctx.model, "chat.completion.chunk")
        if not c["choices"]:
            assert n == len(chunks) - 1 and ctx.include_usage, "a usage chunk must be last and only when asked for"
            usage = c["usage"]
            continue
        assert usage is None and finish is None, "nothing may follow the finish chunk but the usage chunk"
        choice = c["choices"][0]
        assert choice["index"] == 0 and choice["logprobs"] is None
        delta = choice["delta"]
        if n:
            assert "role" not in delta
        if choice["finish_reason"] is not None:
            assert delta == {}
            finish = choice["finish_reason"]
        if delta.get("content"):
            content.append(delta["content"])
        if "reasoning_content" in delta:
            reasoning.append(delta["reasoning_content"])
        thinking_blocks.extend(delta.get("thinking_blocks") or [])
        for fragment in delta.get("tool_calls") or []:
            index = fragment["index"]
            if index == len(calls):  # a new call: its first fragment names it
                assert fragment["id"] and fragment["type"] == "function" and fragment["function"]["name"]
                assert fragment["function"]["arguments"] == ""
                calls.append({"id": fragment["id"], "type": "function",
                              "function": {"name": fragment["function"]["name"], "arguments": ""}})
            else:
                assert index < len(calls) and set(fragment) == {"index", "function"} and set(fragment["function"]) == {"arguments"}
                calls[index]["function"]["arguments"] += fragment["function"]["arguments"]
    assert finish is not None, "no finish chunk"
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    if ctx.include_usage:
        assert usage == translator.usage
    return {"id": first["id"], "object": "chat.completion", "created": CREATED, "model": ctx.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": translator.usage}


def normalised(completion: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments compared as JSON values: streamed fragments keep Anthropic's spacing."""
    out = json.loads(json.dumps(completion))
    for call in out["choices"][0]["message"].get("tool_calls") or []:
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return out


def expected(message: dict[str, Any], model: str = "alias") -> dict[str, Any]:
    return normalised(from_anthropic(message, StreamContext(model=model, created=CREATED)))


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["random", "bytes", "whole"])
def test_any_split_of_any_wire_form_gives_the_non_stream_answer(name: str, mode: str) -> None:
    stream, message = CASES[name]
    want = expected(message)
    rounds = {"random": 40, "bytes": 3, "whole": 10}[mode]
    for seed in range(rounds):
        rng = random.Random(f"{name}-{mode}-{seed}")
        ctx = StreamContext(model="alias", include_usage=rng.random() < 0.5, created=CREATED)
        translator, chunks = run(split(render(stream, rng), rng, mode), ctx)
        assert translator.error is None, (seed, translator.error and translator.error.message)
        assert normalised(reassemble(chunks, ctx, translator)) == want, seed


def test_the_recorded_tool_stream_gives_the_worked_example_of_providers_md_10_5() -> None:
    ctx = StreamContext(model="claude-sonnet-4-20250514", include_usage=True, created=CREATED)
    _, chunks = run([RECORDED_TOOL_STREAM], ctx)
    deltas = [c["choices"][0]["delta"] if c["choices"] else c["usage"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "I'll check the current weather in Paris for you."},
        {"tool_calls": [{"index": 0, "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"locati'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'on": "P'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'aris"}'}}]},
        {},
        {"prompt_tokens": 377, "completion_tokens": 65, "total_tokens": 442, "prompt_tokens_details": {"cached_tokens": 0}},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert len({c["id"] for c in chunks}) == 1


def test_tool_indices_count_tool_calls_only_and_empty_arguments_become_an_object() -> None:
    ctx = StreamContext(model="m", created=CREATED)
    translator, chunks = run([generated(PARALLEL_MESSAGE)], ctx)
    calls = reassemble(chunks, ctx, translator)["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["toolu_A", "toolu_B", "toolu_C"]  # Anthropic blocks 1..3 -> OpenAI 0..2
    assert calls[1]["function"]["arguments"] == "{}"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Zürich", "days": [1, 2]}


def test_usage_is_always_set_and_the_usage_chunk_only_sent_when_asked() -> None:
    want = expected(RECORDED_THINKING_MESSAGE)["usage"]
    assert want == {"prompt_tokens": 40 + 12 + 2048, "completion_tokens": 120, "total_tokens": 2220,
                    "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 12},
                    "completion_tokens_details": {"reasoning_tokens": 80}}
    for include in (False, True):
        translator, chunks = run([RECORDED_THINKING_STREAM], StreamContext(model="m", include_usage=include, created=CREATED))
        assert translator.usage == want
        assert (chunks[-1]["choices"] == []) is include


@pytest.mark.parametrize("stop_reason", sorted(FINISH_REASONS) + ["something_new"])
def test_every_stop_reason_maps_the_same_in_both_directions(stop_reason: str) -> None:
    message = {**RECORDED_TEXT_MESSAGE, "stop_reason": stop_reason}
    ctx = StreamContext(model="alias", created=CREATED)
    translator, chunks = run([generated(message)], ctx)
    got = normalised(reassemble(chunks, ctx, translator))
    assert got == expected(message)
    assert got["choices"][0]["finish_reason"] == FINISH_REASONS.get(stop_reason, "stop")


@pytest.mark.parametrize("seed", range(20))
def test_an_error_event_sets_error_and_nothing_follows_it(seed: int) -> None:
    rng = random.Random(seed)
    pieces = split(render(RECORDED_ERROR_STREAM, rng), rng, "random") + [generated(RECORDED_TEXT_MESSAGE)]
    translator = AnthropicStream(StreamContext(model="m"))
    out: list[bytes] = []
    for piece in pieces:
        out.extend(translator.feed(piece))
    out.extend(translator.finish())
    assert translator.error is not None
    assert (translator.error.status, translator.error.type, translator.error.code) == (503, "server_error", "overloaded")
    assert translator.error.message == "Overloaded"
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in out)
    assert text == "Partial"  # what came before the error, nothing from the bytes after it


def test_an_error_before_any_content_emits_nothing_so_the_proxy_can_fail_over() -> None:
    head = RECORDED_TEXT_STREAM.split(b"event: content_block_start")[0]
    translator = AnthropicStream(StreamContext(model="m"))
    out = translator.feed(head + b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
    out += translator.feed(b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n')
    assert out == [] and translator.error is not None and translator.error.status == 503


@pytest.mark.parametrize("kind,status", [("rate_limit_error", 429), ("api_error", 500), ("invalid_request_error", 400),
                                         ("timeout_error", 504), ("brand_new_error", 502)])
def test_error_event_types_map_to_statuses(kind: str, status: int) -> None:
    translator = AnthropicStream(StreamContext(model="m"))
    translator.feed(('event: error\ndata: {"type":"error","error":{"type":"%s","message":"x"}}\n\n' % kind).encode())
    assert translator.error is not None and translator.error.status == status


def test_eof_before_message_stop_is_an_error_wherever_the_cut_falls() -> None:
    stream = RECORDED_TOOL_STREAM
    stop_at = stream.index(b"event: message_stop")
    rng = random.Random(7)
    for cut in sorted(rng.sample(range(1, stop_at), 60)) + [stop_at]:
        translator = AnthropicStream(StreamContext(model="m"))
        translator.feed(stream[:cut])
        translator.finish()
        assert translator.error is not None and translator.error.status == 502, cut
    translator = AnthropicStream(StreamContext(model="m"))
    translator.feed(stream.rstrip(b"\n"))  # complete, only the final blank line missing
    translator.finish()
    assert translator.error is None


def test_a_non_json_event_is_an_error() -> None:
    translator = AnthropicStream(StreamContext(model="m"))
    translator.feed(b"event: message_start\ndata: {not json\n\n")
    assert translator.error is not None and translator.error.status == 502
