"""Vercel door: ``api/index.py:app`` served by uvicorn in its own process, as Vercel's Python runtime does.

Vercel may hand the function the client's path or the rewritten ``/api/index?path=…`` (vercel.json);
both must reach the same route, and a streamed answer must leave the function chunk by chunk.
"""

from __future__ import annotations

import inspect
import json
import sys
import time

import httpx
import openai
import pytest

from tests.door_process import ADMIN_KEY, MODELS, SPEECH, USER_KEY, ServerProcess, chat_body, door_env, speech_audio, sse_events, stream_text
from tests.fakes.openai_fake import Reply

from shared.vercel_paths import VercelPaths, original_path


pytestmark = pytest.mark.usefixtures("fresh_upstream")


@pytest.fixture(scope="module")
def door(upstream):
    server = ServerProcess([sys.executable, "-m", "uvicorn", "api.index:app", "--host", "127.0.0.1",
                            "--port", "{port}", "--log-level", "warning"], door_env(upstream.url, VERCEL="1")).start()
    yield server
    server.stop()


def get(door: ServerProcess, path: str, key: str = USER_KEY) -> httpx.Response:
    return httpx.get(door.url + path, headers={"authorization": f"Bearer {key}"}, timeout=10)


# -- the wrapper on its own ---------------------------------------------------------------------

def test_rewritten_path_is_restored_and_the_other_query_parameters_kept():
    scope = {"type": "http", "path": "/api/index", "raw_path": b"/api/index",
             "query_string": b"api-version=2024-10-21&path=v1%2Fchat%2Fcompletions&x=a%20b"}
    restored = original_path(scope)
    assert restored["path"] == "/v1/chat/completions"
    assert restored["raw_path"] == b"/v1/chat/completions"
    assert restored["query_string"] == b"api-version=2024-10-21&x=a%20b"
    assert scope["path"] == "/api/index"  # the incoming scope is not mutated


def test_function_path_without_the_parameter_is_left_alone():
    scope = {"type": "http", "path": "/api/index", "query_string": b"x=1"}
    assert original_path(scope) is scope


def test_vercel_sees_an_asgi_app():
    """Vercel's runtime picks ASGI over WSGI when ``app.__call__`` is a coroutine function."""
    import api.index
    from shared.app import app as gateway_app

    assert isinstance(api.index.app, VercelPaths) and api.index.app.app is gateway_app
    assert inspect.iscoroutinefunction(api.index.app.__call__)


# -- the door as a process ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/models", "/api/index?path=v1/models", "/api/index?path=v1%2Fmodels",
                                  "/v1/models?path=v1%2Fmodels", "/api?path=v1/models"])
def test_models_route_under_every_path_form(door, path):
    response = get(door, path)
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["data"]] == MODELS


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/index?path=", "/api/index?path=healthz"])
def test_health_under_root_and_rewritten_forms(door, path):
    response = httpx.get(door.url + path, timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["providers"] == 1


def test_chat_completion_through_the_rewritten_path(door, upstream):
    response = httpx.post(door.url + "/api/index?path=v1/chat/completions", json=chat_body("hello there"),
                          headers={"authorization": f"Bearer {USER_KEY}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "up says: hello there"
    assert upstream.requests[0]["path"] == "/v1/chat/completions"


def test_sdk_stream_arrives_chunk_by_chunk(door, upstream):
    upstream.then(Reply(text="one two three four five six", chunk_delay=0.2))
    client = openai.OpenAI(base_url=door.url + "/v1", api_key=USER_KEY, max_retries=0, timeout=30)
    arrivals, text = [], ""
    for chunk in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "count"}], stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
            text += chunk.choices[0].delta.content
    assert text == "one two three four five six"
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] > 0.6  # 5 gaps of 0.2 s: nothing was held back until the end


def test_stream_through_the_rewritten_path_is_incremental(door, upstream):
    upstream.then(Reply(text="a b c d", chunk_delay=0.2))
    arrivals, events = [], []
    with httpx.stream("POST", door.url + "/api/index?path=v1/chat/completions", json=chat_body(stream=True),
                      headers={"authorization": f"Bearer {USER_KEY}"}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in sse_events(response.iter_lines()):
            events.append(event)
            arrivals.append(time.perf_counter())
    assert events[-1] == "[DONE]"
    assert stream_text(events) == "a b c d"
    assert arrivals[-1] - arrivals[0] > 0.4


@pytest.mark.parametrize("path", ["/api/index?path=nowhere", "/api/index", "/nowhere"])
def test_unknown_paths_answer_an_openai_error(door, path):
    response = get(door, path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"


def test_errors_are_openai_error_objects(door):
    client = openai.OpenAI(base_url=door.url + "/v1", api_key="sk-wrong", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError) as info:
        client.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    client = openai.OpenAI(base_url=door.url + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=10)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    response = httpx.post(door.url + "/api/index?path=v1/chat/completions", content=b"{not json",
                          headers={"authorization": f"Bearer {USER_KEY}", "content-type": "application/json"}, timeout=10)
    assert response.status_code == 400 and json.loads(response.text)["error"]["code"] == "invalid_json"


def test_body_over_vercels_limit_gets_our_413(door, upstream):
    """Vercel refuses bodies over 4.5 MB itself; the gateway's limit there is the same figure, stated in its answer."""
    body = json.dumps(chat_body("x" * 4_500_000)).encode()
    response = httpx.post(door.url + "/v1/chat/completions", content=body, timeout=30,
                          headers={"authorization": f"Bearer {USER_KEY}", "content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "4500000 bytes" in error["message"]
    assert upstream.requests == []


# -- the other endpoints ----------------------------------------------------------------------------

def test_embeddings_through_the_door(door, upstream):
    client = openai.OpenAI(base_url=door.url + "/v1", api_key=USER_KEY, max_retries=0, timeout=30)
    answer = client.embeddings.create(model="text-embedding-3-small", input=["ab", "cde"])
    assert [d.embedding[:2] for d in answer.data] == [[2.0, 0.0], [3.0, 1.0]]
    assert upstream.requests[-1]["path"] == "/v1/embeddings"


def test_binary_speech_streams_through_the_door(door, upstream):
    upstream.then(Reply(chunks=5, chunk_delay=0.3))
    arrivals, audio = [], b""
    with httpx.stream("POST", door.url + "/api/index?path=v1/audio/speech", json=SPEECH,
                      headers={"authorization": f"Bearer {USER_KEY}"}, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
        for piece in response.iter_bytes():
            arrivals.append(time.perf_counter())
            audio += piece
    assert audio == speech_audio()
    assert arrivals[0] < upstream.sent[-1] - 0.5  # the first audio arrived well before the upstream sent its last piece
