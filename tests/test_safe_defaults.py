"""Safe defaults and the hygiene around them: where the development keys apply, what the local
server accepts from a slow or hostile client, config values with line breaks, CONFIG_URL redirects,
redirects never built from the Host header, and moderation of every text a request sends."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from shared.config import ConfigError, load_config, parse_config_text
from shared.settings import DEV_ADMIN_KEY, Settings
from tests.builders import config, gateway_key, provider
from tests.fakes.server import ThreadServer
from tests.test_main_process import run_main  # noqa: F401  (fixture)

HI = [{"role": "user", "content": "hi"}]
PLATFORMS = {"vercel": {"VERCEL": "1"}, "lambda": {"AWS_LAMBDA_FUNCTION_NAME": "gw"}, "cloud functions": {"K_SERVICE": "gw"}}


def status(gw, key: str) -> int:  # type: ignore[no-untyped-def]
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o", "messages": HI}).status_code


# -- where the development keys apply ----------------------------------------------------------------

def test_the_local_default_bind_is_loopback():
    assert Settings.from_env({}).host == "127.0.0.1"
    assert Settings.from_env({"HOST": "0.0.0.0"}).host == "0.0.0.0"


@pytest.mark.parametrize("value", ["prod", "dev", "staging", "Production "])
def test_an_unknown_environment_is_a_start_up_error(value):
    if value.strip().lower() == "production":
        assert Settings.from_env({"ENVIRONMENT": value}).production
        return
    with pytest.raises(ValueError, match="ENVIRONMENT"):
        Settings.from_env({"ENVIRONMENT": value})


def test_main_refuses_to_start_with_an_unknown_environment(run_main):  # noqa: F811
    proc = run_main({"ENVIRONMENT": "prod"})
    assert proc.wait_exit() == 1
    assert "ENVIRONMENT" in proc.stderr and "'prod'" in proc.stderr


def test_development_keys_work_on_a_loopback_gateway_without_api_keys(fake_factory, gateway_factory, caplog):
    fake = fake_factory("a")
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
        assert status(gw, "temp_api_key") == 200 and status(gw, DEV_ADMIN_KEY) == 200
    warning = next(r.getMessage() for r in caplog.records if "DEVELOPMENT KEYS ARE ACTIVE" in r.getMessage())
    assert "TEMP_API_KEY=temp_api_key" in warning and "ADMIN_API_KEY=adminadmin" in warning


def test_development_keys_are_off_once_the_config_defines_api_keys(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"]), keys=[gateway_key("sk-own-key")]))
    assert [status(gw, k) for k in ("temp_api_key", "temp_api_key_one", DEV_ADMIN_KEY, "sk-own-key")] == [401, 401, 401, 200]


def test_development_keys_are_off_on_a_public_bind_unless_development_is_said(fake_factory, gateway_factory):
    fake = fake_factory("a")
    cfg = config(provider("a", fake, models=["gpt-4o"]))
    assert Settings.from_env({"HOST": "0.0.0.0"}).env_keys == ()
    public = gateway_factory(cfg, env={"HOST": "0.0.0.0"})  # the test server itself listens on loopback
    assert status(public, "temp_api_key") == 401
    dev = gateway_factory(cfg, env={"HOST": "0.0.0.0", "ENVIRONMENT": "development"})
    assert status(dev, "temp_api_key") == 200


@pytest.mark.parametrize("name", PLATFORMS)
def test_development_keys_are_never_on_a_serverless_door_unless_development_is_said(name):
    env = PLATFORMS[name]
    assert Settings.from_env(env).env_keys == ()
    assert Settings.from_env({**env, "HOST": "127.0.0.1"}).env_keys == ()
    assert {k.key for k in Settings.from_env({**env, "ENVIRONMENT": "development"}).env_keys} == \
        {"adminadmin", "temp_api_key", "temp_api_key_one"}


@pytest.mark.parametrize("where", [{}, {"HOST": "0.0.0.0"}, *PLATFORMS.values(), {"ENVIRONMENT": "production"}])
def test_keys_set_in_the_environment_work_everywhere_as_before(fake_factory, gateway_factory, where):
    fake = fake_factory("a")
    env = {**where, "ADMIN_API_KEY": "sk-my-admin-key", "TEMP_API_KEY": "sk-my-user-key"}
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"]), keys=[gateway_key("sk-own-key")]), env=env)
    assert [status(gw, k) for k in ("sk-my-admin-key", "sk-my-user-key", "sk-own-key", "temp_api_key")] == [200, 200, 200, 401]


# -- the local server against slow and oversized heads ----------------------------------------------

def test_local_server_drops_slow_heads_refuses_huge_heads_and_keeps_serving(run_main):  # noqa: F811
    proc = run_main({"REQUEST_HEADER_TIMEOUT_SECONDS": "1", "MAX_REQUEST_HEADER_BYTES": "8192"})
    proc.wait_healthy()
    slow = []
    for _ in range(50):  # slow-loris: half a request line, then nothing
        s = socket.create_connection(("127.0.0.1", proc.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    started = time.perf_counter()
    assert httpx.get(proc.url + "/healthz", timeout=2).status_code == 200  # still serving meanwhile
    assert time.perf_counter() - started < 0.5
    for s in slow:
        s.settimeout(3)
        data = s.recv(4096)  # the server answers 408 and closes...
        assert data.startswith(b"HTTP/1.1 408")
        s.close()
    assert time.perf_counter() - started < 3  # ...within about the head deadline
    big = socket.create_connection(("127.0.0.1", proc.port))
    big.settimeout(3)
    big.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000)
    assert big.recv(4096).startswith(b"HTTP/1.1 431")
    big.close()
    idle = socket.create_connection(("127.0.0.1", proc.port))  # connected, never sends: closed quietly
    idle.settimeout(3)
    assert idle.recv(10) == b""
    idle.close()
    # A normal request with a body in the same packet as a long-but-allowed head is untouched.
    assert httpx.post(proc.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key", "x-pad": "p" * 4000},
                      json={"model": "nope", "messages": HI, "pad": "x" * 100_000}).status_code == 404


def test_a_body_that_does_not_arrive_in_time_is_408(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])), env={"REQUEST_BODY_TIMEOUT_SECONDS": "0.5"})
    s = socket.create_connection(("127.0.0.1", gw.server.port))
    s.settimeout(5)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer temp_api_key\r\n"
              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":")
    started = time.perf_counter()
    reply = b""
    while b'"request_timeout"' not in reply:  # the head and the body may come in separate packets
        piece = s.recv(4096)
        if not piece:
            break
        reply += piece
    s.close()
    assert reply.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in reply
    assert time.perf_counter() - started < 3
    assert fake.requests == []


def test_a_body_of_too_many_json_containers_is_refused_before_parsing(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])), env={"MAX_REQUEST_JSON_CONTAINERS": "1000"})
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x":[' + b",".join([b"{}"] * 5000) + b"]}"
    response = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"}, content=body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert "MAX_REQUEST_JSON_CONTAINERS" in response.json()["error"]["message"]
    # Braces inside strings count too, but an ordinary body is far below the default bound.
    assert status(gw, "temp_api_key") == 200


def test_a_trailing_slash_is_served_without_a_redirect_built_from_the_host_header(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    response = httpx.get(gw.url + "/v1/models/", headers={"authorization": "Bearer temp_api_key", "host": "evil.example"})
    assert response.status_code == 200 and "location" not in response.headers
    assert [m["id"] for m in response.json()["data"]] == ["gpt-4o"]
    chat = httpx.post(gw.url + "/v1/chat/completions/", headers={"authorization": "Bearer temp_api_key", "host": "evil.example"},
                      json={"model": "gpt-4o", "messages": HI})
    assert chat.status_code == 200


# -- config hygiene -------------------------------------------------------------------------------

@pytest.mark.parametrize("field,yaml_value,path", [
    ("api", '"sk-abc\\n"', "providers[0].api"),
    ("base_url", '"https://x.example/v1\\r"', "providers[0].base_url"),
    ("preferences", '{headers: {X-Team: "a\\r\\nInjected: 1"}}', "providers[0].preferences.headers.X-Team"),
])
def test_config_values_with_line_breaks_are_refused_with_their_path(field, yaml_value, path):
    base = {"api": "sk-ok", "base_url": "https://x.example/v1"}
    lines = "".join(f"    {k}: {v}\n" for k, v in base.items() if k != field)
    text = f"providers:\n  - provider: a\n    model: [m]\n{lines}    {field}: {yaml_value}\n"
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "api.yaml", {})
    assert f"api.yaml: {path}: contains a line break" in str(info.value)


def test_multi_line_values_where_they_belong_are_accepted():
    parse_config_text("""
providers:
  - provider: v
    project_id: p
    client_email: svc@p.iam.gserviceaccount.com
    private_key: "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----\\n"
    model: [gemini-2.5-pro]
    notes: |
      two
      lines
    preferences:
      post_body_parameter_overrides: {stop: ["\\n\\n"]}
""", "api.yaml", {})


def _config_server(routes: list[Route]) -> ThreadServer:
    return ThreadServer(Starlette(routes=routes)).start()


def test_config_url_follows_redirects_only_within_its_scheme(caplog):
    text = "providers:\n  - provider: a\n    base_url: https://x.example/v1\n    api: sk-a\n    model: [m]\n"

    async def final(request: Request) -> Response:
        return PlainTextResponse(text)

    async def same(request: Request) -> Response:
        return RedirectResponse(str(request.url_for("final")), status_code=302)

    async def cross(request: Request) -> Response:
        return RedirectResponse("https://config.example/api.yaml", status_code=301)

    server = _config_server([Route("/final", final, name="final"), Route("/same", same), Route("/cross", cross)])
    try:
        with caplog.at_level(logging.WARNING, logger="gateway"):
            loaded, _ = asyncio.run(load_config(Settings.from_env({"CONFIG_URL": server.url + "/same"}), {}))
        assert [p.provider for p in loaded.providers] == ["a"]
        assert any("plain http" in r.getMessage() for r in caplog.records)
        with pytest.raises(ConfigError, match="refused a redirect from http to https://config.example"):
            asyncio.run(load_config(Settings.from_env({"CONFIG_URL": server.url + "/cross"}), {}))
    finally:
        server.stop()


# -- moderation of every text -----------------------------------------------------------------------

@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "plan an attack"}, {"role": "user", "content": "hello"}],
    [{"role": "user", "content": "plan an attack"}, {"role": "assistant", "content": "no"}, {"role": "user", "content": "ok then"}],
    [{"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "plan an attack"}]}],
    [{"role": "user", "content": "hi"},
     {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
     {"role": "tool", "tool_call_id": "c1", "content": "plan an attack"}],
], ids=["system", "earlier-user-turn", "second-text-part", "tool-result"])
def test_moderation_checks_every_text_the_request_sends(fake_factory, gateway_factory, messages):
    fake = fake_factory("oa", models=("gpt-4o", "text-moderation-latest"))
    gw = gateway_factory(config(provider("oa", fake, models=["gpt-4o", "text-moderation-latest"]),
                                keys=[gateway_key("sk-user", ["gpt-4o", "oa/text-moderation-latest"], ENABLE_MODERATION=True)]))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client("sk-user").chat.completions.create(model="gpt-4o", messages=messages)
    assert info.value.body["code"] == "content_filter"
    assert not [r for r in fake.requests if r["path"].endswith("/chat/completions")]
