"""Property-style checks of the Responses translation, without a server (stdlib ``random``, fixed seeds).

Chat answers (generated OpenAI chunks; Anthropic's recorded and generated streams; Gemini's
generated streams) are cut at random places, into 1-byte pieces or left whole, with LF, CRLF or
CR line endings and keep-alive comments, and fed through the channel's own chat translator wrapped
in :class:`ChatToResponses`. Whatever the split:

* the events are well formed: numbered 0, 1, 2… without gaps, ``event:`` naming the JSON ``type``,
  ``response.created`` first, every item opened before its deltas and closed once, output indices
  0, 1, 2… in order, one terminal event, last;
* openai-python's own stream accumulator (the one ``client.responses.stream`` runs) accepts them;
* the output rebuilt from the deltas equals the terminal event's output, and the terminal
  response equals the non-stream translation of the same answer (``from_chat``).

Plus the passthrough watcher over split Responses streams, a broken stream's last events, and round
trips: a response's output items sent back as input give the chat assistant turn they came from.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from shared.errors import GatewayError
from shared.inbound.responses.passthrough import ResponsesPassthrough
from shared.inbound.responses.request import translate
from shared.inbound.responses.response import Shape, echo, from_chat
from shared.inbound.responses.stream import ChatToResponses
from shared.providers import gemini
from shared.providers.anthropic import AnthropicStream, from_anthropic
from shared.providers.base import StreamContext, StreamTranslator
from shared.providers.openai import PassthroughStream
from tests.fakes.anthropic_fake import (
    RECORDED_TEXT_MESSAGE, RECORDED_TEXT_STREAM, RECORDED_THINKING_MESSAGE, RECORDED_THINKING_STREAM, RECORDED_TOOL_MESSAGE,
    RECORDED_TOOL_STREAM, encode_event, stream_events,
)
from tests.fakes.gemini_fake import Call, GeminiReply, gemini_events, merge_events, sse
from tests.fakes.openai_fake import Reply
from tests.fakes.responses_fake import FakeResponsesOpenAI
from tests.fakes.responses_fake import sse as responses_sse

CREATED = 1727346178
ALPHABET = ["a", "b", "z", "Q", "7", " ", "\n", "é", "ß", "中", "🙂", '"', "\\", "{", "}"]
BODY = {"model": "alias", "input": "hi", "instructions": "Be brief.", "tools": [{"type": "function", "name": "f"}]}


def words(rng: random.Random, most: int) -> str:
    return " ".join("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, most)))


def fragments(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6)))) if len(text) > 1 else []
    return [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]


def split(data: bytes, rng: random.Random, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def rewire(data: bytes, rng: random.Random) -> bytes:
    """The same events with another line ending and keep-alive comments between some of them."""
    ending = rng.choice(["\n", "\r\n", "\r"])
    blocks = [b for b in data.decode().replace("\r\n", "\n").split("\n\n") if b.strip()]
    out = []
    for block in blocks:
        if rng.random() < 0.2:
            out.append(": keep-alive")
        out.append(block)
    return "".join(b.replace("\n", ending) + ending + ending for b in out).encode()


# --------------------------------------------------------------------------- chat answers, whole and streamed


def random_completion(rng: random.Random) -> dict[str, Any]:
    calls = [{"id": f"call_{i}{rng.randint(0, 999)}", "type": "function",
              "function": {"name": f"tool_{i}", "arguments": json.dumps({"q": words(rng, 3), "n": rng.randint(0, 9)}, ensure_ascii=False)
                           if rng.random() < 0.8 else ""}}
             for i in range(rng.choice([0, 0, 1, 2, 3]))]
    message: dict[str, Any] = {"role": "assistant", "content": words(rng, 10) if not calls or rng.random() < 0.5 else None, "refusal": None}
    if rng.random() < 0.4:
        message["reasoning_content"] = words(rng, 6)
    if calls:
        message["tool_calls"] = calls
    if message["content"] and rng.random() < 0.3:  # web search results (OpenRouter, OpenAI search models)
        message["annotations"] = [{"type": "url_citation", "url_citation": {"start_index": i, "end_index": i + 3, "url": f"https://{i}.test",
                                                                            "title": words(rng, 2)}} for i in range(rng.randint(1, 2))]
    if message["content"] is None and not calls and rng.random() < 0.5:
        message["refusal"] = words(rng, 4)
    finish = "tool_calls" if calls else rng.choice(["stop", "stop", "length", "content_filter"])
    usage = {"prompt_tokens": rng.randint(1, 500), "completion_tokens": rng.randint(1, 300)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if rng.random() < 0.5:
        usage["prompt_tokens_details"] = {"cached_tokens": rng.randint(0, usage["prompt_tokens"])}
    if rng.random() < 0.5:
        usage["completion_tokens_details"] = {"reasoning_tokens": rng.randint(0, usage["completion_tokens"])}
    return {"id": "chatcmpl-x", "object": "chat.completion", "created": CREATED, "model": "upstream-model",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": usage}


def chat_stream(completion: dict[str, Any], rng: random.Random) -> bytes:
    """The chunks an OpenAI-compatible host streams for ``completion``, fragments at random places."""
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": p}) for p in fragments(message.get("reasoning_content") or "", rng)]
    out += [chunk({"content": p}) for p in fragments(message.get("content") or "", rng)]
    if message.get("annotations"):
        out.append(chunk({"annotations": message["annotations"]}))
    out += [chunk({"refusal": p}) for p in fragments(message.get("refusal") or "", rng)]
    for i, call in enumerate(message.get("tool_calls") or ()):
        out.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}) for p in fragments(call["function"]["arguments"], rng)]
    out.append(chunk({}, choice["finish_reason"]))
    out.append(b"data: " + json.dumps({**base, "choices": [], "usage": completion["usage"]}).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


# --------------------------------------------------------------------------- running and checking


def run(inner: StreamTranslator, pieces: list[bytes], shape: Shape) -> tuple[ChatToResponses, list[bytes]]:
    translator = ChatToResponses(inner, shape, StreamContext(model="alias", include_usage=True, created=CREATED))
    out: list[bytes] = []
    for piece in pieces:
        out += translator.feed(piece)
        assert translator.error is None
    out += translator.finish()
    assert translator.error is None
    return translator, out


def parse(out: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for raw in b"".join(out).decode().split("\n\n")[:-1]:
        head, data = raw.split("\n")
        obj = json.loads(data.removeprefix("data: "))
        assert head == f"event: {obj['type']}"
        events.append(obj)
    return events


def check(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The invariants of a Responses stream; returns the terminal response."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")
    assert not any(e["type"] in ("response.completed", "response.incomplete", "response.failed") for e in events[:-1])
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))  # type: ignore[arg-type]

    rebuilt: dict[int, dict[str, Any]] = {}
    closed: set[int] = set()
    for e in events:
        kind = e["type"]
        if kind == "response.output_item.added":
            assert e["output_index"] == len(rebuilt), "items are added in output order"
            item = json.loads(json.dumps(e["item"]))
            rebuilt[e["output_index"]] = item
            continue
        if "output_index" not in e:
            continue
        index = e["output_index"]
        assert index in rebuilt and index not in closed, (kind, index)
        item = rebuilt[index]
        if kind == "response.content_part.added":
            assert e["content_index"] == len(item["content"])
            item["content"].append(dict(e["part"]))
        elif kind == "response.output_text.delta":
            item["content"][e["content_index"]]["text"] += e["delta"]
        elif kind == "response.refusal.delta":
            item["content"][e["content_index"]]["refusal"] += e["delta"]
        elif kind == "response.output_text.annotation.added":
            item["content"][e["content_index"]]["annotations"].append(e["annotation"])
        elif kind in ("response.output_text.done", "response.refusal.done", "response.content_part.done"):
            part = item["content"][e["content_index"]]
            assert part == e["part"] if kind == "response.content_part.done" else part.get("text", part.get("refusal")) == (
                e.get("text", e.get("refusal")))
        elif kind == "response.function_call_arguments.delta":
            item["arguments"] += e["delta"]
        elif kind == "response.function_call_arguments.done":
            assert item["arguments"] == e["arguments"]
        elif kind == "response.reasoning_summary_part.added":
            item["summary"].append(dict(e["part"]))
        elif kind == "response.reasoning_summary_text.delta":
            item["summary"][e["summary_index"]]["text"] += e["delta"]
        elif kind == "response.output_item.done":
            done = e["item"]
            assert {k: v for k, v in item.items() if k not in ("status", "encrypted_content")} == {
                k: v for k, v in done.items() if k not in ("status", "encrypted_content")}
            closed.add(index)
            rebuilt[index] = done
    final = events[-1]["response"]
    if final["status"] != "failed":  # a broken stream may leave its last item open
        assert closed == set(rebuilt), "every item is closed"
        assert final["output"] == [rebuilt[i] for i in sorted(rebuilt)]
        if final["status"] == "completed":
            assert state._completed_response is not None  # what get_final_response() returns
    return final


def without_times(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "completed_at"}


def shape() -> Shape:
    return Shape(echo(BODY), base="prop")


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("mode", ["random", "bytes", "whole"])
def test_openai_chunks_give_the_non_stream_translation(seed: int, mode: str) -> None:
    rng = random.Random(f"openai-{seed}-{mode}")
    completion = random_completion(rng)
    want = without_times(from_chat(completion, shape()))
    data = rewire(chat_stream(completion, rng), rng)
    translator, out = run(PassthroughStream(), split(data, rng, mode), shape())
    assert without_times(check(parse(out))) == want
    assert translator.usage == completion["usage"]


ANTHROPIC = {"text": (RECORDED_TEXT_STREAM, RECORDED_TEXT_MESSAGE), "tool": (RECORDED_TOOL_STREAM, RECORDED_TOOL_MESSAGE),
             "thinking": (RECORDED_THINKING_STREAM, RECORDED_THINKING_MESSAGE)}
THINKING_TOOL = {
    "id": "msg_tt", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "thinking", "thinking": "Weather, then time. 🙂", "signature": "sig-A"},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Zürich"}},
                {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 50, "cache_read_input_tokens": 1000, "output_tokens": 70},
}
ANTHROPIC["thinking_tool"] = (b"".join(encode_event(e, d) for e, d in stream_events(THINKING_TOOL)), THINKING_TOOL)
MAX_TOKENS = {**RECORDED_TEXT_MESSAGE, "stop_reason": "max_tokens"}
ANTHROPIC["max_tokens"] = (b"".join(encode_event(e, d) for e, d in stream_events(MAX_TOKENS)), MAX_TOKENS)


def normalised(response: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments compared as JSON values (streamed fragments keep Anthropic's spacing)."""
    out = without_times(json.loads(json.dumps(response)))
    for item in out["output"]:
        if item["type"] == "function_call":
            item["arguments"] = json.loads(item["arguments"])
    return out


@pytest.mark.parametrize("name", sorted(ANTHROPIC))
@pytest.mark.parametrize("mode", ["random", "bytes", "whole"])
def test_anthropic_streams_give_the_non_stream_translation(name: str, mode: str) -> None:
    stream, message = ANTHROPIC[name]
    ctx = StreamContext(model="alias", include_usage=True, created=CREATED)
    want = normalised(from_chat(from_anthropic(message, ctx), shape()))
    for seed in range({"random": 15, "bytes": 1, "whole": 3}[mode]):
        rng = random.Random(f"{name}-{mode}-{seed}")
        inner = AnthropicStream(StreamContext(model="alias", include_usage=True, created=CREATED))
        _, out = run(inner, split(rewire(stream, rng), rng, mode), shape())
        assert normalised(check(parse(out))) == want, seed


def test_anthropic_thinking_becomes_a_reasoning_item_that_carries_the_signed_blocks() -> None:
    _, out = run(AnthropicStream(StreamContext(model="alias", include_usage=True, created=CREATED)), [ANTHROPIC["thinking_tool"][0]], shape())
    final = check(parse(out))
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Weather, then time. 🙂"}]
    assert final["usage"] == {"input_tokens": 1050, "input_tokens_details": {"cached_tokens": 1000}, "output_tokens": 70,
                              "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1120}
    # Sent back as input, the items give the assistant turn they came from (thinking blocks first, signed).
    body = {"model": "alias", "input": [{"role": "user", "content": "go"}, *final["output"]]}
    assistant = translate(body).chat["messages"][1]
    assert assistant["thinking_blocks"] == [{"type": "thinking", "thinking": "Weather, then time. 🙂", "signature": "sig-A"},
                                            {"type": "redacted_thinking", "data": "EmwKAhgB"}]
    assert assistant["content"] == "Checking both."
    assert [c["id"] for c in assistant["tool_calls"]] == ["toolu_A", "toolu_B"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Zürich"}


@pytest.mark.parametrize("seed", range(20))
def test_gemini_streams_give_the_non_stream_translation(seed: int) -> None:
    rng = random.Random(f"gemini-{seed}")
    calls = [Call(f"tool_{i}", {"q": words(rng, 2)}, signature=rng.choice([None, "c2ln"])) for i in range(rng.choice([0, 1, 2]))]
    reply = GeminiReply(text=words(rng, 8) if not calls or rng.random() < 0.5 else "", thoughts=words(rng, 4) if rng.random() < 0.5 else None,
                        calls=calls, finish_reason=rng.choice(["STOP", "STOP", "MAX_TOKENS"]))
    events = gemini_events(reply, reply.text or "", 7, f"resp-{seed}", "gemini-2.5-flash")
    ctx = StreamContext(model="alias", include_usage=True, id="chatcmpl-g", created=CREATED)
    want = without_times(from_chat(gemini.from_gemini(merge_events(events), ctx), shape()))
    for mode in ("whole", "random", "bytes"):
        inner = gemini.GeminiStream(StreamContext(model="alias", include_usage=True, id="chatcmpl-g", created=CREATED))
        _, out = run(inner, split(sse(events, rng.choice(["\r\n", "\n"])), rng, mode), shape())
        assert without_times(check(parse(out))) == want, mode


@pytest.mark.parametrize("seed", range(10))
def test_a_stream_that_breaks_ends_with_error_and_failed_after_what_was_sent(seed: int) -> None:
    rng = random.Random(f"break-{seed}")
    completion = random_completion(rng)
    data = chat_stream(completion, rng)
    cut = rng.randint(data.index(b"\n\n") + 2, data.rindex(b"data: [DONE]"))
    translator = ChatToResponses(PassthroughStream(), shape(), StreamContext(model="alias", include_usage=True, created=CREATED))
    out = translator.feed(data[:cut])
    out += translator.finish()
    assert translator.error is not None  # no [DONE]: the dispatcher ends the stream with failure()
    out += translator.failure(GatewayError(502, "the upstream stream broke", type="server_error", code="upstream_stream_error"))
    events = parse(out)
    final = check(events)
    assert events[-2]["type"] == "error" and events[-2]["error"] == {"type": "server_error", "code": "upstream_stream_error",
                                                                     "message": "the upstream stream broke", "param": None}
    assert final["status"] == "failed" and final["error"] == {"code": "upstream_stream_error", "message": "the upstream stream broke"}


# --------------------------------------------------------------------------- passthrough


def responses_stream(reply: Reply) -> list[dict[str, Any]]:
    """The events FakeResponsesOpenAI sends for ``reply`` (its generator, without a server)."""
    fake = FakeResponsesOpenAI.__new__(FakeResponsesOpenAI)
    fake.name = "up"
    final = fake.response(reply, {"model": "gpt-4o", "input": "one two three"})
    events = []

    async def collect() -> None:
        async for block in fake._responses_stream(reply, final):
            events.append(json.loads(block.decode().split("data: ", 1)[1]))

    import asyncio

    asyncio.run(collect())
    return events


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("reply", [Reply(), Reply(tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}])],
                         ids=["text", "tool"])
def test_passthrough_forwards_every_event_whatever_the_split(seed: int, reply: Reply) -> None:
    rng = random.Random(seed)
    events = responses_stream(reply)
    data = rewire(b"".join(responses_sse(e["type"], e) for e in events), rng)
    for mode in ("random", "bytes"):
        watcher = ResponsesPassthrough()
        out: list[bytes] = []
        for piece in split(data, rng, mode):
            out += watcher.feed(piece)
        out += watcher.finish()
        assert watcher.error is None
        assert parse(out) == events
        usage = events[-1]["response"]["usage"]
        assert watcher.usage == {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"],
                                 "total_tokens": usage["total_tokens"]}


def test_passthrough_holds_the_opening_events_so_an_early_failure_fails_over() -> None:
    events = responses_stream(Reply(first_event_error=True))
    watcher = ResponsesPassthrough()
    out = watcher.feed(b"".join(responses_sse(e["type"], e) for e in events))
    assert out == [] and watcher.error is not None and watcher.error.message == "fake overloaded"


def test_passthrough_cut_before_its_terminal_event_is_an_error_numbered_after_the_upstream() -> None:
    events = responses_stream(Reply())
    watcher = ResponsesPassthrough()
    out = watcher.feed(b"".join(responses_sse(e["type"], e) for e in events[:6]))
    out += watcher.finish()
    assert watcher.error is not None and watcher.error.status == 502
    out += watcher.failure(GatewayError(502, "the upstream stream broke", type="server_error", code="upstream_stream_error"))
    got = parse(out)
    assert [e["sequence_number"] for e in got] == list(range(8))
    assert [e["type"] for e in got[-2:]] == ["error", "response.failed"] and got[-1]["response"]["id"] == "resp_up"


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("seed", range(20))
def test_output_items_sent_back_give_the_assistant_turn_they_came_from(seed: int) -> None:
    rng = random.Random(f"round-{seed}")
    completion = random_completion(rng)
    message = completion["choices"][0]["message"]
    output = from_chat(completion, shape())["output"]
    messages = translate({"model": "m", "input": [{"role": "user", "content": "q"}, *output]}).chat["messages"]
    want: dict[str, Any] = {"role": "assistant", "content": message["content"] or (None if message.get("refusal") or message.get("tool_calls") else "")}
    if message.get("refusal"):
        want["refusal"] = message["refusal"]
    if message.get("tool_calls"):
        want["tool_calls"] = [{**c, "function": {**c["function"], "arguments": c["function"]["arguments"] or ""}} for c in message["tool_calls"]]
    if not output or (len(output) == 1 and output[0]["type"] == "reasoning"):
        assert messages == [{"role": "user", "content": "q"}]
    else:
        assert messages[1:] == [want]


# --------------------------------------------------------------------------- hostile shapes

SHAPES: list[Any] = [None, True, 0, -1, 1.5, "", "x", "user", "assistant", "message", "function_call", "function_call_output",
                     "input_text", "input_image", "input_file", "reasoning", "function", "web_search", "json_schema", "ugw1.!!", [], {}]
FIELDS = ["type", "role", "content", "text", "image_url", "call_id", "name", "arguments", "output", "encrypted_content", "file_data",
          "format", "schema", "effort", "parameters", "tools", "mode", "function", "index", "delta", "choices", "message", "tool_calls",
          "usage", "reasoning_content", "refusal", "annotations", "finish_reason", "thinking_blocks", "response", "error", "output_index"]


def anything(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return json.loads(json.dumps(rng.choice(SHAPES)))
    if roll < 0.7:
        return [anything(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(FIELDS): anything(rng, depth + 1) for _ in range(rng.randint(0, 4))}


class Verbatim:
    """An inner translator that hands chunks on as they came (no chat-layer checks in the way)."""

    usage = None
    error = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk]

    def finish(self) -> list[bytes]:
        return []


def test_any_json_shape_gives_a_400_or_an_answer_never_a_crash() -> None:
    from shared.inbound.responses.request import check_body

    rng = random.Random(7)
    for _ in range(3000):
        body = {"model": "m", "input": anything(rng) if rng.random() < 0.3 else [anything(rng) for _ in range(rng.randint(0, 4))]}
        for name in ("tools", "tool_choice", "text", "reasoning", "instructions", "max_output_tokens"):
            if rng.random() < 0.2:
                body[name] = anything(rng)
        try:
            check_body(body)
            translate(body)
        except GatewayError:
            pass
        completion = anything(rng)
        if isinstance(completion, dict):
            from_chat(completion, shape())
        translator = ChatToResponses(Verbatim(), shape(), StreamContext(model="m"))
        watcher = ResponsesPassthrough()
        for _ in range(3):
            event = anything(rng)
            translator.feed(b"data: " + json.dumps(event).encode() + b"\n\n")
            if isinstance(event, dict) and rng.random() < 0.8:
                event["type"] = rng.choice(["response.created", "error", "response.failed", "response.completed", "response.output_item.done"])
            watcher.feed(b"data: " + json.dumps(event).encode() + b"\n\n")
        translator.finish()
        watcher.finish()
        broke = GatewayError(502, "broke", type="server_error", code="upstream_stream_error")
        parse(translator.failure(broke) + watcher.failure(broke))
