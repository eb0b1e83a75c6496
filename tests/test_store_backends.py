"""One behavioural suite for every store: in-process, Redis over TCP, Upstash REST (through the
bridge in front of a real redis-server). The shared stores must behave exactly like MemoryStore.

Most tests drive a fake clock (the Redis stores then send the caller's time instead of using the
server's ``TIME``), so window arithmetic is checked exactly and without sleeping; the tests that
need real expiry (cooldown marks, the server clock) use short real durations.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable

import pytest

from shared.http_client import close_client, get_client
from shared.ratelimit import Window
from shared.store import AdmitRequest, LimitCheck, MemoryStore, Usage
from shared.store.lua import COUNTER_TTL, SCRIPTS, USAGE_TTL
from shared.store.memory import day_of
from shared.store.redis_tcp import RedisStore
from shared.store.upstash import UpstashStore
from tests.fakes.upstash_bridge import UpstashBridge
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def at(self, seconds: float) -> None:
        self.t = T0 + seconds


@pytest.fixture(scope="module")
def bridge(redis_server: RedisServer, module_fake_factory) -> UpstashBridge:  # noqa: F811
    return module_fake_factory(redis_server.port, kind=UpstashBridge)


class Backend:
    """Builds stores of one kind; ``run`` drives an async test body and closes what it opened."""

    def __init__(self, kind: str, server: RedisServer, bridge: UpstashBridge) -> None:
        self.kind, self.server, self.bridge = kind, server, bridge
        self.prefix = f"t{uuid.uuid4().hex[:8]}:"
        self._open: list[Any] = []

    def store(self, clock: Callable[[], float] | None = None, prefix: str | None = None) -> Any:
        prefix = prefix or self.prefix
        if self.kind == "memory":
            store: Any = MemoryStore(clock or time.time)
        elif self.kind == "redis":
            store = RedisStore(self.server.url, prefix, clock=clock)
        else:
            store = UpstashStore(self.bridge.url, self.bridge.token, prefix, clock=clock)
        self._open.append(store)
        return store

    def run(self, body: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            try:
                await body()
            finally:
                for store in self._open:
                    await store.close()
                self._open.clear()
                await close_client()

        asyncio.run(main())


@pytest.fixture(params=["memory", "redis", "upstash"])
def backend(request, redis_server: RedisServer, bridge: UpstashBridge) -> Backend:  # noqa: F811
    return Backend(request.param, redis_server, bridge)


@pytest.fixture(params=["redis", "upstash"])
def shared_backend(request, redis_server: RedisServer, bridge: UpstashBridge) -> Backend:  # noqa: F811
    return Backend(request.param, redis_server, bridge)


def limited(*windows: Window, bucket: str = "rl:k1:*") -> AdmitRequest:
    return AdmitRequest(limits=[LimitCheck(bucket, tuple(windows))])


# -- rate-limit windows ----------------------------------------------------------------------

def test_a_window_admits_exactly_its_limit_and_retry_after_is_exact(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        req = limited(Window(3, 10))
        remaining = []
        for t in (0, 1, 2):
            clock.at(t)
            result = await store.admit(req)
            assert result.allowed
            remaining.append(result.windows[0].remaining)
        assert remaining == [2, 1, 0]
        assert result.windows[0].reset == pytest.approx(8.0, abs=1e-3)  # the t=0 entry frees at t=10
        clock.at(5)
        denied = await store.admit(req)
        assert not denied.allowed and denied.retry_after == pytest.approx(5.0, abs=1e-3)
        assert denied.windows[0].remaining == 0
        clock.at(10)  # the t=0 entry has left the window (an entry is out once it is `seconds` old)
        assert (await store.admit(req)).allowed
        clock.at(10.5)
        denied = await store.admit(req)
        assert not denied.allowed and denied.retry_after == pytest.approx(0.5, abs=1e-3)  # the t=1 entry frees at 11

    backend.run(body)


def test_denied_requests_consume_no_quota(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        req = limited(Window(2, 10))
        assert [(await store.admit(req)).allowed for _ in range(2)] == [True, True]
        for i in range(20):
            clock.at(1 + i * 0.4)
            assert not (await store.admit(req)).allowed
        clock.at(10)  # had the denials been counted, the window would still be full
        assert [(await store.admit(req)).allowed for _ in range(3)] == [True, True, False]

    backend.run(body)


def test_every_window_must_pass_and_a_denial_counts_in_none(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        req = AdmitRequest(limits=[LimitCheck("rl:k1:*", (Window(2, 1), Window(3, 10))), LimitCheck("rl:global", (Window(100, 10),))])
        assert (await store.admit(req)).allowed and (await store.admit(req)).allowed
        clock.at(0.1)
        denied = await store.admit(req)  # the 2/1s window is full
        assert not denied.allowed and denied.retry_after == pytest.approx(0.9, abs=1e-3)
        assert [w.remaining for w in denied.windows] == [0, 1, 98]  # neither 3/10s nor global moved
        clock.at(1)
        ok = await store.admit(req)
        assert ok.allowed and [w.remaining for w in ok.windows] == [1, 0, 97]
        clock.at(2)  # 2/1s has room again, 3/10s is full: denied, and nothing is counted anywhere
        denied = await store.admit(req)
        assert not denied.allowed and denied.retry_after == pytest.approx(8.0, abs=1e-3)
        assert [w.remaining for w in denied.windows] == [2, 0, 97]

        # A full global window denies a key whose own bucket has room, without consuming it.
        solo = AdmitRequest(limits=[LimitCheck("rl:k2:*", (Window(5, 10),)), LimitCheck("rl:g2", (Window(1, 10),))])
        assert (await store.admit(solo)).allowed
        denied = await store.admit(solo)
        assert not denied.allowed and [w.remaining for w in denied.windows] == [4, 0]

    backend.run(body)


def test_concurrent_admits_never_exceed_the_limit(backend: Backend) -> None:
    async def body() -> None:
        # Three clients, as three instances would have (the in-process store is one per process).
        stores = [backend.store()] * 3 if backend.kind == "memory" else [backend.store() for _ in range(3)]
        req = limited(Window(5, 60), bucket=f"rl:{uuid.uuid4().hex[:6]}:*")
        results = await asyncio.gather(*(stores[i % 3].admit(req) for i in range(40)))
        assert sum(r.allowed for r in results) == 5
        assert all(r.retry_after > 50 for r in results if not r.allowed)

    backend.run(body)


def test_the_default_clock_expires_entries_in_real_time(backend: Backend) -> None:
    async def body() -> None:
        store = backend.store()  # the Redis stores use the server's TIME
        req = limited(Window(1, 0.5))  # a fractional window keeps the test short
        assert (await store.admit(req)).allowed
        denied = await store.admit(req)
        assert not denied.allowed and 0 < denied.retry_after <= 0.5
        await asyncio.sleep(denied.retry_after + 0.05)
        assert (await store.admit(req)).allowed

    backend.run(body)


# -- rotation, cooldowns, upstream-key usage ---------------------------------------------------

def test_rotation_counters_advance_once_per_admitted_request(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        req = AdmitRequest(limits=[LimitCheck("rl:k1:*", (Window(3, 60),))], rotation="rr:k1:gpt-4o",
                           key_rotations=["kr:a", "kr:b"])
        seen = []
        for _ in range(3):
            r = await store.admit(req)
            seen.append((r.rotation, r.key_rotations))
        assert seen == [(n, {"kr:a": n, "kr:b": n}) for n in (1, 2, 3)]
        denied = await store.admit(req)
        assert not denied.allowed and denied.rotation == 0 and denied.key_rotations == {}
        clock.at(60)
        r = await store.admit(req)
        assert r.rotation == 4 and r.key_rotations == {"kr:a": 4, "kr:b": 4}  # the denial did not advance them
        other = await store.admit(AdmitRequest(rotation="rr:k1:other", key_rotations=["kr:a"]))
        assert other.rotation == 1 and other.key_rotations == {"kr:a": 5}

    backend.run(body)


def test_cooldown_marks_expire_and_are_never_shortened(backend: Backend) -> None:
    async def body() -> None:
        store = backend.store()
        ids = ["a/gpt-4o", "a#k1", "b/gpt-4o"]
        await store.mark_failure([("a/gpt-4o", 0.5), ("a#k1", 5), ("b/gpt-4o", 0), ("c/x", 9)])
        cooled = (await store.admit(AdmitRequest(cooldown_ids=ids))).cooled
        assert set(cooled) == {"a/gpt-4o", "a#k1"}  # a zero mark is no mark; c/x was not asked for
        assert 0.2 < cooled["a/gpt-4o"] <= 0.5 and 4.5 < cooled["a#k1"] <= 5
        await store.mark_failure([("a#k1", 1), ("a/gpt-4o", 0.1)])  # shorter marks leave longer ones alone
        cooled = (await store.admit(AdmitRequest(cooldown_ids=ids))).cooled
        assert cooled["a#k1"] > 4.5 and cooled["a/gpt-4o"] > 0.15
        await asyncio.sleep(0.55)
        assert set((await store.admit(AdmitRequest(cooldown_ids=ids))).cooled) == {"a#k1"}
        await store.mark_failure([("a/gpt-4o", 2)])  # a new mark after expiry
        assert 1.5 < (await store.admit(AdmitRequest(cooldown_ids=ids))).cooled["a/gpt-4o"] <= 2

    backend.run(body)


def test_usage_reads_report_full_upstream_key_buckets(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        k1, k2 = LimitCheck("kl:a#k1:*", (Window(2, 60),)), LimitCheck("kl:a#k2:*", (Window(2, 60), Window(10, 3600)))
        reads = AdmitRequest(usage_reads=[k1, k2])
        await store.record_usage([k1, k2], None, "req-1")
        assert (await store.admit(reads)).at_limit == set()
        clock.at(30)
        await store.record_usage([k1], None, "req-2")
        assert (await store.admit(reads)).at_limit == {"kl:a#k1:*"}
        for i in range(5):  # uses past the limit (e.g. recorded by other instances) change nothing
            await store.record_usage([k1], None, f"req-{i + 3}")
        assert (await store.admit(reads)).at_limit == {"kl:a#k1:*"}
        clock.at(89.9)
        assert (await store.admit(reads)).at_limit == {"kl:a#k1:*"}  # the t=30 uses are still in the window
        clock.at(90)
        assert (await store.admit(reads)).at_limit == set()

    backend.run(body)


def test_record_usage_and_get_usage(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        await store.record_usage([], Usage("k1", "gpt-4o", 10, 5), "r1")
        await store.record_usage([LimitCheck("kl:a#k1:*", (Window(5, 60),))], Usage("k1", "gpt-4o", 7, 1), "r2")
        await store.record_usage([], Usage("k1", "modèle-ü", 1, 2), "r3")  # survives the REST encoding
        await store.record_usage([], Usage("k2", "gpt-4o", 100, 100), "r4")
        await store.record_usage([], None, "r5")
        day = day_of(T0)
        assert await store.get_usage("k1", day) == {
            "gpt-4o:requests": 2, "gpt-4o:prompt_tokens": 17, "gpt-4o:completion_tokens": 6,
            "modèle-ü:requests": 1, "modèle-ü:prompt_tokens": 1, "modèle-ü:completion_tokens": 2,
        }
        assert (await store.get_usage("k2", day))["gpt-4o:requests"] == 1
        assert await store.get_usage("k1", day_of(T0 + 86400)) == {}

    backend.run(body)


# -- Redis specifics: TTLs, prefix, script cache, transport --------------------------------------

def exercise(store: Any) -> Awaitable[None]:
    async def go() -> None:
        req = AdmitRequest(limits=[LimitCheck("rl:k1:*", (Window(5, 60), Window(50, 86400)))], rotation="rr:k1:m",
                           key_rotations=["kr:a"], cooldown_ids=["a/m", "a#k1"], usage_reads=[LimitCheck("kl:a#k1:*", (Window(3, 120),))])
        await store.admit(req)
        await store.mark_failure([("a/m", 30), ("a#k1", 2.5)])
        await store.record_usage([LimitCheck("kl:a#k1:*", (Window(3, 120),))], Usage("k1", "m", 1, 2), "req-x")
    return go()


def test_every_key_has_a_ttl_and_carries_the_prefix(shared_backend: Backend) -> None:
    client = shared_backend.server.client()
    client.flushdb()

    async def body() -> None:
        await exercise(shared_backend.store(prefix="deploy-a:"))

    shared_backend.run(body)
    day = day_of(time.time())
    expected = {  # key -> the longest TTL it may have (ms)
        "deploy-a:rl:k1:*:60": 60_000, "deploy-a:rl:k1:*:86400": 86_400_000, "deploy-a:kl:a#k1:*:120": 120_000,
        "deploy-a:rr:k1:m": COUNTER_TTL * 1000, "deploy-a:kr:a": COUNTER_TTL * 1000,
        "deploy-a:cd:a/m": 30_000, "deploy-a:cd:a#k1": 2_500, f"deploy-a:usage:k1:{day}": USAGE_TTL * 1000,
    }
    assert sorted(client.keys("*")) == sorted(expected)
    for key, longest in expected.items():
        ttl = client.pttl(key)
        assert longest - 5_000 < ttl <= longest if longest > 10_000 else 0 < ttl <= longest, (key, ttl)


def test_prefixes_keep_deployments_apart(shared_backend: Backend) -> None:
    async def body() -> None:
        a, b = shared_backend.store(prefix="dep-a:"), shared_backend.store(prefix="dep-b:")
        req = limited(Window(1, 60), bucket="rl:same-key:*")
        assert (await a.admit(req)).allowed and (await b.admit(req)).allowed
        assert not (await a.admit(req)).allowed and not (await b.admit(req)).allowed

    shared_backend.server.client().delete("dep-a:rl:same-key:*:60", "dep-b:rl:same-key:*:60")
    shared_backend.run(body)


def test_a_flushed_script_cache_falls_back_to_eval_once(shared_backend: Backend) -> None:
    client = shared_backend.server.client()
    client.script_flush()
    client.config_resetstat()
    shared_backend.bridge.clear()

    async def body() -> None:
        store = shared_backend.store()
        assert (await store.admit(limited(Window(5, 60)))).allowed
        assert (await store.admit(limited(Window(5, 60)))).allowed

    shared_backend.run(body)
    stats = client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 2 and stats["cmdstat_eval"]["calls"] == 1
    assert stats["cmdstat_evalsha"]["failed_calls"] == 1  # the NOSCRIPT
    assert client.script_exists(SCRIPTS["admit"].sha) == [True]
    if shared_backend.kind == "upstash":
        assert [e.commands[0][0] for e in shared_backend.bridge.log] == ["EVALSHA", "EVAL", "EVALSHA"]


# -- the Upstash client and the bridge -------------------------------------------------------------

def test_upstash_requests_use_the_shared_http_client(redis_server: RedisServer, bridge: UpstashBridge) -> None:  # noqa: F811
    """The client has no parameter for its HTTP client: this guards the private attribute we set."""
    async def body() -> None:
        store = UpstashStore(bridge.url, bridge.token, "http:")
        try:
            await store.admit(AdmitRequest(rotation="rr:x:y"))
            assert store._http._client is get_client()
            assert store._own_client is not get_client()
        finally:
            await store.close()
        assert not get_client().is_closed  # closing the store leaves the shared client alone
        await close_client()

    asyncio.run(body())


def test_bridge_speaks_the_upstash_protocol(redis_server: RedisServer, bridge: UpstashBridge) -> None:  # noqa: F811
    from upstash_redis.asyncio import Redis
    from upstash_redis.errors import UpstashError

    async def body() -> None:
        for encoding in ("base64", None):
            r = Redis(bridge.url, bridge.token, rest_encoding=encoding, rest_retries=0, allow_telemetry=False)
            try:
                await r.delete("bridge:k", "bridge:n", "bridge:h")
                assert await r.set("bridge:k", "välue") is True
                assert await r.get("bridge:k") == "välue"
                p = r.pipeline()
                p.incr("bridge:n")
                p.get("bridge:k")
                p.hset("bridge:h", values={"f": "1"})
                assert await p.exec() == [1, "välue", 1]
                m = r.multi()
                m.incr("bridge:n")
                m.incr("bridge:n")
                assert await m.exec() == [2, 3]
                with pytest.raises(UpstashError, match="WRONGTYPE"):
                    await r.incr("bridge:h")
            finally:
                await r.close()
        bad = Redis(bridge.url, "wrong-token", rest_retries=0, allow_telemetry=False)
        try:
            with pytest.raises(UpstashError, match="Unauthorized"):
                await bad.get("bridge:k")
        finally:
            await bad.close()

    asyncio.run(body())


# -- the admin side: the config document, audit, recent failures, small values -------------------------------

def test_the_config_document_is_a_compare_and_set_on_its_version(backend: Backend) -> None:
    async def body() -> None:
        store, other = backend.store(), backend.store()
        if backend.kind == "memory":
            other = store
        assert await store.get_config() is None and await store.config_version() == 0
        doc = {"providers": [{"provider": "a", "api": "${KEY}", "model": ["m"]}], "api_keys": []}
        assert await store.put_config(0, doc, {"source": "seed"}, {"action": "config.seed", "at": 1.0}) == 1
        assert await other.put_config(0, {"providers": []}, {"source": "admin"}, {"action": "lost"}) is None  # stale
        stored = await other.get_config()
        assert (stored.version, stored.document, stored.meta) == (1, doc, {"source": "seed"})
        assert await other.put_config(1, {"providers": []}, {"source": "admin"}, {"action": "config.replace"}) == 2
        assert await store.config_version() == 2
        assert [(e["action"], e["version"]) for e in await store.get_audit(10)] == [("config.replace", 2), ("config.seed", 1)]
        assert len(await store.get_audit(1)) == 1

    backend.run(body)


def test_admit_with_another_config_version_is_refused_and_counts_nothing(backend: Backend) -> None:
    async def body() -> None:
        clock = Clock()
        store = backend.store(clock)
        req = AdmitRequest(limits=[LimitCheck("rl:k:*", (Window(2, 60),))], rotation="rr:k:m", config_version=0)
        assert (await store.admit(req)).allowed  # the store holds no config: version 0 matches
        assert await store.put_config(0, {}, {"source": "admin"}, None) == 1
        stale = await store.admit(req)
        assert not stale.allowed and stale.config_changed and stale.config_version == 1
        fresh = AdmitRequest(limits=req.limits, rotation=req.rotation, config_version=1)
        result = await store.admit(fresh)
        assert result.allowed and result.rotation == 2 and result.windows[0].remaining == 0  # the refused one counted nothing
        unchecked = AdmitRequest(rotation="rr:k:m")
        assert (await store.admit(unchecked)).rotation == 3  # no version given: not checked
        emptied = backend.store(clock, prefix=backend.prefix + "emptied:") if backend.kind != "memory" else type(store)(clock)
        assert (await emptied.admit(fresh)).allowed  # a store that lost its config (a flushed Redis) refuses nothing

    backend.run(body)


def test_recent_failures_are_kept_newest_first_and_bounded(backend: Backend) -> None:
    from shared.store import keys as layout

    async def body() -> None:
        store = backend.store()
        await store.mark_failure([], {"channel": "a/m", "status": 500, "reason": "HTTP 500"})
        await store.mark_failure([("a/m", 5)], {"channel": "b/m", "status": 429, "reason": "rate limited"})
        failures = await store.recent_failures(10)
        assert [f["channel"] for f in failures] == ["b/m", "a/m"] and all(f["at"] > 0 for f in failures)
        assert (await store.admit(AdmitRequest(cooldown_ids=["a/m"]))).cooled
        for i in range(layout.FAILURES_KEPT + 5):
            await store.mark_failure([], {"channel": f"c{i}", "status": 502, "reason": "x"})
        assert len(await store.recent_failures(1000)) == layout.FAILURES_KEPT

    backend.run(body)


def test_small_values_expire_and_only_if_absent_sets_once(backend: Backend) -> None:
    async def body() -> None:
        store = backend.store()
        assert await store.kv_get("s") is None
        assert await store.kv_set("s", "one", None, only_if_absent=True)
        assert not await store.kv_set("s", "two", None, only_if_absent=True)
        assert await store.kv_get("s") == "one"
        assert await store.kv_set("t", "short", 0.2)
        assert await store.kv_get("t") == "short"
        await asyncio.sleep(0.35)
        assert await store.kv_get("t") is None
        await store.kv_delete("s")
        assert await store.kv_get("s") is None

    backend.run(body)


def test_usage_is_counted_per_provider_too(backend: Backend) -> None:
    async def body() -> None:
        store = backend.store()
        await store.record_usage([], Usage("kp", "m", 3, 4, provider="a"), "")
        await store.record_usage([], Usage("kp", "m", 1, 1, provider="b"), "")
        usage = await store.get_usage("kp", day_of(time.time()))
        assert usage["m:requests"] == 2 and usage["m:prompt_tokens"] == 4
        assert (usage["p:a:m:requests"], usage["p:a:m:completion_tokens"], usage["p:b:m:prompt_tokens"]) == (1, 4, 1)

    backend.run(body)
