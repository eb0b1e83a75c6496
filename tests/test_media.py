"""Embeddings, images, audio and moderations through the gateway, with the official OpenAI SDK.

Each endpoint × upstream format that serves it (OpenAI-compatible, Azure; Cloudflare and OpenRouter
for embeddings; Gemini and Vertex AI in tests/test_media_google.py), and what they share with chat:
failover before the first byte, rate limits, usage accounting, headers, OpenAI error objects.
Multipart uploads are checked byte for byte at the fake upstream, which parses them with
python-multipart (not the gateway's parser).
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time

import httpx
import openai
import pytest

from shared.store.keys import gateway_key_id
from shared.store.memory import MemoryStore, day_of
from tests.builders import config, gateway_key, provider
from tests.conftest import USER
from tests.fakes.openai_fake import Reply

MODELS = ["text-embedding-3-small", "gpt-image-1", "dall-e-3", "tts-1", "whisper-1", "omni-moderation-latest"]
AUDIO = b"RIFF\x00\x01fake-wav\r\n--not-a-boundary\r\n\xff\xfe" * 50  # binary, CRLFs and dashes inside


class Upstream:
    """One fake upstream of a format, a gateway in front of it, and where each endpoint lands there."""

    def __init__(self, fake_factory, gateway_factory, fmt: str, *more: dict, env: dict | None = None, store=None, **key) -> None:
        self.fmt = fmt
        if fmt == "azure":
            self.fake = fake_factory("az", flavour="azure")
            entry = provider("az", self.fake, path="", engine="azure", models=[{f"{m}-deploy": m} for m in MODELS])
        else:
            self.fake = fake_factory("oa")
            entry = provider("oa", self.fake, models=MODELS)
        keys = [gateway_key("sk-media-user", **key)] if key else []
        self.gw = gateway_factory(config(entry, *more, keys=keys), env=env, store=store)
        self.key = "sk-media-user" if key else USER

    def client(self, **kw) -> openai.OpenAI:
        return self.gw.client(self.key, **kw)

    def upstream_model(self, model: str) -> str:
        return f"{model}-deploy" if self.fmt == "azure" else model

    def path(self, endpoint: str, model: str) -> str:
        return f"/openai/deployments/{model}-deploy/{endpoint}" if self.fmt == "azure" else f"/v1/{endpoint}"

    def sent(self, endpoint: str, model: str) -> dict:
        """The one request the fake received, checked to be at the endpoint's URL with the format's auth."""
        request = self.fake.requests[-1]
        assert request["path"] == self.path(endpoint, model)
        if self.fmt == "azure":
            assert request["query"] == {"api-version": "2024-10-21"} and request["headers"]["api-key"] == "sk-upstream-key-1"
        else:
            assert request["headers"]["authorization"] == "Bearer sk-upstream-key-1"
        return request


@pytest.fixture(params=["openai", "azure"])
def up(request, fake_factory, gateway_factory) -> Upstream:
    return Upstream(fake_factory, gateway_factory, request.param)


def floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# -- embeddings ---------------------------------------------------------------------------------

def test_embeddings_every_input_form(up):
    client = up.client()
    answer = client.embeddings.create(model="text-embedding-3-small", input=["hello", "wide world"])  # SDK default: base64
    assert [d.embedding for d in answer.data] == [[5.0, 0.0, 0.25, 0.5], [10.0, 1.0, 0.25, 0.5]]
    assert answer.model == up.upstream_model("text-embedding-3-small") and answer.usage.prompt_tokens == 3  # passed through
    sent = up.sent("embeddings", "text-embedding-3-small")["body"]
    assert sent == {"model": up.upstream_model("text-embedding-3-small"), "input": ["hello", "wide world"], "encoding_format": "base64"}
    one = client.embeddings.create(model="text-embedding-3-small", input="hi", encoding_format="float", dimensions=3)
    assert one.data[0].embedding == [2.0, 0.0, 0.25]
    assert up.fake.requests[-1]["body"]["dimensions"] == 3
    tokens = client.embeddings.create(model="text-embedding-3-small", input=[1, 2, 3], encoding_format="float")
    assert tokens.data[0].embedding[0] == 3.0 and up.fake.requests[-1]["body"]["input"] == [1, 2, 3]
    lists = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2], [3, 4, 5]], encoding_format="float")
    assert [d.embedding[0] for d in lists.data] == [2.0, 3.0]


@pytest.mark.parametrize("asked", ["base64", "float"])
def test_embeddings_answer_in_the_format_asked_even_when_the_upstream_ignores_it(up, asked):
    up.fake.default = Reply(float_only=True)  # floats whatever encoding_format says, as some hosts do
    response = httpx.post(up.gw.url + "/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["abc"], "encoding_format": asked},
                          headers={"authorization": f"Bearer {up.key}"})
    assert response.status_code == 200
    vector = response.json()["data"][0]["embedding"]
    if asked == "base64":
        assert isinstance(vector, str) and floats(vector) == [3.0, 0.0, 0.25, 0.5]  # float32 little-endian
    else:
        assert vector == [3.0, 0.0, 0.25, 0.5]


@pytest.mark.parametrize("engine", ["cloudflare", "openrouter"])
def test_embeddings_on_other_openai_compatible_engines(fake_factory, gateway_factory, engine):
    fake = fake_factory("cf", flavour=engine)
    fields = {"cf_account_id": "acc123", "path": "/client/v4"} if engine == "cloudflare" else {"path": "/api/v1"}
    gw = gateway_factory(config(provider("x", fake, engine=engine, models=["@cf/baai/bge-m3"], **fields)))
    answer = gw.client().embeddings.create(model="@cf/baai/bge-m3", input="four")
    assert answer.data[0].embedding == [4.0, 0.0, 0.25, 0.5]
    expected = "/client/v4/accounts/acc123/ai/v1/embeddings" if engine == "cloudflare" else "/api/v1/embeddings"
    assert fake.requests[-1]["path"] == expected


# -- images ---------------------------------------------------------------------------------------

def test_image_generation(up):
    client = up.client()
    image = client.images.generate(model="gpt-image-1", prompt="a red fox", size="1024x1024")
    assert base64.b64decode(image.data[0].b64_json) == b"PNG for a red fox"
    assert image.usage.input_tokens == 50
    assert up.sent("images/generations", "gpt-image-1")["body"] == {
        "model": up.upstream_model("gpt-image-1"), "prompt": "a red fox", "size": "1024x1024"}
    urls = client.images.generate(model="dall-e-3", prompt="x", n=1)
    assert urls.data[0].url.startswith("https://images.example/")


def test_image_generation_stream_relays_the_upstreams_events(up):
    events = list(up.client().images.generate(model="gpt-image-1", prompt="owl", stream=True))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert base64.b64decode(events[-1].b64_json) == b"PNG for owl" and events[-1].usage.output_tokens == 60


def test_image_edit_uploads_the_image_byte_for_byte(up):
    picture = bytes(range(256)) * 40 + b"\r\n--boundary-like\r\n"
    edited = up.client().images.edit(model="gpt-image-1", image=("cat.png", picture, "image/png"), prompt="add a hat", n=2)
    assert [base64.b64decode(d.b64_json) for d in edited.data] == [picture, picture]
    sent = up.sent("images/edits", "gpt-image-1")
    assert sent["files"]["image"] == [{"filename": "cat.png", "content_type": "image/png", "content": picture}]
    assert sent["body"] == {"model": up.upstream_model("gpt-image-1"), "prompt": "add a hat", "n": "2"}


def test_image_edit_stream(up):
    events = list(up.client().images.edit(model="gpt-image-1", image=("a.png", b"PNG", "image/png"), prompt="p", stream=True))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert base64.b64decode(events[-1].b64_json) == b"PNG" and up.fake.requests[-1]["body"]["stream"] == "true"


def test_image_edit_with_several_images(up):
    edited = up.client().images.edit(model="gpt-image-1", prompt="merge",
                                     image=[("a.png", b"AAA", "image/png"), ("b.webp", b"BBB", "image/webp")])
    assert base64.b64decode(edited.data[0].b64_json) == b"AAA|BBB"
    files = up.sent("images/edits", "gpt-image-1")["files"]["image[]"]
    assert [(f["filename"], f["content_type"]) for f in files] == [("a.png", "image/png"), ("b.webp", "image/webp")]


# -- audio ----------------------------------------------------------------------------------------

def test_speech_returns_the_upstreams_audio_and_type(up):
    client = up.client()
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input="good morning")
    assert audio.content == b"".join(bytes([n]) + b"[mp3 audio of good morning]" for n in range(5))
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert up.sent("audio/speech", "tts-1")["body"] == {"model": up.upstream_model("tts-1"), "voice": "alloy", "input": "good morning"}
    wav = client.audio.speech.create(model="tts-1", voice="nova", input="x", response_format="wav")
    assert wav.response.headers["content-type"] == "audio/wav" and wav.content.startswith(b"\x00[wav audio of x]")


def test_speech_streams_chunk_by_chunk_not_buffered(up):
    up.fake.default = Reply(chunks=5, chunk_delay=0.3)
    arrived = []
    with up.client().audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hi") as response:
        for piece in response.iter_bytes():
            arrived.append((time.perf_counter(), piece))
    assert b"".join(p for _, p in arrived).count(b"[mp3 audio of hi]") == 5
    first_arrival, last_sent = arrived[0][0], up.fake.sent[-1]
    assert first_arrival < last_sent - 0.5  # the client had audio over a second before the upstream sent its last piece


def test_speech_broken_after_the_first_byte_is_an_incomplete_answer_not_a_short_file(up):
    up.fake.default = Reply(chunks=5, break_after=2)
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
        up.client().audio.speech.create(model="tts-1", voice="alloy", input="hi").read()


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "verbose_json", "vtt"])
def test_transcription_every_response_format(up, fmt):
    answer = up.client().audio.transcriptions.create(model="whisper-1", file=("talk.wav", AUDIO, "audio/wav"), response_format=fmt,
                                                     language="en", temperature=0.2)
    said = f"transcribe of talk.wav ({len(AUDIO)} bytes, audio/wav)"
    if fmt == "json":
        assert answer.text == said and answer.usage.input_tokens == 14
    elif fmt == "verbose_json":
        assert answer.text == said and answer.segments[0].end == 2.5
    else:
        assert isinstance(answer, str) and said in answer
        assert answer.startswith({"text": said, "srt": "1\n00:00:00,000", "vtt": "WEBVTT"}[fmt])
    sent = up.sent("audio/transcriptions", "whisper-1")
    assert sent["files"]["file"] == [{"filename": "talk.wav", "content_type": "audio/wav", "content": AUDIO}]
    expected = {"model": up.upstream_model("whisper-1"), "language": "en", "temperature": "0.2"}
    if fmt != "json":
        expected["response_format"] = fmt
    assert {k: v for k, v in sent["body"].items() if k != "response_format" or fmt != "json"} == expected


def test_transcription_text_answer_is_plain_text(up):
    response = httpx.post(up.gw.url + "/v1/audio/transcriptions", headers={"authorization": f"Bearer {up.key}"},
                          files={"file": ("a.mp3", b"mp3", "audio/mpeg")}, data={"model": "whisper-1", "response_format": "srt"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("1\n00:00:00,000 --> ")


def test_transcription_stream(up):
    events = list(up.client().audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"abc", "audio/mpeg"), stream=True))
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == "transcribe of a.mp3 (3 bytes, audio/mpeg)"
    assert events[-1].type == "transcript.text.done" and events[-1].usage.output_tokens == 45
    assert up.fake.requests[-1]["body"]["stream"] == "true"


def test_transcription_stream_that_breaks_ends_with_an_error_event(up):
    up.fake.default = Reply(break_after=2)
    stream = up.client().audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"abc", "audio/mpeg"), stream=True)
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "upstream stream broke" in info.value.message


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # openai-python marks translations deprecated
def test_translation(up):
    answer = up.client().audio.translations.create(model="whisper-1", file=("de.ogg", AUDIO[:100], "audio/ogg"), prompt="Hallo")
    assert answer.text == "translate of de.ogg (100 bytes, audio/ogg)"
    sent = up.sent("audio/translations", "whisper-1")
    assert sent["body"] == {"model": up.upstream_model("whisper-1"), "prompt": "Hallo"}
    assert sent["files"]["file"][0]["content"] == AUDIO[:100]
    text = up.client().audio.translations.create(model="whisper-1", file=("de.ogg", b"x", "audio/ogg"), response_format="vtt")
    assert isinstance(text, str) and text.startswith("WEBVTT")


# -- moderations ----------------------------------------------------------------------------------

def test_moderations(up):
    client = up.client()
    result = client.moderations.create(model="omni-moderation-latest", input="I will attack")
    assert result.results[0].flagged is True and result.results[0].categories.violence is True
    assert up.sent("moderations", "omni-moderation-latest")["body"]["model"] == up.upstream_model("omni-moderation-latest")
    default = client.moderations.create(input="a kind word")  # no model: the key's moderation model
    assert default.results[0].flagged is False
    assert up.fake.requests[-1]["body"] == {"input": "a kind word", "model": up.upstream_model("omni-moderation-latest")}


# -- what every endpoint shares with chat ---------------------------------------------------------

def failover_gateway(fake_factory, gateway_factory):
    first, second = fake_factory("first"), fake_factory("second")
    gw = gateway_factory(config(provider("first", first, models=MODELS), provider("second", second, models=MODELS)))
    first.default = Reply(status=503)
    return gw, first, second


def test_failover_to_the_next_channel_before_the_first_byte(fake_factory, gateway_factory):
    gw, first, second = failover_gateway(fake_factory, gateway_factory)
    client = gw.client()
    assert client.embeddings.create(model="text-embedding-3-small", input="abc", encoding_format="float").data[0].embedding[0] == 3.0
    speech = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="x")
    assert speech.headers["x-gateway-provider"] == "second" and speech.content.startswith(b"\x00[mp3 audio of x]")
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", AUDIO, "audio/wav"))
    assert text.text == f"transcribe of a.wav ({len(AUDIO)} bytes, audio/wav)"
    # The upload went to both upstreams whole: the first failed, the second got the same bytes.
    first_upload = [r for r in first.requests if r["path"].endswith("/transcriptions")][0]
    second_upload = [r for r in second.requests if r["path"].endswith("/transcriptions")][0]
    assert first_upload["raw"] == second_upload["raw"] and second_upload["files"]["file"][0]["content"] == AUDIO
    assert len(first.requests) == 3 and len(second.requests) == 3


def test_every_channel_failing_is_an_openai_error(fake_factory, gateway_factory):
    fake = fake_factory("only")
    fake.default = Reply(status=500)
    gw = gateway_factory(config(provider("only", fake, models=MODELS)))
    with pytest.raises(openai.InternalServerError) as info:
        gw.client().audio.speech.create(model="tts-1", voice="alloy", input="x")
    assert info.value.status_code == 502 and "only" in info.value.body["message"]
    fake.default = Reply(status=400, error_body={"error": {"message": "bad voice", "type": "invalid_request_error",
                                                            "param": "voice", "code": None}})
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().audio.speech.create(model="tts-1", voice="nobody", input="x")
    assert "bad voice" in info.value.body["message"]


def test_rate_limit_429_and_headers(fake_factory, gateway_factory):
    up = Upstream(fake_factory, gateway_factory, "openai", RATE_LIMIT="2/min")
    client = up.client()
    first = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="a")
    assert first.headers["x-ratelimit-limit-requests"] == "2" and first.headers["x-ratelimit-remaining-requests"] == "1"
    assert "upstream;dur=" in first.headers["server-timing"] and first.headers["x-gateway-provider"] == "oa"
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"x", "audio/wav"))
    with pytest.raises(openai.RateLimitError) as info:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x")
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert len(up.fake.requests) == 2


def test_usage_is_recorded_per_endpoint(fake_factory, gateway_factory):
    store = MemoryStore()
    up = Upstream(fake_factory, gateway_factory, "openai", store=store, RATE_LIMIT="100/min")
    client = up.client()
    client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"x", "audio/wav"))
    client.audio.speech.create(model="tts-1", voice="alloy", input="x").read()
    client.images.generate(model="gpt-image-1", prompt="p")
    deadline = time.time() + 5
    while True:  # recorded just after each answer was sent
        usage = asyncio.run(store.get_usage(gateway_key_id("sk-media-user"), day_of(time.time())))
        if usage.get("gpt-image-1:requests") or time.time() > deadline:
            break
        time.sleep(0.05)
    usage = {k: v for k, v in usage.items() if not k.startswith("p:")}  # per provider too: the same counts
    assert usage == {
        "text-embedding-3-small:requests": 1, "text-embedding-3-small:prompt_tokens": 3, "text-embedding-3-small:completion_tokens": 0,
        "whisper-1:requests": 1, "whisper-1:prompt_tokens": 14, "whisper-1:completion_tokens": 45,
        "tts-1:requests": 1, "tts-1:prompt_tokens": 0, "tts-1:completion_tokens": 0,
        "gpt-image-1:requests": 1, "gpt-image-1:prompt_tokens": 50, "gpt-image-1:completion_tokens": 60,
    }


def test_a_model_no_channel_serves_on_the_endpoint_is_a_400(fake_factory, gateway_factory):
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=["text-embedding-3-small"]),
                                provider("claude", "http://127.0.0.1:9", path="/v1/messages", engine="anthropic", models=["claude-x"])))
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="claude-x", voice="alloy", input="x")
    assert info.value.body["code"] == "unsupported_endpoint" and info.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="claude-x", input="x")
    assert info.value.body["code"] == "unsupported_endpoint"
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="no-such-model", input="x")
    assert info.value.body["code"] == "model_not_found"
    assert fake.requests == []


@pytest.mark.parametrize("body, param", [
    ({"model": "text-embedding-3-small"}, "input"),
    ({"input": "x"}, "model"),
    ({"model": "text-embedding-3-small", "input": [1, "a"]}, "input"),
    ({"model": "text-embedding-3-small", "input": []}, "input"),
    ({"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "dimensions"),
])
def test_bad_embeddings_bodies_are_400s_naming_the_field(fake_factory, gateway_factory, body, param):
    up = Upstream(fake_factory, gateway_factory, "openai")
    response = httpx.post(up.gw.url + "/v1/embeddings", json=body, headers={"authorization": f"Bearer {up.key}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert up.fake.requests == []


@pytest.mark.parametrize("path, body, param", [
    ("/v1/audio/speech", {"model": "tts-1", "input": "x"}, "voice"),
    ("/v1/images/generations", {"model": "gpt-image-1"}, "prompt"),
    ("/v1/moderations", {"model": "omni-moderation-latest"}, "input"),
])
def test_bad_json_bodies_are_400s_naming_the_field(fake_factory, gateway_factory, path, body, param):
    up = Upstream(fake_factory, gateway_factory, "openai")
    response = httpx.post(up.gw.url + path, json=body, headers={"authorization": f"Bearer {up.key}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# -- multipart limits and malformed uploads -----------------------------------------------------------

def upload(url: str, content: bytes, content_type: str | None, path: str = "/v1/audio/transcriptions", key: str = USER) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["content-type"] = content_type
    return httpx.post(url + path, content=content, headers=headers, timeout=10)


def form(*parts: tuple[str, bytes, str | None], boundary: str = "b0und") -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: audio/wav\r\n" if filename else b""
        out += b"\r\n" + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_an_upload_over_max_request_bytes_is_a_413_before_the_upstream(fake_factory, gateway_factory):
    up = Upstream(fake_factory, gateway_factory, "openai", env={"MAX_REQUEST_BYTES": "20000"})
    with pytest.raises(openai.APIStatusError) as info:
        up.client().audio.transcriptions.create(model="whisper-1", file=("big.wav", b"x" * 30000, "audio/wav"))
    assert info.value.status_code == 413 and info.value.body["code"] == "request_too_large"

    async def chunked() -> None:  # no Content-Length: counted while it is read
        async def body():
            yield form(("model", b"whisper-1", None))[:-12]
            for _ in range(10):
                yield b"y" * 5000

        async with httpx.AsyncClient() as client:
            response = await client.post(up.gw.url + "/v1/audio/transcriptions", content=body(),
                                         headers={"authorization": f"Bearer {up.key}", "content-type": "multipart/form-data; boundary=b0und"})
        assert response.status_code == 413

    asyncio.run(chunked())
    assert up.fake.requests == []


@pytest.mark.parametrize("content, content_type, code, param", [
    (form(("model", b"whisper-1", None), ("file", b"abc", "a.wav")), "multipart/form-data", "invalid_multipart", None),
    (form(("model", b"whisper-1", None), ("file", b"abc", "a.wav")), None, "invalid_content_type", None),
    (b'{"model": "whisper-1"}', "application/json", "invalid_content_type", None),
    (form(("file", b"abc", "a.wav")), "multipart/form-data; boundary=b0und", "missing_required_parameter", "model"),
    (form(("model", b"whisper-1", None)), "multipart/form-data; boundary=b0und", "missing_required_parameter", "file"),
    (form(("model", b"whisper-1", None), ("file", b"abc", None)), "multipart/form-data; boundary=b0und", "missing_required_parameter", "file"),
    (form(("model", b"whisper-1", None), ("file", b"abc", "a.wav"))[:-20], "multipart/form-data; boundary=b0und", "invalid_multipart", None),
    (form(("model", b"whisper-1", None), boundary="other"), "multipart/form-data; boundary=b0und", "invalid_multipart", None),
    (b"--b0und\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0und--\r\n", "multipart/form-data; boundary=b0und", "invalid_multipart", None),
])
def test_a_malformed_upload_is_a_400_saying_what_is_wrong(fake_factory, gateway_factory, content, content_type, code, param):
    up = Upstream(fake_factory, gateway_factory, "openai")
    response = upload(up.gw.url, content, content_type)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param and error["message"]
    assert up.fake.requests == []


def test_image_edit_needs_an_image_and_a_prompt(fake_factory, gateway_factory):
    up = Upstream(fake_factory, gateway_factory, "openai")
    ct = "multipart/form-data; boundary=b0und"
    no_image = upload(up.gw.url, form(("model", b"gpt-image-1", None), ("prompt", b"hat", None)), ct, "/v1/images/edits")
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"
    no_prompt = upload(up.gw.url, form(("model", b"gpt-image-1", None), ("image", b"PNG", "a.png")), ct, "/v1/images/edits")
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["param"] == "prompt"


def test_upload_overrides_apply_to_its_text_fields(fake_factory, gateway_factory):
    fake = fake_factory("oa")
    gw = gateway_factory(config(provider("oa", fake, models=[{"whisper-large": "whisper-1"}],
                                         preferences={"post_body_parameter_overrides": {"temperature": 0, "whisper-1": {"__remove__": ["prompt"]}}})))
    gw.client().audio.transcriptions.create(model="whisper-1", file=("a.wav", AUDIO, "audio/wav"), prompt="drop me", language="de")
    sent = fake.requests[-1]
    assert sent["body"] == {"model": "whisper-large", "language": "de", "temperature": "0"}
    assert sent["files"]["file"][0]["content"] == AUDIO
