"""Property-style tests of the Anthropic inbound translation, without any server.

Stream: OpenAI chunk streams (the Anthropic fixtures of providers.md 2.7 turned into OpenAI chunks by
``AnthropicStream``, and generated ones with parallel tool calls, reasoning, Azure's empty first
chunk, keep-alives, usage on the finish chunk or after it) are rendered in several wire forms, cut
at random boundaries, in 1-byte pieces and whole, and fed through the OpenAI passthrough translator
and the :class:`EventWriter`. Whatever the split, the Anthropic events must be well formed (what the
Anthropic SDKs' accumulators need) and add up to exactly what ``from_openai`` makes of the
equivalent non-stream answer.

Round trips: an Anthropic request through ``to_openai`` and back through the chat side's
``to_anthropic`` keeps its content; an Anthropic answer through ``from_anthropic`` and back through
``from_openai`` too. Only stdlib ``random`` with fixed seeds, so every failure is reproducible.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from shared.inbound.anthropic import EventWriter, Translated, anthropic_usage, from_openai, to_openai
from shared.providers.anthropic import AnthropicStream, from_anthropic, to_anthropic
from shared.providers.base import StreamContext
from shared.providers.openai import PassthroughStream
from tests.fakes.anthropic_fake import (
    RECORDED_TEXT_MESSAGE, RECORDED_TEXT_STREAM, RECORDED_THINKING_MESSAGE, RECORDED_THINKING_STREAM, RECORDED_TOOL_MESSAGE,
    RECORDED_TOOL_STREAM,
)
from tests.test_anthropic_stream_props import ONLY_TOOL_MESSAGE, PARALLEL_MESSAGE, REDACTED_MESSAGE, generated, split

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAJJRU5ErkJggg=="


# --------------------------------------------------------------------------- OpenAI chunk streams


def openai_chunks_of(anthropic_stream: bytes) -> bytes:
    """What the chat side sends for a recorded Anthropic stream: OpenAI chunks, usage chunk, [DONE]."""
    translator = AnthropicStream(StreamContext(model="up", include_usage=True, created=1))
    out = translator.feed(anthropic_stream) + translator.finish()
    assert translator.error is None
    return b"".join(out) + b"data: [DONE]\n\n"


def completion_of(message: dict[str, Any]) -> dict[str, Any]:
    return from_anthropic(message, StreamContext(model="up", created=1))


FIXTURES = {
    "text": (RECORDED_TEXT_STREAM, RECORDED_TEXT_MESSAGE),
    "tool": (RECORDED_TOOL_STREAM, RECORDED_TOOL_MESSAGE),
    "thinking": (RECORDED_THINKING_STREAM, RECORDED_THINKING_MESSAGE),
    "parallel": (generated(PARALLEL_MESSAGE), PARALLEL_MESSAGE),
    "redacted": (generated(REDACTED_MESSAGE), REDACTED_MESSAGE),
    "only_tool": (generated(ONLY_TOOL_MESSAGE), ONLY_TOOL_MESSAGE),
}

GENERATED = {
    "reasoning_text": {"role": "assistant", "content": "The answer is 42 — déjà vu 🎉.", "reasoning_content": "Six times seven, step by step."},
    "parallel_tools": {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Zürich", "days": [1, 2]})}},
        {"id": "call_B", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]},
    "only_tool": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_C", "type": "function", "function": {"name": "lookup", "arguments": json.dumps({"q": "a \"quoted\" word"})}}]},
    "empty": {"role": "assistant", "content": ""},
}
FINISHES = {"reasoning_text": "stop", "parallel_tools": "tool_calls", "only_tool": "tool_calls", "empty": "length"}
USAGE = {"prompt_tokens": 1200, "completion_tokens": 37, "total_tokens": 1237,
         "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 50}, "completion_tokens_details": {"reasoning_tokens": 9}}


def pieces(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6)))) if len(text) > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def generated_stream(message: dict[str, Any], finish: str, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    """An OpenAI-compatible host's stream for ``message`` (random fragment sizes, usage on the finish
    chunk or in a chunk of its own, Azure's empty-choices first chunk), and its non-stream completion."""
    base = {"id": "chatcmpl-gen", "object": "chat.completion.chunk", "created": 1, "model": "up"}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra}

    events: list[dict[str, Any]] = []
    if rng.random() < 0.3:
        events.append({"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []})
    events.append(chunk({"role": "assistant", "content": ""}))
    for piece in pieces(message.get("reasoning_content") or "", rng):
        events.append(chunk({"reasoning_content": piece}))
    for piece in pieces(message.get("content") or "", rng):
        events.append(chunk({"content": piece}))
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": ""}}]}))
        for piece in pieces(fn["arguments"], rng):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    if rng.random() < 0.5:
        events.append(chunk({}, finish, usage=USAGE))
    else:
        events.append(chunk({}, finish))
        events.append({**base, "choices": [], "usage": USAGE})
    stream = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    completion = {"id": "chatcmpl-gen", "object": "chat.completion", "created": 1, "model": "up",
                  "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": USAGE}
    return stream, completion


def render(stream: bytes, rng: random.Random) -> bytes:
    """The same events in an equivalent wire form: LF, CRLF or CR; keep-alive comments between events."""
    newline = rng.choice(["\n", "\r\n", "\r"])
    out = []
    for block in stream.decode().split("\n\n"):
        if not block.strip():
            continue
        if rng.random() < 0.3:
            out.append(": keep-alive")
        out.append(block.replace("\n", newline))
    return "".join(b + newline + newline for b in out).encode()


# --------------------------------------------------------------------------- Anthropic events


def run(parts: list[bytes]) -> tuple[Translated, list[tuple[str, dict[str, Any]]]]:
    translator = Translated(PassthroughStream(drop_empty_choices=True), EventWriter("alias"))
    out: list[bytes] = []
    for part in parts:
        out.extend(translator.feed(part))
    out.extend(translator.finish())
    events = []
    for raw in out:
        head, data, rest = raw.split(b"\n", 2)
        assert head.startswith(b"event: ") and data.startswith(b"data: ") and rest == b"\n", raw
        obj = json.loads(data[6:])
        assert obj["type"] == head[7:].decode(), "the event name is the data's type"
        events.append((obj["type"], obj))
    return translator, events


def reassemble(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What the Anthropic SDK's accumulator builds, checking the order it requires on the way."""
    assert events and events[0][0] == "message_start", "message_start must come first"
    assert [name for name, _ in events[-2:]] == ["message_delta", "message_stop"], "message_delta then message_stop end it"
    message = copy.deepcopy(events[0][1]["message"])
    assert message["content"] == [] and message["stop_reason"] is None and message["model"] == "alias"
    assert message["id"].startswith("msg_")
    buffers: dict[int, str] = {}
    open_index = None
    for name, obj in events[1:-2]:
        if name == "ping":
            continue
        assert name.startswith("content_block_"), name
        index = obj["index"]
        if name == "content_block_start":
            assert open_index is None and index == len(message["content"]), "one open block at a time, indexes in order"
            message["content"].append(copy.deepcopy(obj["content_block"]))
            open_index = index
            continue
        assert index == open_index, "deltas and stops address the open block"
        if name == "content_block_stop":
            open_index = None
            continue
        block, delta = message["content"][index], obj["delta"]
        kind = delta["type"]
        if kind == "text_delta":
            assert block["type"] == "text"
            block["text"] += delta["text"]
        elif kind == "thinking_delta":
            assert block["type"] == "thinking"
            block["thinking"] += delta["thinking"]
        elif kind == "signature_delta":
            assert block["type"] == "thinking"
            block["signature"] = delta["signature"]
        else:
            assert kind == "input_json_delta" and block["type"] == "tool_use"
            buffers[index] = buffers.get(index, "") + delta["partial_json"]
    assert open_index is None, "every block is stopped before message_delta"
    for index, text in buffers.items():
        message["content"][index]["input"] = json.loads(text)
    final = events[-2][1]
    message["stop_reason"], message["stop_sequence"] = final["delta"]["stop_reason"], final["delta"]["stop_sequence"]
    message["usage"].update(final["usage"])
    return message


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "id"}


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("mode", ["random", "bytes", "whole"])
def test_recorded_answers_stream_to_the_non_stream_translation(name: str, mode: str) -> None:
    anthropic_stream, message = FIXTURES[name]
    stream = openai_chunks_of(anthropic_stream)
    want = comparable(from_openai(completion_of(message), "alias"))
    for seed in range({"random": 30, "bytes": 2, "whole": 5}[mode]):
        rng = random.Random(f"{name}-{mode}-{seed}")
        translator, events = run(split(render(stream, rng), rng, mode))
        assert translator.error is None
        assert comparable(reassemble(events)) == want, seed
        assert translator.usage == completion_of(message)["usage"]  # what the dispatcher records, in OpenAI terms


@pytest.mark.parametrize("name", sorted(GENERATED))
@pytest.mark.parametrize("mode", ["random", "bytes", "whole"])
def test_generated_openai_streams_give_the_non_stream_translation(name: str, mode: str) -> None:
    for seed in range({"random": 30, "bytes": 2, "whole": 5}[mode]):
        rng = random.Random(f"{name}-{mode}-{seed}")
        stream, completion = generated_stream(GENERATED[name], FINISHES[name], rng)
        translator, events = run(split(render(stream, rng), rng, mode))
        assert translator.error is None
        assert comparable(reassemble(events)) == comparable(from_openai(completion, "alias")), seed


def test_the_recorded_thinking_answer_keeps_its_signature_and_every_count() -> None:
    _, events = run([openai_chunks_of(RECORDED_THINKING_STREAM)])
    message = reassemble(events)
    assert message["content"] == RECORDED_THINKING_MESSAGE["content"]  # thinking text and signature, then the text
    assert message["usage"] == {"input_tokens": 40, "cache_creation_input_tokens": 12, "cache_read_input_tokens": 2048,
                                "output_tokens": 120, "output_tokens_details": {"thinking_tokens": 80}}
    assert message["stop_reason"] == "end_turn"


def test_tool_blocks_follow_text_with_their_own_indexes_and_ids() -> None:
    _, events = run([openai_chunks_of(generated(PARALLEL_MESSAGE))])
    starts = [(obj["index"], obj["content_block"]) for name, obj in events if name == "content_block_start"]
    assert [(i, b["type"], b.get("id")) for i, b in starts] == [(0, "text", None), (1, "tool_use", "toolu_A"), (2, "tool_use", "toolu_B"),
                                                               (3, "tool_use", "toolu_C")]
    assert reassemble(events)["content"][1:] == PARALLEL_MESSAGE["content"][1:]


def test_nothing_is_written_before_content_so_an_early_error_can_fail_over() -> None:
    translator = Translated(PassthroughStream(), EventWriter("m"))
    out = translator.feed(b'data: {"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n')
    out += translator.feed(b'data: {"error": {"message": "overloaded", "type": "server_error", "code": 503}}\n\n')
    assert out == [] and translator.error is not None and translator.error.status == 503


def test_a_stream_cut_before_done_is_an_error_and_gets_no_message_stop() -> None:
    stream = openai_chunks_of(RECORDED_TEXT_STREAM)
    cut = stream.index(b"data: [DONE]")
    translator = Translated(PassthroughStream(), EventWriter("m"))
    out = translator.feed(stream[:cut]) + translator.finish()
    assert translator.error is not None and translator.error.status == 502
    assert not any(b"message_stop" in e for e in out)


def test_usage_maps_both_ways() -> None:
    assert anthropic_usage(USAGE) == {"input_tokens": 150, "cache_creation_input_tokens": 50, "cache_read_input_tokens": 1000,
                                      "output_tokens": 37, "output_tokens_details": {"thinking_tokens": 9}}
    assert anthropic_usage({"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 9}})["input_tokens"] == 0
    assert anthropic_usage(None) == {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}


# --------------------------------------------------------------------------- round trips

REQUEST: dict[str, Any] = {
    "model": "m", "max_tokens": 1000, "system": "You are terse.",
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is in this image, and the weather?"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                                     {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                                     {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
                                      "title": "a.pdf"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat. Let me check."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                                          {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C, sunny"},
                                     {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "12:00"}]},
                                     {"type": "text", "text": "And tomorrow?"}]},
    ],
    "tools": [{"name": "get_weather", "description": "Weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
              {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "stop_sequences": ["END"], "temperature": 0.5, "top_p": 0.9, "metadata": {"user_id": "u-1"},
}


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """One spelling for what Anthropic reads the same: string content as one text block, text-only
    tool results as a string, a file block's filename dropped (Anthropic documents have a title)."""
    out = copy.deepcopy(body)
    out.pop("model", None)
    for message in out["messages"]:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in message["content"]:
            if block["type"] == "tool_result" and isinstance(block.get("content"), list):
                block["content"] = "\n".join(b["text"] for b in block["content"])
            if block["type"] == "document":
                block.pop("title", None)
    return out


def test_an_anthropic_request_survives_the_trip_through_openai_chat() -> None:
    back = to_anthropic(to_openai(REQUEST))
    assert canonical(back) == canonical(REQUEST)


def test_thinking_budgets_survive_the_trip_through_reasoning_effort() -> None:
    for budget in (1024, 2048, 8192, 16384):
        body = {**REQUEST, "max_tokens": 20000, "thinking": {"type": "enabled", "budget_tokens": budget}}
        body.pop("temperature"), body.pop("top_p")  # fixed while thinking, on both sides
        back = to_anthropic(to_openai(body))
        assert back["thinking"] == {"type": "enabled", "budget_tokens": max(budget, 2048)}  # 1024 reads as "low" (2048)
    assert "reasoning_effort" not in to_openai({**REQUEST, "thinking": {"type": "disabled"}})


def test_what_only_anthropic_keeps_is_dropped_and_the_rest_stays() -> None:
    body = to_openai({**REQUEST, "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
                      "top_k": 40, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
                          {"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "text", "text": "Hello"}]},
                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": True, "content": "boom"},
                                                       {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}]}],
                      "stream": True})
    assert "cache_control" not in json.dumps(body) and "top_k" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "tool", "tool_call_id": "t", "content": "Error: boom"},
        {"role": "user", "content": "notes"},
    ]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 1000 and body["parallel_tool_calls"] is False and body["user"] == "u-1"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_an_anthropic_answer_survives_the_trip_through_openai_chat(name: str) -> None:
    _, message = FIXTURES[name]
    back = from_openai(completion_of(message), message["model"])
    assert back["content"] == message["content"]
    assert back["stop_reason"] == message["stop_reason"] and back["model"] == message["model"]
    for field in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        assert back["usage"][field] == message["usage"].get(field, 0)
