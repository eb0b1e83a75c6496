"""A hostile upstream cannot crash, freeze or exhaust an instance (tests/fakes/hostile_upstream.py).

Every mode, streamed and not, through a real gateway with two channels: the hostile one first, a
healthy fake second. Before the first byte reached the client a hostile answer is a failed attempt
and the healthy channel answers; after it, the stream ends with an error event and ``[DONE]``.
Never a 500, never a hang (every request has a client timeout), and ``/healthz`` keeps answering
within 0.5 s while the hostile request is in flight. The gzip bomb and the huge bodies run against
a gateway process whose peak RSS is measured. A ``Retry-After: inf`` leaves no lasting mark, in
memory or in Redis. The pieces under it are checked on their own: linear SSE framing with its
event limit, Retry-After parsing, token counts, the scrubbing of client-facing messages, settings.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Iterator

import httpx
import pytest

from shared.dispatch import tokens
from shared.failures import clamp_wait
from shared.providers.base import UpstreamError, parse_error_body, retry_after_of
from shared.scrub import scrub
from shared.settings import Settings, UpstreamLimits
from shared.sse import EventFramer
from tests.door_process import ServerProcess
from tests.fakes.hostile_upstream import LONG_LINE_BYTES, TEXT, HostileUpstream
from tests.fakes.openai_fake import FakeOpenAI
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

KEY = "sk-upstream-key-1"
MSG = [{"role": "user", "content": "hi"}]
HEALTHY = "b says: hi"
CLIENT_TIMEOUT = 20.0
HOSTILE_TIMEOUT = 1.5  # the hostile channel's per-attempt timeout (stalls and drips end at this)
ENV = {"MAX_UPSTREAM_STREAM_BYTES": str(16 << 20)}  # a 200 MiB stream is cut after 16 MiB (the client reads that much)

# mode -> (outcome without stream, outcome with stream): "failover" (the healthy channel answers),
# "hostile" (the hostile answer is good enough and goes through), "broken" (after the first byte:
# error event + [DONE]).
OPENAI_MODES = {
    "ok": ("hostile", "hostile"),
    "not-http": ("failover", "failover"),
    "bad-chunk-size": ("failover", "broken"),
    "huge-header": ("failover", "failover"),
    "huge-body": ("failover", "broken"),
    "gzip-bomb": ("failover", "failover"),
    "slow-drip": ("failover", "failover"),
    "stall-headers": ("failover", "failover"),
    "stall-mid-stream": ("failover", "broken"),
    "length-mismatch": ("failover", "broken"),
    "retry-after-inf": ("failover", "failover"),
    "retry-after-nan": ("failover", "failover"),
    "retry-after-1e309": ("failover", "failover"),
    "retry-after-negative": ("failover", "failover"),
    "retry-after-ms-inf": ("failover", "failover"),
    "retry-after-huge": ("failover", "failover"),
    "bad-usage": ("hostile", "hostile"),
    "bad-shape": ("failover", "failover"),
    "malformed-mid-stream": ("failover", "broken"),
    "long-line": ("hostile", "failover"),  # a 20 MiB JSON answer is fine; a 20 MiB SSE event is over MAX_SSE_EVENT_BYTES
    "reset-mid-stream": ("failover", "broken"),
}
# Translated engines: whatever their translators make of it, a well-formed answer and no 500.
ENGINE_MODES = ["ok", "bad-usage", "bad-shape", "malformed-mid-stream", "reset-mid-stream", "long-line"]


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def healthy() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI("b").start()
    yield fake
    fake.stop()


def two_channels(hostile_url: str, healthy_url: str, engine: str = "openai", timeout: float = HOSTILE_TIMEOUT) -> str:
    return f"""
providers:
  - provider: h
    base_url: {hostile_url}
    engine: {engine}
    api: {KEY}
    model: [gpt-4o]
    preferences: {{model_timeout: {{default: {timeout}}}}}
  - provider: b
    base_url: {healthy_url}/v1
    api: {KEY}
    model: [gpt-4o]
"""


class Health:
    """Polls ``/healthz`` in a thread while a request is in flight; ``worst`` is the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.slow = 0  # polls that took 0.5 s or more
        self.polls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                self._poll(client)
                self._stop.wait(0.05)

    def _poll(self, client: httpx.Client) -> None:
        started = time.perf_counter()
        try:
            status = client.get(self.url + "/healthz").status_code
            if status != 200:
                self.failures.append(f"HTTP {status}")
        except httpx.HTTPError as exc:
            self.failures.append(type(exc).__name__)
        took = time.perf_counter() - started
        self.worst = max(self.worst, took)
        self.slow += took >= 0.5
        self.polls += 1

    def __enter__(self) -> "Health":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        if not self.polls:  # the request was quicker than the first poll: check the instance answers after it
            with httpx.Client(timeout=5) as client:
                self._poll(client)


def chat(url: str, stream: bool) -> tuple[int, str, float]:
    """Status, body and seconds of one chat request, bounded by the client's timeout."""
    started = time.perf_counter()
    body = {"model": "gpt-4o", "messages": MSG, "stream": stream}
    with httpx.stream("POST", url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"}, json=body,
                      timeout=CLIENT_TIMEOUT) as response:
        text = response.read().decode()
    return response.status_code, text, time.perf_counter() - started


def stream_events(text: str) -> list[Any]:
    """Every event of an SSE body as JSON (``[DONE]`` as the string), checking each is well formed."""
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block[:200]
        payload = block[6:]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def content(events: list[Any]) -> str:
    return "".join(c["delta"].get("content") or "" for e in events if isinstance(e, dict) for c in e.get("choices") or [])


def check_answer(status: int, text: str, stream: bool, outcome: str | None, hostile_text: str = TEXT) -> None:
    """A well-formed answer of the expected outcome (None: any outcome, as long as it is well formed)."""
    assert status == 200, (status, text[:500])
    if not stream:
        answer = json.loads(text)
        said = answer["choices"][0]["message"]["content"]
        assert said == {"failover": HEALTHY, "hostile": hostile_text, None: said}[outcome], said[:200]
        return
    events = stream_events(text)
    assert events[-1] == "[DONE]"
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    if outcome is None:
        assert len(errors) <= 1 and (not errors or events[-2] is errors[0])
        return
    if outcome == "broken":
        assert len(errors) == 1 and events[-2] is errors[0], text[-500:]
        error = errors[0]["error"]
        assert error["code"] == "upstream_stream_error" and error["type"] == "server_error" and error["message"]
        assert len(events) >= 3  # something was sent before it broke
        return
    assert not errors, errors
    assert content(events) == (HEALTHY if outcome == "failover" else hostile_text)


def run_case(gateway_factory: Callable[..., Any], healthy: FakeOpenAI, hostile_url: str, stream: bool, outcome: str | None,
             engine: str = "openai", timeout: float = HOSTILE_TIMEOUT, hostile_text: str = TEXT) -> float:
    healthy.reset()
    gw = gateway_factory(two_channels(hostile_url, healthy.url, engine, timeout), env=ENV)
    with Health(gw.url) as health:
        status, text, seconds = chat(gw.url, stream)
    check_answer(status, text, stream, outcome, hostile_text)
    if outcome == "broken":
        assert healthy.requests == []  # no silent switch once bytes went out
    assert not health.failures and health.polls >= 1
    # The gateway, the hostile request and this poller share one process (and its GIL) on a 2-core
    # machine that CI loads fully: one poll may catch a scheduling hiccup. A frozen instance fails
    # every poll after the first, and nothing may take a second.
    assert health.slow <= 1 and health.worst < 1.0, \
        f"/healthz took {health.worst:.2f}s ({health.slow} polls of 0.5 s or more) while the hostile request was in flight"
    return seconds


CASES = [(mode, stream) for mode in OPENAI_MODES for stream in (False, True)]


@pytest.mark.parametrize("mode,stream", CASES, ids=[f"{m}-{'stream' if s else 'json'}" for m, s in CASES])
def test_a_hostile_openai_upstream_fails_over_or_ends_the_stream_cleanly(hostile, healthy, gateway_factory, mode, stream):
    outcome = OPENAI_MODES[mode][stream]
    said = "x" * LONG_LINE_BYTES if mode == "long-line" else TEXT  # the 20 MiB answer, whole
    seconds = run_case(gateway_factory, healthy, hostile.url(mode), stream, outcome, hostile_text=said)
    assert seconds < HOSTILE_TIMEOUT + 5


ENGINE_CASES = [(engine, mode, stream) for engine in ("anthropic", "gemini") for mode in ENGINE_MODES for stream in (False, True)]


@pytest.mark.parametrize("engine,mode,stream", ENGINE_CASES,
                         ids=[f"{e}-{m}-{'stream' if s else 'json'}" for e, m, s in ENGINE_CASES])
def test_a_hostile_upstream_of_a_translated_engine_never_gives_a_500(hostile, healthy, gateway_factory, engine, mode, stream):
    run_case(gateway_factory, healthy, hostile.url(mode, engine), stream, "hostile" if mode == "ok" else None, engine)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_broken_chunk_framing_is_noticed_at_once_not_after_the_timeout(hostile, healthy, gateway_factory, stream):
    """aiohttp drops its read timeout when it cannot parse a chunk header mid-body; the gateway
    notices the dead connection within a poll period instead of waiting the whole timeout."""
    seconds = run_case(gateway_factory, healthy, hostile.url("bad-chunk-size"), stream, "broken" if stream else "failover",
                       timeout=10)
    assert seconds < 4


# -- memory: the gateway as a process, its peak RSS measured ------------------------------------------

def reset_peak_rss(pid: int) -> None:
    """Linux >= 4.0: writing 5 to ``clear_refs`` resets VmHWM to the current RSS, so each case
    measures its own peak, not the module's."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def gateway_process(hostile, healthy) -> Iterator[ServerProcess]:
    config = {"providers": [
        {"provider": "bomb", "base_url": hostile.url("gzip-bomb"), "api": KEY, "model": ["m-bomb"]},
        {"provider": "huge", "base_url": hostile.url("huge-body"), "api": KEY, "model": ["m-huge"]},
        *({"provider": f"b-{m}", "base_url": healthy.url + "/v1", "api": KEY, "model": [m]} for m in ("m-bomb", "m-huge")),
    ], "preferences": {"cooldown_period": 0}}  # every case meets the hostile channel first
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "UPSTASH", "KV_", "CONFIG", "MAX_"))}
    env.update(CONFIG_YAML=json.dumps(config), HOST="127.0.0.1", LOG_LEVEL="WARNING", MAX_UPSTREAM_STREAM_BYTES=str(64 << 20))
    server = ServerProcess([sys.executable, "main.py"], env)
    server.env["PORT"] = str(server.port)
    server.start()
    yield server
    server.stop()


MEMORY_CASES = [(model, stream) for model in ("m-bomb", "m-huge") for stream in (False, True)]


@pytest.mark.parametrize("model,stream", MEMORY_CASES, ids=[f"{m}-{'stream' if s else 'json'}" for m, s in MEMORY_CASES])
def test_a_gzip_bomb_or_a_huge_body_costs_bounded_memory(gateway_process, healthy, model, stream):
    assert gateway_process.proc is not None
    pid = gateway_process.proc.pid
    reset_peak_rss(pid)
    before = peak_rss_mb(pid)
    body = {"model": model, "messages": MSG, "stream": stream}
    with Health(gateway_process.url) as health:
        with httpx.stream("POST", gateway_process.url + "/v1/chat/completions", json=body, timeout=CLIENT_TIMEOUT,
                          headers={"authorization": "Bearer temp_api_key"}) as response:
            text = response.read().decode()
    assert response.status_code == 200, text[:500]
    if model == "m-bomb" or not stream:  # refused before the first byte: the healthy channel answered
        check_answer(200, text, stream, "failover")
    else:  # 200 MiB of good events: cut at MAX_UPSTREAM_STREAM_BYTES with an error event
        events = stream_events(text)
        assert events[-1] == "[DONE]" and "MAX_UPSTREAM_STREAM_BYTES" in events[-2]["error"]["message"]
    grown = peak_rss_mb(pid) - before
    assert grown < 200, f"peak RSS grew by {grown:.0f} MB"
    assert health.slow <= 1 and health.worst < 1.0 and not health.failures


# -- Retry-After: inf leaves no lasting mark -------------------------------------------------------------

def test_after_retry_after_inf_later_requests_still_succeed(hostile, healthy, gateway_factory):
    gw = gateway_factory(f"""
providers:
  - provider: h
    base_url: {hostile.url("retry-after-inf")}
    api: [sk-k1, sk-k2]
    model: [gpt-4o, only-h]
  - provider: b
    base_url: {healthy.url}/v1
    api: {KEY}
    model: [gpt-4o]
""")
    for _ in range(3):
        status, text, _ = chat(gw.url, stream=False)
        check_answer(status, text, False, "failover")
    for _ in range(3):  # the only channel keeps saying 429 with an absurd wait: a 429 each time, never a 500
        r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                       json={"model": "only-h", "messages": MSG}, timeout=CLIENT_TIMEOUT)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
        assert "retry-after" not in r.headers or int(r.headers["retry-after"]) <= 3600
    expiries = gw.gateway.store._cooldowns.values()
    assert all(math.isfinite(e) and e < time.time() + 3601 for e in expiries)


def test_retry_after_inf_does_not_push_a_redis_store_into_degraded_mode(hostile, healthy, gateway_factory, redis_server):  # noqa: F811
    redis_server.client().flushall()
    env = {"REDIS_URL": redis_server.url, "STORE_TIMEOUT_SECONDS": "5", "MAX_RETRY_AFTER_SECONDS": "60"}
    gw = gateway_factory(f"""
providers:
  - provider: h
    base_url: {hostile.url("retry-after-huge")}
    api: {KEY}
    model: [gpt-4o]
  - provider: h2
    base_url: {hostile.url("retry-after-inf")}
    api: {KEY}
    model: [gpt-4o]
  - provider: b
    base_url: {healthy.url}/v1
    api: {KEY}
    model: [gpt-4o]
""", env=env)
    for _ in range(4):
        r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                       json={"model": "gpt-4o", "messages": MSG}, timeout=CLIENT_TIMEOUT)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == HEALTHY
        assert "x-gateway-store" not in r.headers
    client = redis_server.client()
    key_marks, channel_marks = client.keys("unigw:cd:h#*"), client.keys("unigw:cd:h2/*")
    assert key_marks and all(0 < client.pttl(k) <= 60_000 for k in key_marks)  # Retry-After 1e300 cut to MAX_RETRY_AFTER_SECONDS
    assert channel_marks and all(0 < client.pttl(k) <= 300_000 for k in channel_marks)  # inf ignored: the channel's cooldown


# -- the pieces ------------------------------------------------------------------------------------------

def test_sse_framing_is_linear_and_refuses_an_event_over_the_limit():
    framer = EventFramer(64 << 20)
    started = time.process_time()
    for _ in range(20 * 1024):  # one 20 MiB line in 1 KiB pieces: quadratic framing took ~14 s of CPU
        assert framer.feed(b"x" * 1024) == []
    assert time.process_time() - started < 1.0
    assert framer.feed(b"\n\n") == [b"x" * (20 << 20)]
    framer = EventFramer(1000)
    assert framer.feed(b"data: " + b"y" * 500 + b"\r\n\r\ndata: z") == [b"data: " + b"y" * 500]
    with pytest.raises(UpstreamError) as err:
        framer.feed(b"z" * 1000)
    assert err.value.status == 502 and "MAX_SSE_EVENT_BYTES" in err.value.message
    with pytest.raises(UpstreamError):  # a whole oversized event in one piece is refused too
        EventFramer(1000).feed(b"data: " + b"w" * 2000 + b"\n\n")


@pytest.mark.parametrize("headers,expected", [
    ({"retry-after": "inf"}, None), ({"retry-after": "nan"}, None), ({"retry-after": "1e309"}, None),
    ({"retry-after": "-5"}, None), ({"retry-after-ms": "inf", "retry-after": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "1e300"}, 86400.0), ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ({"retry-after": "soon"}, None),
])
def test_retry_after_is_ignored_unless_believable_and_capped(headers, expected):
    assert retry_after_of(headers) == expected


def test_retry_delay_and_odd_error_shapes_never_raise():
    body = json.dumps({"error": {"message": "quota", "details": [{"retryDelay": "infs"}, {"retryDelay": "1e400s"}]}}).encode()
    assert parse_error_body(429, body, {}).retry_after is None
    for odd in ({"error": {"message": "x", "details": 5}}, {"success": False, "errors": {"a": 1}}, {"error": [1, 2]}, [1, 2],
                "[" * 100_000):
        err = parse_error_body(500, (odd if isinstance(odd, str) else json.dumps(odd)).encode(), {})
        assert err.status == 500 and isinstance(err.message, str)
    assert clamp_wait(math.inf, 3600) is None and clamp_wait(1e300, 3600) == 3600 and clamp_wait(-1, 10) is None


@pytest.mark.parametrize("value,expected", [
    (12, 12), (3.9, 3), ("42", 42), ("lots", 0), ([3], 0), ({"n": 1}, 0), (None, 0), (-5, 0), (math.nan, 0), (math.inf, 0),
    (10**400, 0), ("9" * 5000, 0), ("²", 0), (True, 0),
])
def test_token_counts_that_are_not_numbers_count_as_zero(value, expected):
    assert tokens(value) == expected


@pytest.mark.parametrize("text,gone,kept", [
    ("Incorrect API key provided: sk-proj-****1234. See https://platform.openai.com/account", ["sk-proj", "1234", "https://"],
     ["Incorrect API key provided"]),
    ("Incorrect API key provided: sk-abc***xyz.", ["abc", "xyz"], ["Incorrect"]),
    ("bad key AIzaSyA-1234567890abcdefghijklmnopqr", ["AIzaSy"], ["bad key"]),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", ["eyJ"], ["Authorization"]),
    ("Cannot connect to host 10.1.2.3:8443 ssl:default", ["10.1.2.3", "8443"], ["Cannot connect"]),
    ("upstream llm.internal.corp:9000 refused", ["llm.internal.corp"], ["refused"]),
    ("token 3f2a9c0d1e4b5a6f7c8d9e0f1a2b3c4d expired at [fd00::1]:80", ["3f2a9c", "fd00"], ["expired"]),
    ("prompt is too long: 201000 tokens > 200000 maximum", [], ["201000 tokens > 200000 maximum"]),
    ("model claude-3-5-sonnet-20241022 or projects/p-1/locations/us-central1/models/gemini-2.5-pro not found", [],
     ["claude-3-5-sonnet-20241022", "us-central1/models/gemini-2.5-pro"]),
])
def test_client_facing_messages_lose_keys_and_addresses(text, gone, kept):
    clean = scrub(text)
    assert all(g not in clean for g in gone), clean
    assert all(k in clean for k in kept), clean


def test_upstream_errors_reach_the_client_scrubbed_and_the_log_keeps_them(fake_factory, gateway_factory, caplog):
    a = fake_factory("a")
    from tests.fakes.openai_fake import Reply

    a.default = Reply(status=503, error_body={"error": {"message": "pool 10.0.0.7:6379 down; key sk-live-abcdef****wxyz"}})
    gw = gateway_factory(f"""
providers:
  - provider: a
    base_url: {a.url}/v1
    api: {KEY}
    model: [gpt-4o]
""")
    caplog.set_level("WARNING", logger="gateway")
    r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer temp_api_key"},
                   json={"model": "gpt-4o", "messages": MSG}, timeout=CLIENT_TIMEOUT)
    assert r.status_code == 502 and "HTTP 503" in r.json()["error"]["message"]
    assert "10.0.0.7" not in r.text and "6379" not in r.text and "abcdef" not in r.text and "127.0.0.1" not in r.text
    logged = " ".join(rec.getMessage() for rec in caplog.records if rec.name == "gateway")
    assert "10.0.0.7:6379" in logged


def test_upstream_limits_come_from_the_environment():
    limits = Settings.from_env({"MAX_UPSTREAM_BYTES": "1000", "MAX_SSE_EVENT_BYTES": "100", "MAX_UPSTREAM_STREAM_BYTES": "0",
                                "MAX_RETRY_AFTER_SECONDS": "30"}).upstream
    assert limits == UpstreamLimits(max_bytes=1000, max_event_bytes=100, max_stream_bytes=0, max_retry_after=30.0)
    assert Settings.from_env({}).upstream == UpstreamLimits()
    for name, value in (("MAX_UPSTREAM_BYTES", "0"), ("MAX_SSE_EVENT_BYTES", "lots"), ("MAX_RETRY_AFTER_SECONDS", "inf"),
                        ("MAX_RETRY_AFTER_SECONDS", "100000"), ("MAX_UPSTREAM_STREAM_BYTES", "-1")):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})
