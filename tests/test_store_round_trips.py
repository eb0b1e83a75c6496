"""Store round trips per chat request, counted at the wire, through each shared backend.

Redis over TCP: every command the server receives, from ``MONITOR`` (with the server's timestamps;
the commands a script runs inside Redis are left out, they are not round trips). Upstash: the
bridge's log of HTTP requests. Both are ordered against the time the fake upstream received its
request, so "before" and "after" are facts, not guesses:

* success: exactly one call before the upstream request (``admit``, which also checks the key's
  credits), at most one after it (``record_usage``, which also adds the answer's cost), for plain
  and streamed answers;
* failure then success on the next channel: ``admit``, one ``mark_failure`` between the two
  upstream requests, one ``record_usage`` after.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from shared.store.lua import SCRIPTS
from tests.builders import CHAT_COMPLETIONS, config, gateway_key, provider
from tests.fakes.openai_fake import FakeOpenAI, Reply
from tests.fakes.upstash_bridge import UpstashBridge
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

OPS = {s.sha: s.name for s in SCRIPTS.values()}


class Monitor:
    """Commands received by redis-server (not those run inside scripts), with server timestamps."""

    END = "round-trips-end"

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.events: list[tuple[float, str]] = []
        self._ender = server.client()
        self._ender.ping()  # connected now, so that its handshake is not recorded
        self._monitor = server.client().monitor().__enter__()  # MONITOR is active once this returns
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while True:
            event = self._monitor.next_command()
            if event["client_type"] == "lua":
                continue
            if event["command"] == f"ECHO {self.END}":
                return
            self.events.append((event["time"], event["command"]))

    def stop(self) -> list[tuple[float, str]]:
        self._ender.echo(self.END)
        self._thread.join(5)
        self._monitor.__exit__()
        return [(t, op_of(cmd.split())) for t, cmd in self.events]


def op_of(command: list) -> str:
    name = str(command[0]).upper()
    return OPS.get(str(command[1]), "unknown script") if name in ("EVALSHA", "EVAL") and len(command) > 1 else name


class Wire:
    """Starts recording store calls for one backend; ``calls()`` returns (time, operation) pairs."""

    def __init__(self, kind: str, server: RedisServer, bridge: UpstashBridge | None) -> None:
        self.kind, self.server, self.bridge = kind, server, bridge
        self.monitor: Monitor | None = None

    def settle(self, prefix: str) -> None:
        """Wait until the warm-up request's usage record (written after its answer) is in the store."""
        client = self.server.client()
        deadline = time.time() + 3
        while time.time() < deadline and not client.keys(f"{prefix}usage:*"):
            time.sleep(0.01)

    def start(self) -> None:
        if self.bridge is not None:
            self.bridge.clear()
        else:
            self.monitor = Monitor(self.server)

    def calls(self, expect_after: float) -> list[tuple[float, str]]:
        """Wait until some call arrived after ``expect_after`` (usage is recorded as a stream ends), then a
        little more, so that any extra call would be caught too."""
        deadline = time.time() + 3
        while time.time() < deadline and not any(t > expect_after for t, _ in self._current()):
            time.sleep(0.01)
        time.sleep(0.2)
        if self.monitor is not None:
            events, self.monitor = self.monitor.stop(), None
            return events
        return self._current()

    def _current(self) -> list[tuple[float, str]]:
        if self.bridge is not None:
            return [(e.time, op_of(c)) for e in list(self.bridge.log) for c in e.commands]
        assert self.monitor is not None
        return list(self.monitor.events)


@pytest.fixture(params=["redis", "upstash"])
def wire(request, redis_server: RedisServer, fake_factory) -> tuple[Wire, dict[str, str]]:  # noqa: F811
    env = {"STORE_PREFIX": f"rt-{uuid.uuid4().hex[:8]}:", "STORE_TIMEOUT_SECONDS": "5"}
    client = redis_server.client()
    for script in SCRIPTS.values():  # the warm path: scripts cached (the NOSCRIPT path is in test_store_backends)
        client.script_load(script.source)
    bridge = None
    if request.param == "redis":
        env["REDIS_URL"] = redis_server.url
    else:
        bridge = fake_factory(redis_server.port, kind=UpstashBridge)
        env.update(UPSTASH_REDIS_REST_URL=bridge.url, UPSTASH_REDIS_REST_TOKEN=bridge.token)
    return Wire(request.param, redis_server, bridge), env


def limited(a: FakeOpenAI, b: FakeOpenAI) -> dict:
    """Two channels and a limit at every level (provider key, gateway key, global): every store path is taken."""
    return config(provider("a", a, path=CHAT_COMPLETIONS, models=["gpt-4o"], preferences={"api_key_rate_limit": "100/min"}),
                  provider("b", b, path=CHAT_COMPLETIONS, models=["gpt-4o"]),
                  keys=[gateway_key("sk-user", ["gpt-4o"], RATE_LIMIT="100/min", credits=1000, created_at="2024-01-01")],
                  rate_limit="1000/min", model_price={"default": "1,2"})


@pytest.mark.parametrize("stream", [False, True])
def test_one_store_call_before_the_upstream_and_at_most_one_after(wire, fake_factory, gateway_factory, stream: bool) -> None:
    recorder, env = wire
    a, b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(limited(a, b), env=env)
    client = gw.client("sk-user")
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="gpt-4o", messages=messages)  # warm up: connections, script cache
    recorder.settle(env["STORE_PREFIX"])
    a.requests.clear()

    recorder.start()
    if stream:
        with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=messages, stream=True) as r:
            assert "x-gateway-store" not in r.headers
            assert "".join(r.iter_lines())
    else:
        r = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
        assert "x-gateway-store" not in r.headers
    assert float(r.headers["x-gateway-credits-remaining"]) < 1000  # the spend check rode along with admit
    [upstream] = a.requests
    calls = recorder.calls(expect_after=upstream["time"])
    before = [op for t, op in calls if t < upstream["time"]]
    after = [op for t, op in calls if t > upstream["time"]]
    assert before == ["admit"], calls
    assert after == ["record_usage"], calls


def test_a_failure_adds_exactly_one_mark_failure(wire, fake_factory, gateway_factory) -> None:
    recorder, env = wire
    a, b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(limited(a, b), env=env)
    client = gw.client("sk-user")
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    recorder.settle(env["STORE_PREFIX"])
    a.requests.clear()

    a.then(Reply(status=500))
    recorder.start()
    r = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert r.headers["x-gateway-provider"] == "b"
    [failed], [served] = a.requests, b.requests
    calls = recorder.calls(expect_after=served["time"])
    assert [op for t, op in calls if t < failed["time"]] == ["admit"], calls
    assert [op for t, op in calls if failed["time"] < t < served["time"]] == ["mark_failure"], calls
    assert [op for t, op in calls if t > served["time"]] == ["record_usage"], calls

    # The mark is in the shared store: the next request skips channel a while it cools down.
    r = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert r.headers["x-gateway-provider"] == "b" and len(a.requests) == 1


def test_a_config_change_costs_one_read_once_and_the_success_path_stays_one_call(wire, fake_factory, gateway_factory) -> None:
    """Another instance saves a config: the next request's ``admit`` is refused (counting nothing),
    the instance reads the new document once and admits again; the request after that is back to
    the single ``admit`` before the upstream."""
    import asyncio

    from shared.gateway import Gateway
    from shared.settings import Settings
    from tests.conftest import DEV_ENV

    recorder, env = wire
    a, b = fake_factory("a"), fake_factory("b")
    gw = gateway_factory(limited(a, b), env=env)
    client = gw.client("sk-user")
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    recorder.settle(env["STORE_PREFIX"])

    async def change() -> None:
        other = Gateway(Settings.from_env({**DEV_ENV, **env}))
        stored = await other.stored_config()
        document = limited(a, b)
        document["providers"][0]["model"] = ["gpt-4o", "gpt-4o-mini"]
        await other.save_config(document, stored.version, None, "config.replace", "config", [])
        await other.aclose()

    asyncio.run(change())
    for expected in (["admit", "get", "admit"], ["admit"]):
        a.requests.clear()
        recorder.start()
        r = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
        assert r.headers["x-gateway-provider"] == "a"
        [upstream] = a.requests
        calls = recorder.calls(expect_after=upstream["time"])
        assert [op for t, op in calls if t < upstream["time"]] == expected, calls
        assert [op for t, op in calls if t > upstream["time"]] == ["record_usage"], calls
    assert "gpt-4o-mini" in gw.gateway.runtime.table.all_models and gw.gateway.runtime.version == 2
