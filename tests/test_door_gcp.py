"""Google Cloud Functions (gen2) door: the real ``functions-framework`` serving the deployable bundle.

``functions/gcp/bundle.py`` builds the directory ``gcloud functions deploy --source`` uploads; the test
builds it, starts ``functions-framework --target gateway --source main.py`` inside it (the command
the Cloud Functions image runs) and talks to it with the OpenAI SDK.
"""

from __future__ import annotations

import os
import re
import sys
import time

import httpx
import openai
import pytest

from tests.door_process import ADMIN_KEY, MODELS, ROOT, SPEECH, USER_KEY, ServerProcess, chat_body, door_env, speech_audio, sse_events, stream_text
from tests.fakes.openai_fake import Reply


def functions_framework_command() -> list[str]:
    """The console script installed next to this Python, as on Cloud Functions; ``-m`` as a fallback."""
    script = os.path.join(os.path.dirname(sys.executable), "functions-framework")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "functions_framework"]


def requirement_names(path: str) -> set[str]:
    lines = (line.split("#")[0].strip() for line in open(path))
    return {re.split(r"[=<>!~;\[ ]", line)[0].lower() for line in lines if line}


pytestmark = pytest.mark.usefixtures("fresh_upstream")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    sys.path.insert(0, os.path.join(ROOT, "functions", "gcp"))
    try:
        from bundle import bundle
    finally:
        sys.path.pop(0)
    return bundle(str(tmp_path_factory.mktemp("gcf") / "source"))


@pytest.fixture(scope="module")
def door(upstream, bundle_dir):
    server = ServerProcess([*functions_framework_command(), "--target", "gateway", "--source", "main.py",
                            "--host", "127.0.0.1", "--port", "{port}"], door_env(upstream.url), cwd=bundle_dir).start()
    yield server
    server.stop()


def sdk(door: ServerProcess, key: str = USER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=door.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_bundle_is_self_contained(bundle_dir):
    names = set(os.listdir(bundle_dir))
    assert {"main.py", "shared", "requirements.txt"} <= names
    assert os.path.isfile(os.path.join(bundle_dir, "shared", "app.py"))
    panel = os.path.join(ROOT, "shared", "admin", "static")  # the admin panel's page and assets ship too
    assert os.listdir(panel) and sorted(os.listdir(panel)) == sorted(os.listdir(os.path.join(bundle_dir, "shared", "admin", "static")))
    assert not [d for d, _, _ in os.walk(bundle_dir) if d.endswith("__pycache__")]
    bundled = requirement_names(os.path.join(bundle_dir, "requirements.txt"))
    root = requirement_names(os.path.join(ROOT, "requirements.txt"))
    assert root | {"functions-framework"} == bundled
    assert "functions-framework" not in root  # it pulls in Flask: Vercel would switch to framework mode


def test_sdk_lists_models(door):
    assert [m.id for m in sdk(door).models.list()] == MODELS


def test_sdk_chat_completion(door, upstream):
    answer = sdk(door).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "up says: hello"
    assert upstream.requests[0]["body"]["model"] == "gpt-4o"


def test_sdk_stream_arrives_chunk_by_chunk(door, upstream):
    upstream.then(Reply(text="one two three four five six", chunk_delay=0.2))
    arrivals, text = [], ""
    stream = sdk(door).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "count"}],
                                               stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
            text += chunk.choices[0].delta.content
    assert text == "one two three four five six"
    assert arrivals[-1] - arrivals[0] > 0.6  # first chunk well before the last: nothing buffered


def test_raw_stream_ends_with_done(door, upstream):
    with httpx.stream("POST", door.url + "/v1/chat/completions", json=chat_body(stream=True),
                      headers={"authorization": f"Bearer {USER_KEY}"}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response.iter_lines()))
    assert events[-1] == "[DONE]" and stream_text(events) == "up says: hello"


def test_errors_are_openai_error_objects(door, upstream):
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(door, "sk-wrong").models.list()
    assert info.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as info:
        sdk(door).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as info:
        sdk(door).chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.status_code == 400
    upstream.default = Reply(status=500)
    with pytest.raises(openai.APIStatusError) as info:
        sdk(door, ADMIN_KEY).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code >= 500 and info.value.body["message"]


def test_unknown_path_and_health(door):
    response = httpx.get(door.url + "/v2/nothing", timeout=10)
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"
    health = httpx.get(door.url + "/", timeout=10)
    assert health.status_code == 200 and health.json()["providers"] == 1


def test_entry_point_also_runs_from_the_repository(upstream):
    """``--source functions/gcp/main.py`` from the repository root (local try-out without bundling)."""
    server = ServerProcess([*functions_framework_command(), "--target", "gateway", "--source",
                            "functions/gcp/main.py", "--host", "127.0.0.1", "--port", "{port}"],
                           door_env(upstream.url), cwd=ROOT)
    try:
        server.start()
        assert [m.id for m in sdk(server).models.list()] == MODELS
    finally:
        server.stop()


def test_embeddings_through_the_door(door, upstream):
    answer = sdk(door).embeddings.create(model="text-embedding-3-small", input="abcd", encoding_format="float")
    assert answer.data[0].embedding[0] == 4.0 and upstream.requests[-1]["path"] == "/v1/embeddings"


def test_binary_speech_streams_through_the_door(door, upstream):
    upstream.then(Reply(chunks=5, chunk_delay=0.3))
    arrivals, audio = [], b""
    with sdk(door).audio.speech.with_streaming_response.create(**SPEECH) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        for piece in response.iter_bytes():
            arrivals.append(time.perf_counter())
            audio += piece
    assert audio == speech_audio()
    assert arrivals[0] < upstream.sent[-1] - 0.5  # streamed, not buffered


def test_transcription_upload_through_the_door(door, upstream):
    text = sdk(door).audio.transcriptions.create(model="whisper-1", file=("a.wav", b"\x00\x01wav" * 100, "audio/wav"), response_format="text")
    assert text == "transcribe of a.wav (500 bytes, audio/wav)\n"
