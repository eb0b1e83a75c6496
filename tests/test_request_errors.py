"""Bad requests get OpenAI error objects with the right status, never a 500, and never reach an upstream."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.conftest import DEV_ENV

ADMIN = "adminadmin"
ONLY_A = "sk-gw-only-a-3141"
LIMIT = 4096
HI = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def setup(module_fake_factory, module_gateway_factory):
    """Two fake upstreams and one gateway (MAX_REQUEST_BYTES=4096) shared by the module."""
    fake_a, fake_b = module_fake_factory("a"), module_fake_factory("b")
    gateway = module_gateway_factory(config(provider("a", fake_a, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                                            provider("b", fake_b, path=CHAT_COMPLETIONS, models=["claude-3-5-sonnet"]),
                                            keys=[gateway_key(ONLY_A, ["a/*"])]),
                                     env={"MAX_REQUEST_BYTES": str(LIMIT), **DEV_ENV})
    return gateway, (fake_a, fake_b)


@pytest.fixture
def gw(setup):
    gateway, fakes = setup
    for fake in fakes:
        fake.reset()
    yield gateway
    assert all(f.requests == [] for f in fakes), "a bad request reached an upstream"


def post(gw, content=None, *, json_body=None, headers=None, path="/v1/chat/completions") -> httpx.Response:
    return httpx.post(gw.url + path, headers={**AUTH, **(headers or {})}, content=content, json=json_body)


def error_of(response: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    """The exact OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == ("invalid_request_error" if status in (400, 404, 405, 413) else error["type"])
    if code is not None:
        assert error["code"] == code
    assert error["param"] == param
    return error


# -- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"model": "gpt-4o",', b"\xff\xfe\x00garbage"],
                         ids=["broken", "empty", "truncated", "not utf-8"])
def test_invalid_json_is_400(gw, content):
    error_of(post(gw, content, headers={"content-type": "application/json"}), 400, "invalid_json")


@pytest.mark.parametrize("content", [b"[]", b'[{"model": "gpt-4o"}]', b'"hello"', b"null", b"42"])
def test_json_that_is_not_an_object_is_400(gw, content):
    error = error_of(post(gw, content), 400, "invalid_json")
    assert "JSON object" in error["message"]


def test_deeply_nested_json_is_400_not_500(gw):
    nested = b'{"model": "gpt-4o", "messages": ' + b"[" * 1500 + b"]" * 1500 + b"}"
    assert len(nested) < LIMIT  # small, yet deeper than the JSON parser's recursion limit
    error = error_of(post(gw, nested), 400, "invalid_json")
    assert "nested too deeply" in error["message"]


def test_missing_model_is_400_with_param_model(gw):
    error = error_of(post(gw, json_body={"messages": HI}), 400, "missing_required_parameter", "model")
    assert "model" in error["message"]
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(ADMIN).chat.completions.create(model="", messages=HI)
    assert info.value.status_code == 400 and info.value.body["param"] == "model"


@pytest.mark.parametrize("model", [None, 42, ["gpt-4o"]], ids=["null", "number", "list"])
def test_model_that_is_not_a_string_is_400(gw, model):
    error_of(post(gw, json_body={"model": model, "messages": HI}), 400, param="model")


@pytest.mark.parametrize("body,code", [
    ({"model": "gpt-4o"}, "missing_required_parameter"),
    ({"model": "gpt-4o", "messages": []}, "invalid_type"),
    ({"model": "gpt-4o", "messages": "hi"}, "invalid_type"),
    ({"model": "gpt-4o", "messages": {"role": "user", "content": "hi"}}, "invalid_type"),
    ({"model": "gpt-4o", "messages": ["hi"]}, "invalid_type"),
    ({"model": "gpt-4o", "messages": [{"content": "no role"}]}, "invalid_type"),
], ids=["missing", "empty", "string", "object", "list of strings", "message without role"])
def test_bad_messages_are_400_with_param_messages(gw, body, code):
    error_of(post(gw, json_body=body), 400, code, "messages")


def test_sdk_sees_bad_messages_as_bad_request(gw):
    with pytest.raises(openai.BadRequestError) as info:
        gw.client(ADMIN).chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.body["param"] == "messages"


@pytest.mark.parametrize("stream", ["yes", 1, {"on": True}], ids=["string", "number", "object"])
def test_stream_that_is_not_a_boolean_is_400(gw, stream):
    error_of(post(gw, json_body={"model": "gpt-4o", "messages": HI, "stream": stream}), 400, "invalid_type", "stream")


# -- body size ----------------------------------------------------------------------------------


def big_body(size: int) -> bytes:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": ""}]}
    pad = size - len(json.dumps(body).encode())
    body["messages"][0]["content"] = "x" * pad
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


def test_body_over_max_request_bytes_is_413(gw):
    error = error_of(post(gw, big_body(LIMIT + 1)), 413, "request_too_large")
    assert str(LIMIT) in error["message"]
    with pytest.raises(openai.APIStatusError) as info:
        gw.client(ADMIN).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * LIMIT}])
    assert info.value.status_code == 413


def test_body_over_the_limit_without_content_length_is_413(gw):
    data = big_body(LIMIT * 3)
    chunks = (data[i:i + 1000] for i in range(0, len(data), 1000))  # chunked transfer: no Content-Length
    error_of(post(gw, chunks), 413, "request_too_large")


def test_body_exactly_at_the_limit_is_served(gw, setup):
    response = post(gw, big_body(LIMIT))
    assert response.status_code == 200, response.text
    setup[1][0].reset()  # that request legitimately reached upstream a


# -- paths, methods, models ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/completion", "/v2/chat/completions", "/v1/chat/completions/extra", "/admin.php"])
def test_unknown_path_is_404(gw, path):
    error = error_of(post(gw, json_body={"model": "gpt-4o", "messages": HI}, path=path), 404, "unknown_url")
    assert path in error["message"]
    error_of(httpx.get(gw.url + path, headers=AUTH), 404, "unknown_url")


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/v1/chat/completions", "POST"),
    ("PUT", "/v1/chat/completions", "POST"),
    ("POST", "/v1/models", "GET"),
    ("DELETE", "/v1/models", "GET"),
])
def test_wrong_method_is_405_with_allow_header(gw, method, path, allowed):
    response = httpx.request(method, gw.url + path, headers=AUTH)
    error = error_of(response, 405, "method_not_allowed")
    assert method in error["message"]
    assert allowed in response.headers["allow"]


def test_unknown_model_is_404_model_not_found(gw):
    error = error_of(post(gw, json_body={"model": "gpt-9-ultra", "messages": HI}), 404, "model_not_found", "model")
    assert "gpt-9-ultra" in error["message"]
    with pytest.raises(openai.NotFoundError) as info:
        gw.client(ADMIN).chat.completions.create(model="gpt-9-ultra", messages=HI)
    assert info.value.body["code"] == "model_not_found"


def test_model_that_exists_but_is_not_allowed_for_the_key_is_403(gw):
    response = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {ONLY_A}"},
                          json={"model": "claude-3-5-sonnet", "messages": HI})
    error = error_of(response, 403, "model_not_allowed", "model")
    assert error["type"] == "permission_error"
    assert "claude-3-5-sonnet" in error["message"]
    with pytest.raises(openai.PermissionDeniedError) as info:
        gw.client(ONLY_A).chat.completions.create(model="claude-3-5-sonnet", messages=HI)
    assert info.value.body["param"] == "model"
