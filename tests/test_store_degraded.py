"""Degraded mode: when the shared store is down or slow, requests are still served, within the
store's time budget, from the in-process store; the answer says so (``x-gateway-store: degraded``),
the warning is logged once per instance, the store is tried again after a back-off, and
``rate_limit_fail_closed: true`` denies rate-limited requests instead of serving them.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Iterator

import httpx
import pytest

from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.fakes.server import free_port
from tests.fakes.upstash_bridge import UpstashBridge
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

BUDGET = 0.3


def limited(fake, **prefs) -> dict:
    """Provider a; gateway key sk-limited has a rate limit (so it needs the store), sk-free none."""
    return config(provider("a", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                  keys=[gateway_key("sk-limited", ["gpt-4o"], RATE_LIMIT="100/min"), gateway_key("sk-free", ["gpt-4o"])], **prefs)


def chat(url: str, key: str = "sk-limited") -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)


def store_ms(response: httpx.Response) -> float:
    return float(re.search(r"store;dur=([\d.]+)", response.headers["server-timing"])[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that completes TCP handshakes and then never answers: a store that hangs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        yield s.getsockname()[1]


def store_env(kind: str, port: int) -> dict[str, str]:
    env = {"STORE_TIMEOUT_SECONDS": str(BUDGET), "STORE_RETRY_SECONDS": "60"}
    if kind == "redis":
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    else:
        env.update(UPSTASH_REDIS_REST_URL=f"http://127.0.0.1:{port}", UPSTASH_REDIS_REST_TOKEN="token")
    return env


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway" and r.levelno == logging.WARNING and "store" in r.getMessage()]


@pytest.mark.parametrize("kind", ["redis", "upstash"])
def test_a_closed_port_degrades_and_warns_once(kind, fake_factory, gateway_factory, caplog) -> None:
    fake = fake_factory("a")
    gw = gateway_factory(limited(fake), env=store_env(kind, free_port()))
    caplog.set_level(logging.WARNING, logger="gateway")
    for key in ("sk-limited", "sk-free", "sk-limited"):
        started = time.monotonic()
        r = chat(gw.url, key)
        assert r.status_code == 200 and r.headers["x-gateway-store"] == "degraded"
        assert time.monotonic() - started < 3  # generous: a refused connection fails at once
        if key == "sk-limited":  # limits still apply, per instance
            assert r.headers["x-ratelimit-limit-requests"] == "100"
    assert len(fake.requests) == 3
    [warning] = warnings(caplog)
    assert f"shared state store {kind} unavailable" in warning and "in-process" in warning


@pytest.mark.parametrize("kind", ["redis", "upstash"])
def test_a_hanging_store_costs_one_time_budget(kind, blackhole, fake_factory, gateway_factory, caplog) -> None:
    fake = fake_factory("a")
    gw = gateway_factory(limited(fake), env=store_env(kind, blackhole))
    caplog.set_level(logging.WARNING, logger="gateway")
    started = time.monotonic()
    first = chat(gw.url)
    took = time.monotonic() - started
    assert first.status_code == 200 and first.headers["x-gateway-store"] == "degraded"
    # The first store call (reading the config at the instance's first request) waited its budget, no more;
    # admit, after it, did not try the store again within the back-off.
    assert BUDGET * 0.9 <= took < BUDGET + 1.0
    assert store_ms(first) < 100
    second = chat(gw.url)  # within the back-off: the store is not tried again
    assert second.status_code == 200 and second.headers["x-gateway-store"] == "degraded"
    assert store_ms(second) < 100
    assert len(warnings(caplog)) == 1


def test_an_upstash_token_rejected_degrades(redis_server, fake_factory, gateway_factory) -> None:  # noqa: F811
    bridge = fake_factory(redis_server.port, kind=UpstashBridge)
    fake = fake_factory("a")
    env = {"UPSTASH_REDIS_REST_URL": bridge.url, "UPSTASH_REDIS_REST_TOKEN": "not-the-token", "STORE_TIMEOUT_SECONDS": "5"}
    r = chat(gateway_factory(limited(fake), env=env).url)
    assert r.status_code == 200 and r.headers["x-gateway-store"] == "degraded"


def test_the_store_is_used_again_after_it_comes_back(fake_factory, gateway_factory) -> None:
    server = RedisServer().start()
    try:
        fake = fake_factory("a")
        env = {"REDIS_URL": server.url, "STORE_TIMEOUT_SECONDS": "2", "STORE_RETRY_SECONDS": "0.5"}
        gw = gateway_factory(limited(fake), env=env)
        assert "x-gateway-store" not in chat(gw.url).headers
        server.stop()
        assert chat(gw.url).headers["x-gateway-store"] == "degraded"
        server.start()  # same port; the pooled connections are stale now
        time.sleep(0.6)
        r = chat(gw.url)
        assert r.status_code == 200 and "x-gateway-store" not in r.headers
        assert server.client().keys("unigw:rl:*")  # counted in Redis again
    finally:
        server.stop()


def test_fail_closed_denies_rate_limited_requests_only(fake_factory, gateway_factory) -> None:
    fake = fake_factory("a")
    gw = gateway_factory(limited(fake, rate_limit_fail_closed=True), env=store_env("redis", free_port()))
    denied = chat(gw.url, "sk-limited")
    assert denied.status_code == 503 and denied.headers["x-gateway-store"] == "degraded"
    assert denied.json()["error"]["code"] == "store_unavailable"
    assert int(denied.headers["retry-after"]) >= 1
    assert fake.requests == []
    served = chat(gw.url, "sk-free")  # no limit to enforce: served, degraded
    assert served.status_code == 200 and served.headers["x-gateway-store"] == "degraded"
