"""Admin authentication over HTTP: Bearer admin keys, login sessions, CSRF, logout, key rotation
and the login limit (in memory and across two instances sharing a real redis-server).

Login, logout and session go through the real admin router. Most checks probe
:func:`shared.admin.auth.require_admin` through ``/admin/api/whoami``, a route these tests put in
front of the app's (any method, answering with the identity found), so every method's CSRF rule is
tested on one path; ``test_the_real_admin_endpoints_use_these_rules`` checks the same rules on the
admin API's own endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
import uuid

import httpx
import pytest

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.admin import auth
from shared.errors import GatewayError
from shared.config import parse_config_text
from shared.gateway import Gateway
from shared.settings import Settings
from shared.store import MemoryStore
from tests.builders import config, gateway_key
from tests.fakes.server import free_port
from tests.fakes.upstash_bridge import UpstashBridge
from tests.redis_server import redis_server  # noqa: F401  (a pytest fixture)

ADMIN = "sk-admin-Env-Key-0001"
ROTATED = "sk-admin-Env-Key-0002"
CONFIG_ADMIN = "sk-admin-Config-Key-0003"
USER = "sk-user-Key-0004"
ENV = {"ADMIN_API_KEY": ADMIN}
CONFIG = config(keys=[gateway_key(USER), gateway_key(CONFIG_ADMIN, role="admin")])
LOGIN, LOGOUT, SESSION, WHOAMI = "/admin/api/login", "/admin/api/logout", "/admin/api/session", "/admin/api/whoami"


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def probe(gateway: Gateway) -> Route:
    """``/admin/api/whoami`` (any method): the identity :func:`auth.require_admin` finds, or its error."""

    async def whoami(request: Request) -> Response:
        try:
            identity = await auth.require_admin(gateway, await gateway.ready(), request.scope)
        except GatewayError as exc:
            return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json", headers=exc.headers)
        return JSONResponse({"key_id": identity.key_id, "via": identity.via})

    return Route(WHOAMI, whoami, methods=["GET", "POST", "PUT", "DELETE"])


@pytest.fixture
def admin_gateway(gateway_factory):
    """``admin_gateway(env=..., store=..., cfg=...)``: a running gateway with the admin routes."""

    def start(env: dict[str, str] | None = None, store=None, cfg=CONFIG):
        gw = gateway_factory(cfg, env=ENV if env is None else env, store=store)
        gw.app.app.router.routes.insert(0, probe(gw.gateway))
        return gw

    return start


def login(gw, key: str, **headers: str) -> httpx.Response:
    return httpx.post(gw.url + LOGIN, json={"key": key}, headers=headers)


def cookie_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("gw_admin=")
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def call(gw, method: str, path: str, cookie: str | None = None, **headers: str) -> httpx.Response:
    if cookie is not None:
        headers["cookie"] = f"gw_admin={cookie}"
    return httpx.request(method, gw.url + path, headers=headers)


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def test_login_sets_an_httponly_strict_cookie_without_the_key(admin_gateway):
    gw = admin_gateway()
    response = login(gw, ADMIN)
    body = response.json()
    assert set(body) == {"key_id", "expires_at", "csrf_token"} and body["key_id"] == key_id(ADMIN)
    assert response.headers["cache-control"] == "no-store"
    flags = [f.strip() for f in response.headers["set-cookie"].split(";")[1:]]
    assert sorted(flags) == ["HttpOnly", "Max-Age=28800", "Path=/", "SameSite=Strict"]  # no Secure over plain http
    value = cookie_of(response)
    assert ADMIN not in value and hashlib.sha256(ADMIN.encode()).hexdigest() not in value
    assert int(value.split(".")[2]) == body["expires_at"]
    # Behind a TLS-terminating proxy (every serverless door) the cookie is Secure.
    secure = login(gw, ADMIN, **{"x-forwarded-proto": "https"})
    assert "Secure" in [f.strip() for f in secure.headers["set-cookie"].split(";")]


def test_session_cookie_reads_freely_and_writes_only_with_the_csrf_token(admin_gateway):
    gw = admin_gateway()
    answer = login(gw, ADMIN)
    cookie, token = cookie_of(answer), answer.json()["csrf_token"]
    assert call(gw, "GET", WHOAMI, cookie).json() == {"key_id": key_id(ADMIN), "via": "session"}
    again = call(gw, "GET", SESSION, cookie).json()
    assert again == {**answer.json(), "via": "session"}  # a reloaded page regains its token
    assert error_code(call(gw, "POST", WHOAMI, cookie), 403) == "csrf_failed"
    assert error_code(call(gw, "PUT", WHOAMI, cookie, **{"x-csrf-token": token[:-1] + "x"}), 403) == "csrf_failed"
    assert call(gw, "POST", WHOAMI, cookie, **{"x-csrf-token": token}).status_code == 200
    own = gw.url  # http://127.0.0.1:<port>: the request's own origin passes, another does not
    assert call(gw, "DELETE", WHOAMI, cookie, **{"x-csrf-token": token, "origin": own}).status_code == 200
    foreign = call(gw, "POST", WHOAMI, cookie, **{"x-csrf-token": token, "origin": "https://evil.example"})
    assert error_code(foreign, 403) == "csrf_failed"


def test_bearer_admin_keys_need_no_csrf(admin_gateway):
    gw = admin_gateway()
    assert call(gw, "POST", WHOAMI, authorization=f"Bearer {ADMIN}").json() == {"key_id": key_id(ADMIN), "via": "bearer"}
    assert call(gw, "DELETE", WHOAMI, **{"x-api-key": CONFIG_ADMIN}).json() == {"key_id": key_id(CONFIG_ADMIN), "via": "bearer"}
    session = call(gw, "GET", SESSION, authorization=f"Bearer {ADMIN}").json()
    assert session == {"key_id": key_id(ADMIN), "expires_at": None, "csrf_token": None, "via": "bearer"}
    # A key that is sent decides alone: a wrong one is not rescued by a valid cookie.
    cookie = cookie_of(login(gw, ADMIN))
    assert error_code(call(gw, "GET", WHOAMI, cookie, authorization="Bearer sk-wrong"), 401) == "admin_auth_required"


def test_user_keys_get_403_and_at_login_the_same_401_as_unknown_keys(admin_gateway):
    gw = admin_gateway()
    forbidden = call(gw, "GET", WHOAMI, authorization=f"Bearer {USER}")
    assert error_code(forbidden, 403) == "admin_only"
    assert forbidden.json()["error"]["message"] == "This endpoint needs an admin key."
    user, unknown = login(gw, USER), login(gw, "sk-nobody")
    assert error_code(user, 401) == error_code(unknown, 401) == "invalid_admin_key"
    assert user.json() == unknown.json() and "set-cookie" not in user.headers
    assert error_code(call(gw, "GET", WHOAMI), 401) == "admin_auth_required"
    assert error_code(httpx.post(gw.url + LOGIN, content=b"{"), 400) == "invalid_json"
    assert error_code(httpx.post(gw.url + LOGIN, json={"key": 7}), 400) == "missing_required_parameter"


def test_tampered_cookies_are_refused(admin_gateway):
    gw = admin_gateway()
    cookie = cookie_of(login(gw, ADMIN))
    version, kid, expires, nonce, mac = cookie.split(".")
    other = cookie_of(login(gw, CONFIG_ADMIN))
    forged = [
        f"{version}.{kid}.{int(expires) + 3600}.{nonce}.{mac}",  # a later expiry
        f"{version}.{key_id(CONFIG_ADMIN)}.{expires}.{nonce}.{mac}",  # another admin key's id
        f"{version}.{kid}.{expires}.{nonce}.{other.rsplit('.', 1)[1]}",  # another session's mac
        f"{version}.{kid}.{expires}.{nonce}.{mac[:-2]}AA",
        f"v2.{kid}.{expires}.{nonce}.{mac}",
        cookie + ".x",
        "garbage",
    ]
    for value in forged:
        assert error_code(call(gw, "GET", WHOAMI, value), 401) == "admin_auth_required", value
    assert call(gw, "GET", WHOAMI, cookie).status_code == 200


def test_expired_sessions_are_refused(admin_gateway, monkeypatch):
    gw = admin_gateway()
    cookie = cookie_of(login(gw, ADMIN))
    start = auth._now()
    monkeypatch.setattr(auth, "_now", lambda: start + 8 * 3600 - 5)
    assert call(gw, "GET", WHOAMI, cookie).status_code == 200
    monkeypatch.setattr(auth, "_now", lambda: start + 8 * 3600 + 1)
    assert error_code(call(gw, "GET", WHOAMI, cookie), 401) == "admin_auth_required"


def test_logout_revokes_the_session_server_side(admin_gateway):
    gw = admin_gateway()
    answer = login(gw, ADMIN)
    cookie, token = cookie_of(answer), answer.json()["csrf_token"]
    assert error_code(call(gw, "POST", LOGOUT, cookie), 403) == "csrf_failed"  # logging out is a write too
    out = call(gw, "POST", LOGOUT, cookie, **{"x-csrf-token": token})
    assert out.status_code == 204
    assert out.headers["set-cookie"].startswith("gw_admin=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict")
    assert error_code(call(gw, "GET", WHOAMI, cookie), 401) == "admin_auth_required"  # a kept copy is dead too
    assert call(gw, "POST", LOGOUT).status_code == 204  # nothing to revoke: still a clean logout


def test_rotating_the_admin_key_ends_every_session(admin_gateway):
    store = MemoryStore()  # the shared store both "deploys" use
    old = admin_gateway(store=store)
    cookie = cookie_of(login(old, ADMIN))
    assert call(old, "GET", WHOAMI, cookie).status_code == 200
    old.stop()
    new = admin_gateway(env={"ADMIN_API_KEY": ROTATED}, store=store)
    assert error_code(call(new, "GET", WHOAMI, cookie), 401) == "admin_auth_required"
    assert call(new, "GET", WHOAMI, cookie_of(login(new, ROTATED))).status_code == 200
    # A shorter ADMIN_SESSION_SECONDS also cuts sessions issued under the longer one.
    shorter = admin_gateway(env={"ADMIN_API_KEY": ROTATED, "ADMIN_SESSION_SECONDS": "600"}, store=store)
    assert error_code(call(shorter, "GET", WHOAMI, cookie_of(login(new, ROTATED))), 401) == "admin_auth_required"


SERVERLESS = {"ADMIN_API_KEY": ADMIN, "VERCEL": "1"}  # a serverless door: the client address comes from x-forwarded-for


def test_failed_logins_are_limited_per_client_address(admin_gateway):
    gw = admin_gateway(env=SERVERLESS)
    a = {"x-forwarded-for": "198.51.100.7"}
    for _ in range(10):
        assert error_code(login(gw, "sk-guess", **a), 401) == "invalid_admin_key"
    limited = login(gw, "sk-guess", **a)
    assert error_code(limited, 429) == "too_many_attempts"
    assert 1 <= int(limited.headers["retry-after"]) <= 300
    assert error_code(login(gw, ADMIN, **a), 429) == "too_many_attempts"  # the key is not even looked at
    # Only the last entry counts (the platform's own): a client-written first entry changes nothing.
    assert error_code(login(gw, ADMIN, **{"x-forwarded-for": "203.0.113.9, 198.51.100.7"}), 429) == "too_many_attempts"
    assert login(gw, ADMIN, **{"x-forwarded-for": "198.51.100.8"}).status_code == 200
    # Bearer admin keys are not affected by the login limit.
    assert call(gw, "GET", WHOAMI, authorization=f"Bearer {ADMIN}", **a).status_code == 200


def test_a_burst_of_parallel_guesses_is_capped_too(admin_gateway):
    """Failures are read before and counted after each guess, so parallel guesses could all read
    the same count. Here 30 guesses all pass the read before any is counted (their bodies are held
    back until every head is in); the atomic per-attempt cap (twice the failure limit) still stops
    all but 10 of them."""
    gw = admin_gateway(env={**SERVERLESS, "ADMIN_LOGIN_LIMIT": "5/min"})
    body = json.dumps({"key": "sk-guess"}).encode()
    head = (f"POST {LOGIN} HTTP/1.1\r\nhost: 127.0.0.1:{gw.server.port}\r\nx-forwarded-for: 192.0.2.1\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    sockets = [socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) for _ in range(30)]
    try:
        for s in sockets:
            s.sendall(head)
        time.sleep(0.5)  # every request is now waiting for its body, past the limit check
        for s in sockets:
            with contextlib.suppress(OSError):  # one already refused may have closed its side
                s.sendall(body)
        statuses = []
        for s in sockets:
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            statuses.append(int(reply.split(b" ", 2)[1]))
    finally:
        for s in sockets:
            s.close()
    assert sorted(statuses) == [401] * 10 + [429] * 20, statuses


@pytest.mark.parametrize("kind", ["redis", "upstash"])
def test_the_login_limit_and_sessions_hold_across_instances_sharing_redis(admin_gateway, redis_server, fake_factory, kind):  # noqa: F811
    env = {**SERVERLESS, "STORE_PREFIX": f"admin-{uuid.uuid4().hex[:8]}:", "STORE_TIMEOUT_SECONDS": "5"}
    if kind == "redis":
        env["REDIS_URL"] = redis_server.url
    else:  # Upstash's REST protocol, served by a bridge to the same redis-server
        bridge = fake_factory(redis_server.port, kind=UpstashBridge)
        env.update(UPSTASH_REDIS_REST_URL=bridge.url, UPSTASH_REDIS_REST_TOKEN=bridge.token)
    one, two = admin_gateway(env=env), admin_gateway(env=env)
    a = {"x-forwarded-for": "198.51.100.20"}
    for i in range(10):
        assert error_code(login(one if i % 2 else two, "sk-guess", **a), 401) == "invalid_admin_key"
    assert error_code(login(one, "sk-guess", **a), 429) == "too_many_attempts"
    assert error_code(login(two, ADMIN, **a), 429) == "too_many_attempts"
    assert error_code(login(two, "sk-guess", **{"x-forwarded-for": "198.51.100.21"}), 401) == "invalid_admin_key"
    # Sessions are signed with the secret both instances read from redis: one logs in, the other
    # honours the cookie, and a logout on either ends it on both.
    answer = login(one, ADMIN, **{"x-forwarded-for": "198.51.100.22"})
    cookie, token = cookie_of(answer), answer.json()["csrf_token"]
    assert call(two, "GET", WHOAMI, cookie).json() == {"key_id": key_id(ADMIN), "via": "session"}
    assert call(two, "POST", LOGOUT, cookie, **{"x-csrf-token": token}).status_code == 204
    assert error_code(call(one, "GET", WHOAMI, cookie), 401) == "admin_auth_required"
    prefix, db = env["STORE_PREFIX"], redis_server.client()
    assert db.ttl(f"{prefix}kv:admin:secret") == -1 and 0 < db.ttl(f"{prefix}kv:admin:revoked:{cookie.split('.')[3]}") <= 8 * 3600
    assert db.zcard(f"{prefix}alf:198.51.100.20:300") == 10


def test_an_admin_key_removed_from_the_stored_config_stops_working_everywhere_at_once(admin_gateway):
    store = MemoryStore()
    serving = admin_gateway(store=store)
    cookie = cookie_of(login(serving, CONFIG_ADMIN))
    assert call(serving, "GET", WHOAMI, cookie).status_code == 200
    new_admin = "sk-admin-Config-Key-0005"

    async def change() -> None:  # another instance saves a config without that key (what the admin API does)
        writer = Gateway(Settings.from_env(ENV), parse_config_text(json.dumps(CONFIG), "test-config", {}), store)
        await writer.ready()
        document = config(keys=[gateway_key(USER), gateway_key(new_admin, role="admin")])
        await writer.save_config(document, await store.config_version(), key_id(ADMIN), "keys.delete", key_id(CONFIG_ADMIN), [])

    asyncio.run(change())
    assert error_code(call(serving, "GET", WHOAMI, cookie), 401) == "admin_auth_required"
    assert error_code(call(serving, "GET", WHOAMI, authorization=f"Bearer {CONFIG_ADMIN}"), 401) == "admin_auth_required"
    assert error_code(login(serving, CONFIG_ADMIN), 401) == "invalid_admin_key"
    assert call(serving, "GET", WHOAMI, cookie_of(login(serving, new_admin))).status_code == 200


def test_a_dead_shared_store_stops_sessions_but_not_bearer_keys(admin_gateway):
    """Sessions need the shared secret and the revocation marks, which the in-process fallback
    does not have: 503, never a session checked against the wrong secret. Bearer keys still work."""
    env = {**ENV, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "STORE_TIMEOUT_SECONDS": "0.5"}
    gw = admin_gateway(env=env)
    assert call(gw, "GET", WHOAMI, authorization=f"Bearer {ADMIN}").status_code == 200
    down = login(gw, ADMIN)
    assert error_code(down, 503) == "store_unavailable" and down.headers["retry-after"]
    plausible = f"v1.{key_id(ADMIN)}.{int(time.time()) + 600}.{'n' * 24}.{'m' * 43}"  # checking it needs the secret
    assert error_code(call(gw, "GET", WHOAMI, plausible), 503) == "store_unavailable"


def test_production_without_an_admin_key_disables_admin(admin_gateway):
    gw = admin_gateway(env={"ENVIRONMENT": "production"}, cfg=config(keys=[gateway_key(USER)]))
    for method, path in (("POST", LOGIN), ("POST", LOGOUT), ("GET", SESSION), ("GET", WHOAMI)):
        assert error_code(call(gw, method, path, authorization=f"Bearer {USER}"), 404) == "admin_disabled"
    # A config key with role admin is explicit: it enables admin in production.
    gw = admin_gateway(env={"ENVIRONMENT": "production"})
    assert call(gw, "GET", WHOAMI, cookie_of(login(gw, CONFIG_ADMIN))).json() == {"key_id": key_id(CONFIG_ADMIN), "via": "session"}
    assert error_code(login(gw, "adminadmin"), 401) == "invalid_admin_key"  # no development key in production


@pytest.mark.parametrize(("platform_env", "client", "forwarded", "expected"), [
    ({}, ("10.0.0.5", 5000), "203.0.113.1", "10.0.0.5"),  # local: the peer; a header is just a header
    ({"AWS_LAMBDA_FUNCTION_NAME": "gw"}, ("198.51.100.3", 0), "203.0.113.1", "198.51.100.3"),  # Mangum: sourceIp
    ({"AWS_LAMBDA_FUNCTION_NAME": "gw"}, ("127.0.0.1", 5000), "203.0.113.1", "203.0.113.1"),  # Lambda Web Adapter
    ({"K_SERVICE": "gw"}, ("169.254.1.1", 5000), "203.0.113.1, 198.51.100.4", "198.51.100.4"),
    ({"VERCEL": "1"}, None, "", "unknown"),
], ids=["local", "lambda-mangum", "lambda-adapter", "cloud-run", "nothing"])
def test_client_address_per_platform(platform_env, client, forwarded, expected):
    scope = {"type": "http", "client": client, "headers": [(b"x-forwarded-for", forwarded.encode())] if forwarded else []}
    assert auth.client_address(scope, Settings.from_env({**platform_env, "ADMIN_API_KEY": ADMIN})) == expected


def test_settings_read_and_check_the_admin_variables():
    settings = Settings.from_env({"ADMIN_SESSION_SECONDS": "3600", "ADMIN_LOGIN_LIMIT": "3/2min"})
    assert settings.admin_session_seconds == 3600 and [str(w) for w in settings.admin_login_limit] == ["3/120s"]
    for name, value in (("ADMIN_SESSION_SECONDS", "0"), ("ADMIN_LOGIN_LIMIT", "ten")):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value})


def test_the_real_admin_endpoints_use_these_rules(admin_gateway) -> None:
    gw = admin_gateway()
    answer = login(gw, ADMIN)
    cookie, token = cookie_of(answer), answer.json()["csrf_token"]
    assert call(gw, "GET", "/admin/api/config", cookie).status_code == 200
    validate = "/admin/api/config/validate"
    assert error_code(call(gw, "POST", validate, cookie), 403) == "csrf_failed"
    ok = httpx.post(gw.url + validate, json={"config": {}}, headers={"cookie": f"gw_admin={cookie}", "x-csrf-token": token})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert error_code(call(gw, "GET", "/admin/api/config", authorization=f"Bearer {USER}"), 403) == "admin_only"
    assert call(gw, "POST", LOGOUT, cookie, **{"x-csrf-token": token}).status_code == 204
    assert error_code(call(gw, "GET", "/admin/api/config", cookie), 401) == "admin_auth_required"
