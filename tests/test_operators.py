"""What an operator and a newcomer see: honest errors for rejected provider keys and connection
failures, request ids and access logs, CORS, ``GET /v1/models/{id}``, and the mock engine."""

from __future__ import annotations

import json
import logging
import os
import time

import httpx
import openai
import pytest

from shared.failures import PARK_FIRST, PARK_MAX, Parking
from tests.builders import config, gateway_key, provider
from tests.fakes.server import free_port
from tests.test_main_process import ROOT, run_main  # noqa: F401  (fixture)

HI = [{"role": "user", "content": "hi"}]
KEY = "sk-upstream-key-1"


def ask(client: openai.OpenAI, model: str = "gpt-4o", **kw):  # type: ignore[no-untyped-def]
    return client.chat.completions.create(model=model, messages=HI, **kw)


# -- a provider key the upstream rejects ---------------------------------------------------------

def test_a_rejected_provider_key_is_a_502_naming_provider_and_model_on_every_request(fake_factory, gateway_factory):
    fake = fake_factory("a", keys=("sk-the-right-one",))
    gw = gateway_factory(config(provider("a", fake, api="sk-revoked-key-123", models=["gpt-4o"])))
    for attempt in range(3):
        with pytest.raises(openai.InternalServerError) as info:  # not RateLimitError: retrying cannot help
            ask(gw.client())
        assert info.value.status_code == 502
        body = info.value.body
        assert body["code"] == "provider_key_rejected"
        assert "a" in body["message"] and "gpt-4o" in body["message"] and "rejected the provider key" in body["message"]
        assert "sk-revoked" not in json.dumps(body)
        if attempt:  # while parked the upstream is not asked again, and the answer says when it will be
            assert 0 < int(info.value.response.headers["retry-after"]) <= PARK_FIRST
    assert len(fake.requests) == 1


def test_a_rejected_key_is_parked_briefly_and_longer_while_it_keeps_failing():
    now = [0.0]
    parking = Parking(clock=lambda: now[0])
    waits = []
    for _ in range(7):
        waits.append(parking.next("p#k", configured=0))
        now[0] += waits[-1]
    assert waits == [PARK_FIRST, 20, 40, 80, 160, PARK_MAX, PARK_MAX]
    now[0] += 3 * PARK_MAX  # a long quiet spell: the next rejection starts short again
    assert parking.next("p#k", configured=0) == PARK_FIRST
    assert parking.next("p#k", configured=60) == 60  # api_key_cooldown_period says how long


def test_a_rate_limited_key_is_still_a_429(fake_factory, gateway_factory):
    from tests.fakes.openai_fake import Reply

    fake = fake_factory("a")
    fake.then(Reply(status=429, headers={"retry-after": "30"}))
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as info:
            ask(gw.client())
        assert info.value.body["code"] == "rate_limit_exceeded"


# -- connection failures named for what they are -----------------------------------------------

@pytest.mark.parametrize("kind", ["refused", "dns", "tls"])
def test_connection_failures_are_named_for_what_they_are(fake_factory, gateway_factory, kind):
    fake = fake_factory("a")
    url = {"refused": f"http://127.0.0.1:{free_port()}/v1", "dns": "http://no-such-host.invalid/v1",
           "tls": fake.url.replace("http://", "https://") + "/v1"}[kind]
    gw = gateway_factory(config(provider("a", url, models=["gpt-4o"])))
    with pytest.raises(openai.APIStatusError) as info:
        ask(gw.client())
    message = info.value.body["message"]
    assert {"refused": "refused the connection", "dns": "DNS lookup", "tls": "TLS handshake"}[kind] in message
    assert "ConnectTimeout" not in message and "127.0.0.1" not in message and "no-such-host" not in message


# -- request ids and access logs ----------------------------------------------------------------

def test_every_answer_carries_a_request_id_echoed_or_generated(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    auth = {"authorization": "Bearer temp_api_key"}
    ok = httpx.post(gw.url + "/v1/chat/completions", headers=auth, json={"model": "gpt-4o", "messages": HI})
    assert ok.headers["x-request-id"].startswith("req_")
    mine = httpx.post(gw.url + "/v1/chat/completions", headers={**auth, "x-request-id": "trace-42"}, json={"model": "gpt-4o", "messages": HI})
    assert mine.headers["x-request-id"] == "trace-42"
    hostile = httpx.get(gw.url + "/v1/models", headers={**auth, "x-request-id": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"].startswith("req_")
    for response in (httpx.post(gw.url + "/v1/chat/completions", json={}), httpx.get(gw.url + "/nope"),
                     httpx.post(gw.url + "/v1/chat/completions", headers=auth, json={"model": "missing", "messages": HI})):
        assert response.status_code in (401, 404) and response.headers["x-request-id"].startswith("req_")


def test_one_access_line_per_request_and_a_warning_per_failed_attempt(fake_factory, gateway_factory, caplog):
    from tests.fakes.openai_fake import Reply

    a, b = fake_factory("a"), fake_factory("b")
    a.then(Reply(status=503))
    gw = gateway_factory(config(provider("a", a, models=["gpt-4o"]), provider("b", b, models=["gpt-4o"])))
    with caplog.at_level(logging.INFO, logger="gateway"):
        response = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key", "x-request-id": "r-1"},
                              json={"model": "gpt-4o", "messages": HI})
        assert response.status_code == 200
        httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-wrong", "x-request-id": "r-2"},
                   json={"model": "gpt-4o", "messages": HI})
        deadline = time.time() + 5  # the line is written once the answer has gone out: a moment after the client has it
        while time.time() < deadline and not any(r.getMessage().startswith("r-2 ") for r in caplog.records):
            time.sleep(0.01)
    lines = [r for r in caplog.records if r.name == "gateway.access"]
    first = next(r for r in lines if r.getMessage().startswith("r-1 "))
    fields = first.fields  # type: ignore[attr-defined]
    assert fields["status"] == 200 and fields["model"] == "gpt-4o" and fields["key_id"]
    assert [(t["provider"], t["status"]) for t in fields["attempts"]] == [("a", 503), ("b", 200)]
    assert "tried=a:503:" in first.getMessage() and " b:200:" in first.getMessage()
    second = next(r for r in lines if r.getMessage().startswith("r-2 "))
    assert second.fields["status"] == 401 and second.fields["error"] == "invalid_api_key"  # type: ignore[attr-defined]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "r-1" in r.getMessage()]
    assert len(warnings) == 1 and "on a (gpt-4o) failed" in warnings[0] and "HTTP 503" in warnings[0]
    assert not any("sk-wrong" in r.getMessage() or "temp_api_key" in r.getMessage() for r in lines)


def test_log_format_json_writes_one_json_object_per_line(run_main, fake_factory):  # noqa: F811
    fake = fake_factory("a")
    cfg = config(provider("a", fake, models=["gpt-4o"]))
    proc = run_main({"CONFIG_YAML": json.dumps(cfg), "LOG_FORMAT": "json"})
    proc.wait_healthy()
    httpx.post(proc.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key", "x-request-id": "json-1"},
               json={"model": "gpt-4o", "messages": HI})
    proc.stop()
    entries = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    access = next(e for e in entries if e.get("request_id") == "json-1")
    assert access["logger"] == "gateway.access" and access["status"] == 200 and access["attempts"][0]["provider"] == "a"
    assert not [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("{")]


def test_an_unknown_log_format_is_a_start_up_error(run_main):  # noqa: F811
    proc = run_main({"LOG_FORMAT": "xml"})
    assert proc.wait_exit() == 1 and "LOG_FORMAT" in proc.stderr


# -- CORS -----------------------------------------------------------------------------------------

def test_cors_preflight_and_answers_allow_any_origin_by_default(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    pre = httpx.options(gw.url + "/v1/chat/completions", headers={
        "origin": "https://app.example", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-os"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    assert "access-control-allow-credentials" not in pre.headers
    answer = httpx.post(gw.url + "/v1/chat/completions", headers={"origin": "https://app.example", "authorization": "Bearer temp_api_key"},
                        json={"model": "gpt-4o", "messages": HI})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
    error = httpx.get(gw.url + "/v1/models", headers={"origin": "https://app.example"})
    assert error.status_code == 401 and error.headers["access-control-allow-origin"] == "*"
    plain = httpx.get(gw.url + "/v1/models", headers={"authorization": "Bearer temp_api_key"})
    assert "access-control-allow-origin" not in plain.headers


def test_cors_allow_origins_restricts_to_the_listed_origins(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])),
                         env={"CORS_ALLOW_ORIGINS": "https://good.example, https://also.example/"})
    ok = httpx.options(gw.url + "/v1/models", headers={"origin": "https://also.example", "access-control-request-method": "GET"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "https://also.example"
    assert ok.headers["vary"] == "Origin"
    bad = httpx.options(gw.url + "/v1/models", headers={"origin": "https://evil.example", "access-control-request-method": "GET"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers
    answer = httpx.get(gw.url + "/v1/models", headers={"origin": "https://evil.example", "authorization": "Bearer temp_api_key"})
    assert "access-control-allow-origin" not in answer.headers


# -- GET /v1/models/{id} ------------------------------------------------------------------------

def test_models_retrieve(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o", "anthropic/claude-3-5-sonnet"]),
                                keys=[gateway_key("sk-only-4o", ["a/gpt-4o"])]), env={"TEMP_API_KEY": "temp_api_key"})
    client = gw.client()
    model = client.models.retrieve("gpt-4o")
    assert (model.id, model.object, model.owned_by) == ("gpt-4o", "model", "a")
    assert client.models.retrieve("anthropic/claude-3-5-sonnet").id == "anthropic/claude-3-5-sonnet"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope")
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        gw.client("sk-only-4o").models.retrieve("anthropic/claude-3-5-sonnet")


# -- the mock engine ------------------------------------------------------------------------------

@pytest.fixture
def mock_gw(gateway_factory):  # type: ignore[no-untyped-def]
    return gateway_factory(config(provider("mock", None, engine="mock", models=["mock-model", {"mock-model": "alias"}])))


def test_mock_answers_deterministically_streamed_or_not_with_usage(mock_gw):
    client = mock_gw.client()
    answer = client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "hello mock world"}])
    again = client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "hello mock world"}])
    assert answer.choices[0].message.content == again.choices[0].message.content == "mock answer to: hello mock world"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 6)
    chunks = list(client.chat.completions.create(model="alias", stream=True, stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "hello mock world"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "mock answer to: hello mock world"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert answer.model == "mock-model"


def test_mock_calls_tools_and_reads_their_results(mock_gw):
    client = mock_gw.client()
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"]}}}]
    messages: list = [{"role": "user", "content": "weather?"}]
    first = client.chat.completions.create(model="mock-model", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "mock", "unit": "c"}
    messages += [first.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = client.chat.completions.create(model="mock-model", messages=messages, tools=tools)
    assert second.choices[0].message.content == "mock got the tool result: sunny"


def test_mock_can_answer_an_error_status_to_try_failover(gateway_factory, fake_factory):
    fake = fake_factory("real")
    gw = gateway_factory(config(provider("mock", None, engine="mock", models=["gpt-4o"]), provider("real", fake, models=["gpt-4o"])))
    answer = gw.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "mock:status 503"}])
    assert answer.choices[0].message.content == "real says: mock:status 503"


def test_mock_needs_its_models_listed():
    from shared.config import ConfigError, parse_config_text

    with pytest.raises(ConfigError, match=r"providers\[0\]\.model"):
        parse_config_text("providers:\n  - provider: m\n    engine: mock\n", "api.yaml", {})


def test_mock_in_production_is_warned_about(gateway_factory, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gw = gateway_factory(config(provider("mock", None, engine="mock", models=["m"])),
                             env={"ENVIRONMENT": "production", "ADMIN_API_KEY": "sk-admin-key"})
        assert gw.client("sk-admin-key").models.list().data[0].id == "m"
    assert any("test-only providers (mock)" in r.getMessage() for r in caplog.records)


def test_readme_example_config_serves_the_mock_model():
    from shared.config import parse_config_text

    with open(os.path.join(ROOT, "api.example.yaml"), encoding="utf-8") as fh:
        cfg = parse_config_text(fh.read(), "api.example.yaml", {})
    mock = next(p for p in cfg.providers if p.provider == "mock")
    assert mock.engine == "mock" and cfg.api_keys == []


# -- the answer names the model the client asked for ---------------------------------------------

@pytest.mark.parametrize("flavour", ["openai", "azure"])
def test_a_renamed_model_answers_with_the_name_the_client_asked_for(fake_factory, gateway_factory, flavour):
    fake = fake_factory("a", flavour=flavour)
    base = {"openai": "/v1", "azure": ""}[flavour]
    gw = gateway_factory(config(provider("a", fake, path=base, engine=flavour, models=[{"gpt-4o-mini-2024-07-18": "my-alias"}])))
    client = gw.client()
    answer = ask(client, "my-alias")
    assert answer.model == "my-alias"
    assert fake.requests[-1]["body"]["model"] == "gpt-4o-mini-2024-07-18" or flavour == "azure"
    chunks = list(ask(client, "my-alias", stream=True, stream_options={"include_usage": True}))
    assert chunks and {c.model for c in chunks} == {"my-alias"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a says: hi"


def test_an_unrenamed_model_passes_the_upstream_answer_through_untouched(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, models=["gpt-4o"])))
    raw = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                     json={"model": "gpt-4o", "messages": HI})
    assert raw.json()["model"] == "gpt-4o" and raw.json()["id"] == "chatcmpl-a"
