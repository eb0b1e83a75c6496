"""Property-style checks of the Gemini stream translator (stdlib ``random``, fixed seeds).

For many generated answers (text with multi-byte characters, thoughts, signed function calls,
every finish reason, usage early or late), the SSE bytes are cut at random places, into 1-byte
pieces, or left whole, with CRLF, LF or CR line endings. Reassembling the OpenAI chunks the way
a client does (providers.md 10.4) must give exactly what the non-stream translation of the same
answer gives: content, reasoning, tool calls (ids included), finish reason and usage.
"""

from __future__ import annotations

import base64
import json
import random

import pytest

from shared.providers import gemini
from shared.providers.base import StreamContext
from tests.fakes.gemini_fake import Call, GeminiReply, gemini_events, merge_events, sse

ALPHABET = ["a", "b", "z", "Q", "7", " ", "\n", "é", "ß", "中", "文", "🙂", "🚀", '"', "\\", "{", "}", ":"]
FINISH = ["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "SPII", "OTHER", "MALFORMED_FUNCTION_CALL"]


def random_text(rng: random.Random, max_words: int) -> str:
    return " ".join("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, max_words)))


def random_answer(rng: random.Random) -> list[dict]:
    calls = [Call(f"tool_{i}", {"q": random_text(rng, 3), "n": rng.randint(0, 99), "nested": {"ok": rng.random() < 0.5}},
                  signature=rng.choice([None, "Cg" + random_text(rng, 1).encode().hex() + "+/=="]))
             for i in range(rng.choice([0, 0, 1, 2, 3]))]
    reply = GeminiReply(
        text=random_text(rng, 12) if rng.random() < 0.8 else "",
        thoughts=random_text(rng, 6) if rng.random() < 0.4 else None,
        calls=calls,
        finish_reason="STOP" if calls and rng.random() < 0.6 else rng.choice(FINISH),
        usage_after_finish=rng.random() < 0.3,
        usage={"promptTokenCount": rng.randint(1, 500), "candidatesTokenCount": rng.randint(0, 300),
               **({"thoughtsTokenCount": rng.randint(1, 50)} if rng.random() < 0.5 else {}),
               **({"cachedContentTokenCount": rng.randint(0, 20)} if rng.random() < 0.3 else {})},
    )
    return gemini_events(reply, reply.text or "", 10, f"resp-{rng.randint(0, 10**6)}", "gemini-3-flash-preview")


def pieces(data: bytes, rng: random.Random, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def ctx() -> StreamContext:
    return StreamContext(model="gemini-test", include_usage=True, id="chatcmpl-prop", created=1700000000)


def reassemble(events: list[bytes]) -> dict:
    """What a client makes of the chunks: the non-stream message, finish reason and usage."""
    content, reasoning, tools, finish, usage, roles = "", "", {}, None, None, 0
    for raw in events:
        assert raw.startswith(b"data: ") and raw.endswith(b"\n\n") and raw.count(b"\n") == 2
        obj = json.loads(raw[6:])
        assert obj["id"] == "chatcmpl-prop" and obj["object"] == "chat.completion.chunk"
        if obj.get("usage"):
            usage = obj["usage"]
        for choice in obj["choices"]:
            delta = choice["delta"]
            roles += "role" in delta
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                slot = tools.setdefault(call["index"], {"id": None, "type": None, "function": {"name": "", "arguments": ""}})
                slot["id"] = slot["id"] or call.get("id")
                slot["type"] = slot["type"] or call.get("type")
                slot["function"]["name"] += (call.get("function") or {}).get("name") or ""
                slot["function"]["arguments"] += (call.get("function") or {}).get("arguments") or ""
            if choice["finish_reason"]:
                assert finish is None, "one finish chunk per answer"
                finish = choice["finish_reason"]
    assert roles == 1
    message = {"role": "assistant", "content": content or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tools:
        message["tool_calls"] = [tools[i] for i in sorted(tools)]
    return {"message": message, "finish_reason": finish, "usage": usage}


def expected(events: list[dict]) -> dict:
    full = gemini.from_gemini(merge_events(events), ctx())
    choice = full["choices"][0]
    return {"message": choice["message"], "finish_reason": choice["finish_reason"], "usage": full["usage"]}


def run_stream(data: bytes, rng: random.Random, mode: str) -> tuple[list[bytes], gemini.GeminiStream]:
    translator = gemini.GeminiStream(ctx())
    out: list[bytes] = []
    for piece in pieces(data, rng, mode):
        out.extend(translator.feed(piece))
        assert translator.error is None
    out.extend(translator.finish())
    return out, translator


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_stream_reassembles_to_the_non_stream_translation(seed, ending):
    rng = random.Random(seed)
    events = random_answer(rng)
    data = sse(events, ending)
    want = expected(events)
    for mode in ("whole", "random", "random", "bytes"):
        out, translator = run_stream(data, rng, mode)
        assert translator.error is None
        got = reassemble(out)
        assert got == want, (seed, mode)
        assert translator.usage == want["usage"]


@pytest.mark.parametrize("seed", range(10))
def test_signatures_survive_the_id_and_come_back_on_the_right_part(seed):
    rng = random.Random(1000 + seed)
    sigs = [base64.b64encode(rng.randbytes(rng.randint(1, 300))).decode() for _ in range(2)]  # real ones are base64
    events = gemini_events(GeminiReply(text="", calls=[Call("a", {"x": 1}, signature=sigs[0]), Call("b", {}, signature=sigs[1])]),
                           "", 5, f"r{seed}", "gemini-3-pro-preview")
    answer = gemini.from_gemini(merge_events(events), ctx())
    calls = answer["choices"][0]["message"]["tool_calls"]
    for call in calls:
        assert all(c.isalnum() or c in "_-" for c in call["id"])  # safe for any provider's id rules
    body = gemini.to_gemini({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": calls}]})
    parts = body["contents"][1]["parts"]
    assert [p["thoughtSignature"] for p in parts] == sigs


def test_stream_and_non_stream_ids_match_without_a_response_id():
    events = gemini_events(GeminiReply(text="", calls=[Call("f", {"a": 1})]), "", 5, "", "m")
    for ev in events:
        ev.pop("responseId", None)
    out, _ = run_stream(sse(events), random.Random(0), "whole")
    assert reassemble(out) == expected(events)


def test_truncated_stream_is_an_error_whatever_the_split():
    events = gemini_events(GeminiReply(text="never finished", no_finish=True), "never finished", 3, "r", "m")
    for mode in ("whole", "bytes"):
        _, translator = run_stream(sse(events), random.Random(1), mode)
        assert translator.error is not None and translator.error.status == 502
