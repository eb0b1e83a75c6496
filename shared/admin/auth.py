"""Admin authentication: the admin key as a Bearer token (scripts, CI), or a browser session from
the login page (the panel).

Sessions are stateless signed cookies, so any instance (serverless ones included) checks one with
no shared session table: ``gw_admin=v1.<key id>.<expires>.<nonce>.<mac>``, where ``mac`` is an
HMAC-SHA256 of the rest under a signing key derived from two things:

* a 32-byte secret created once in the shared store (the first instance to need it wins the
  ``only_if_absent`` write; every instance then reads the same one), and
* the admin key's SHA-256 digest, which is how the runtime already knows the key.

The cookie carries neither the key nor its digest (the key id is the digest's first 16 hex digits,
the public id logs already show), and rotating the admin key changes the digest, so every session
signed for the old key stops verifying at once. Logging out writes the session's nonce to the store
as revoked until the session would have expired: a copied cookie dies with the logout.

CSRF: the cookie is ``SameSite=Strict`` (a browser never sends it on another site's request), and
on top of that every cookie-authenticated request other than GET/HEAD/OPTIONS must carry
``X-CSRF-Token``, an HMAC of the nonce that only a page able to read the login or session answer
knows, and must not come with an ``Origin`` other than the gateway's own. Bearer requests need
neither: a browser never attaches a Bearer token by itself.

Failed logins are counted per client address in the shared store (the same sliding windows as rate
limits), so the limit holds across serverless instances; see :func:`client_address` for whose
address that is on each platform.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from ..errors import GatewayError
from ..gateway import Gateway
from ..ratelimit import Window
from ..routing import RoutingTable, digest
from ..runtime import Runtime
from ..settings import LOOPBACK_HOSTS, Settings
from ..store import Store
from ..store import keys as layout
from ..store.base import AdmitRequest, LimitCheck, StoreUnavailable

log = logging.getLogger("gateway")

COOKIE = "gw_admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_CACHE_SECONDS = 60.0  # how long an instance trusts its copy of the store's session secret
ATTEMPTS_FACTOR = 2  # every login attempt, successful or not, is capped at this many times the failure limit
MAX_ADDRESS = 64  # characters of a client address kept in a bucket name
_COOKIE = re.compile(r"v1\.([0-9a-f]{16})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})")

_now = time.time  # the clock sessions expire by (tests move it)


@dataclass(frozen=True)
class AdminIdentity:
    key_id: str
    via: str  # "bearer" | "session"


@dataclass(frozen=True)
class _Session:
    key_id: str
    expires: int
    nonce: str
    signing_key: bytes

    @property
    def payload(self) -> str:
        return f"v1.{self.key_id}.{self.expires}.{self.nonce}"

    @property
    def mac(self) -> str:
        return _b64(hmac.new(self.signing_key, self.payload.encode(), hashlib.sha256).digest())

    @property
    def cookie(self) -> str:
        return f"{self.payload}.{self.mac}"

    @property
    def csrf_token(self) -> str:
        """Derived from the session, not stored: any instance recomputes it from the cookie alone."""
        return _b64(hmac.new(self.signing_key, b"csrf:" + self.nonce.encode(), hashlib.sha256).digest())

    def answer(self) -> dict[str, object]:
        return {"key_id": self.key_id, "expires_at": self.expires, "csrf_token": self.csrf_token, "via": "session"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _error(exc: GatewayError) -> Response:
    return Response(exc.json_bytes(), status_code=exc.status, media_type="application/json", headers=exc.headers)


def _auth_required() -> GatewayError:
    return GatewayError(401, "This endpoint needs an admin key (Authorization: Bearer) or an admin session; "
                             "log in again if yours expired.", code="admin_auth_required")


def _store_down(exc: StoreUnavailable) -> GatewayError:
    log.warning("admin session check failed: %s", exc)
    return GatewayError(503, "Admin sessions need the shared state store, which did not answer; try again, "
                             "or send the admin key as a Bearer token.", code="store_unavailable", headers={"retry-after": "5"})


# The admin keys of a routing table by key id (sessions name the key by id), built once per table:
# a table belongs to one config version and never changes.
_admins: weakref.WeakKeyDictionary[RoutingTable, dict[str, bytes]] = weakref.WeakKeyDictionary()


def _admin_digests(table: RoutingTable) -> dict[str, bytes]:
    found = _admins.get(table)
    if found is None:
        found = _admins[table] = {p.key_id: d for d, p in table.keys.items() if p.role == "admin"}
    return found


def admin_enabled(runtime: Runtime, settings: Settings) -> bool:
    """Whether some key with role admin exists: ``ADMIN_API_KEY`` (or its development stand-in where
    development keys apply, never in production) or a config key with ``role: admin`` (config keys
    are explicit, so they enable admin even in production without ``ADMIN_API_KEY``)."""
    return bool(_admin_digests(runtime.table))


def _check_enabled(runtime: Runtime, settings: Settings) -> None:
    if not admin_enabled(runtime, settings):
        raise GatewayError(404, "The admin API is disabled: set ADMIN_API_KEY or add a key with role admin.", code="admin_disabled")


_secrets: weakref.WeakKeyDictionary[Store, tuple[float, bytes]] = weakref.WeakKeyDictionary()


async def _session_secret(store: Store) -> bytes:
    """The store's session secret, created by whichever instance asks first. Cached briefly, so a
    cookie check costs the revocation read and no other; if the store loses the secret (a flush),
    every instance moves to the new one within a minute (sessions end, nothing worse)."""
    cached = _secrets.get(store)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    for _ in range(3):
        fresh = secrets.token_hex(32)
        value = fresh if await store.kv_set(layout.ADMIN_SESSION_SECRET, fresh, None, only_if_absent=True) \
            else await store.kv_get(layout.ADMIN_SESSION_SECRET)
        if value:
            secret = value.encode()
            _secrets[store] = (time.monotonic() + SECRET_CACHE_SECONDS, secret)
            return secret
    raise StoreUnavailable("the admin session secret could not be created or read")


def _signing_key(secret: bytes, key_digest: bytes) -> bytes:
    return hmac.new(secret, b"admin-session:" + key_digest, hashlib.sha256).digest()


async def _cookie_session(gateway: Gateway, runtime: Runtime, headers: Headers) -> _Session | None:
    """The valid, unexpired, not logged-out session of the request's cookie, else None."""
    value = cookie_parser(headers.get("cookie", "")).get(COOKIE)
    match = _COOKIE.fullmatch(value) if value else None
    if match is None:
        return None
    key_id, expires_text, nonce, mac = match.groups()
    key_digest = _admin_digests(runtime.table).get(key_id)
    expires, now = int(expires_text), _now()
    # A session outliving today's ADMIN_SESSION_SECONDS (issued under a longer one) is refused too.
    if key_digest is None or not now < expires <= now + gateway.settings.admin_session_seconds + 60:
        return None
    session = _Session(key_id, expires, nonce, _signing_key(await _session_secret(gateway.store), key_digest))
    if not hmac.compare_digest(session.mac.encode(), mac.encode()):
        return None
    if await gateway.store.kv_get(layout.admin_revoked(nonce)) is not None:
        return None
    return session


def _origin_host(value: str) -> str:
    host = value.split("://", 1)[-1].lower()
    for default in (":443", ":80"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


def _check_csrf(headers: Headers, session: _Session) -> None:
    """A cookie-authenticated write needs the session's CSRF token, and no foreign ``Origin``."""
    token = headers.get("x-csrf-token", "")
    if not hmac.compare_digest(token.encode("latin-1", "replace"), session.csrf_token.encode()):
        raise GatewayError(403, "This request needs the X-CSRF-Token header from the login or session answer.", code="csrf_failed")
    origin = headers.get("origin")
    if origin is not None:
        own = {_origin_host(h) for h in (headers.get("host"), headers.get("x-forwarded-host")) if h}
        if _origin_host(origin) not in own:
            raise GatewayError(403, "Cross-origin admin requests are refused.", code="csrf_failed")


def _has_key(headers: Headers) -> bool:
    auth = headers.get("authorization") or ""
    return bool(auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip())


async def _identify(gateway: Gateway, runtime: Runtime, scope: Scope) -> tuple[AdminIdentity, _Session | None]:
    # Admin keys may live in the stored config, and an instance learns of a new version only on its next
    # admit: an admin key removed on another instance must stop working here at once (one store read,
    # on admin requests only; a store outage counts as "not stale").
    runtime = await gateway.current()
    _check_enabled(runtime, gateway.settings)
    headers = Headers(scope=scope)
    if _has_key(headers):  # a key that is sent decides alone: a bad one is not rescued by a cookie
        try:
            policy = gateway.authenticate(headers, runtime)
        except GatewayError:
            raise _auth_required() from None
        if policy.role != "admin":
            raise GatewayError(403, "This endpoint needs an admin key.", code="admin_only")
        return AdminIdentity(policy.key_id, "bearer"), None
    try:
        session = await _cookie_session(gateway, runtime, headers)
    except StoreUnavailable as exc:
        raise _store_down(exc) from None
    if session is None:
        raise _auth_required()
    if scope["method"] not in SAFE_METHODS:
        _check_csrf(headers, session)
    return AdminIdentity(session.key_id, "session"), session


async def require_admin(gateway: Gateway, runtime: Runtime, scope: Scope) -> AdminIdentity:
    """The admin behind a request, or a :class:`GatewayError`: 404 ``admin_disabled``, 401
    ``admin_auth_required``, 403 ``admin_only`` (a user key; the answer names nothing that
    exists), 403 ``csrf_failed``, 503 ``store_unavailable`` (a session cannot be checked)."""
    identity, _ = await _identify(gateway, runtime, scope)
    return identity


def client_address(scope: Scope, settings: Settings) -> str:
    """The address failed logins are counted under.

    The local door: the connection's peer (behind a reverse proxy of your own, that is the proxy,
    so all clients share one limit: the login page can then be locked for everyone, never opened).
    Serverless doors see their platform's front end, not the client, and trust what it says:

    * Lambda behind Mangum (Function URL, API Gateway): the ``client`` Mangum takes from the event's
      ``sourceIp``, which AWS sets. (A Function URL keeps only the *first* ``x-forwarded-for``
      entry, which the client may have written, so the header is used only when there is no
      ``sourceIp``, as under the Lambda Web Adapter.)
    * Vercel, Cloud Functions / Cloud Run, and that adapter: the *last* ``x-forwarded-for`` entry,
      the one the platform's own front end wrote (Vercel and Cloud Run replace the header with the
      client's address; a proxy that appends puts the address it saw last). The first entry would
      be whatever the client sent, i.e. a fresh limit per request for an attacker.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if settings.platform == "local" or (settings.platform == "lambda" and peer and peer not in LOOPBACK_HOSTS):
        address = peer
    else:
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        address = forwarded.rsplit(",", 1)[-1].strip() or peer
    return (address.lower()[:MAX_ADDRESS]) or "unknown"


def _login_checks(settings: Settings, address: str) -> tuple[LimitCheck, LimitCheck]:
    """(failures, attempts): failures are read before and counted after a wrong key; every attempt
    is also counted up front, atomically, against a looser cap, because reading and counting
    failures are two steps: a burst of parallel guesses would all read the same count."""
    windows = settings.admin_login_limit
    loose = tuple(Window(w.limit * ATTEMPTS_FACTOR, w.seconds) for w in windows)
    return (LimitCheck(layout.admin_login_bucket(address, True), windows),
            LimitCheck(layout.admin_login_bucket(address, False), loose))


async def _login_gate(gateway: Gateway, failures: LimitCheck, attempts: LimitCheck, request_id: str) -> None:
    """Raise 429 ``too_many_attempts`` when the address is over its limit (the key is then not even looked at)."""
    result = await gateway.store.admit(AdmitRequest(limits=[attempts], usage_reads=[failures], request_id=request_id))
    if result.allowed and failures.bucket not in result.at_limit:
        return
    # A full failure window frees its oldest slot within its length; the store reports no finer time.
    wait = result.retry_after if not result.allowed else max(w.seconds for w in failures.windows)
    seconds = max(1, math.ceil(wait))
    raise GatewayError(429, f"Too many failed admin logins from this address; try again in {seconds} s.",
                       code="too_many_attempts", headers={"retry-after": str(seconds)})


def _admin_policy(runtime: Runtime, key: str) -> str | None:
    """The key id of ``key`` if it is an admin key. Looked up by digest and confirmed with a
    constant-time compare, as for API keys; a user key and an unknown key take the same path."""
    d = digest(key)
    policy = runtime.table.keys.get(d)
    if policy is None or not hmac.compare_digest(policy.key_id, d.hex()[:16]) or policy.role != "admin":
        return None
    return policy.key_id


def _https(headers: Headers, scope: Scope) -> bool:
    """Over TLS: the connection's own scheme, or the TLS-terminating proxy's ``x-forwarded-proto``
    (a client faking it only makes its own cookie Secure)."""
    proto = headers.get("x-forwarded-proto", "").split(",", 1)[0].strip().lower()
    return scope.get("scheme") == "https" or proto == "https"


def _cookie_header(value: str, max_age: int, secure: bool) -> str:
    return f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


NO_STORE: Mapping[str, str] = {"cache-control": "no-store"}


async def login(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``POST /admin/api/login`` with ``{"key": "..."}``: a session cookie for an admin key."""
    from ..app import failed, parse_json, read_body, trace_of  # app.py loads the admin package lazily

    trace = trace_of(scope)
    settings = gateway.settings
    try:
        runtime = await gateway.current()
        _check_enabled(runtime, settings)
        address = client_address(scope, settings)
        failures, attempts = _login_checks(settings, address)
        await _login_gate(gateway, failures, attempts, trace.request_id)
        body = parse_json(await read_body(scope, receive, settings), settings.max_json_containers)
        key = body.get("key")
        if not isinstance(key, str) or not key.strip():
            raise GatewayError(400, "Send the admin key as {\"key\": \"...\"}.", param="key", code="missing_required_parameter")
        key_id = _admin_policy(runtime, key.strip())
        if key_id is None:
            await gateway.store.record_usage([failures], None, trace.request_id)
            log.warning("admin login refused (client %s)", address)
            raise GatewayError(401, "Incorrect admin key.", code="invalid_admin_key")
        trace.key_id = key_id
        try:
            secret = await _session_secret(gateway.store)
        except StoreUnavailable as exc:
            raise _store_down(exc) from None
        lifetime = settings.admin_session_seconds
        signing_key = _signing_key(secret, _admin_digests(runtime.table)[key_id])
        session = _Session(key_id, int(_now()) + lifetime, secrets.token_urlsafe(18), signing_key)
        headers = {**NO_STORE, "set-cookie": _cookie_header(session.cookie, lifetime, _https(Headers(scope=scope), scope))}
        log.info("admin login: key %s (client %s)", key_id, address)
        answer = session.answer()
        del answer["via"]
        return JSONResponse(answer, headers=headers)
    except GatewayError as exc:
        return failed(trace, exc)


async def logout(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``POST /admin/api/logout``: revoke the cookie's session in the store and clear the cookie.
    Without a valid session there is nothing to revoke: still 204, the cookie cleared."""
    try:
        runtime = await gateway.current()
        _check_enabled(runtime, gateway.settings)
        headers = Headers(scope=scope)
        try:
            session = await _cookie_session(gateway, runtime, headers)
            if session is not None:
                _check_csrf(headers, session)
                ttl = max(1, session.expires - math.floor(_now()))
                await gateway.store.kv_set(layout.admin_revoked(session.nonce), "1", ttl)
        except StoreUnavailable as exc:
            raise _store_down(exc) from None
        return Response(status_code=204, headers={**NO_STORE, "set-cookie": _cookie_header("", 0, _https(headers, scope))})
    except GatewayError as exc:
        return _error(exc)


async def session(gateway: Gateway, scope: Scope, receive: Receive) -> Response:
    """``GET /admin/api/session``: who is logged in, until when, and the CSRF token (a reloaded page
    regains it here). With a Bearer key: the key id, and null for what only sessions have."""
    try:
        runtime = await gateway.ready()
        identity, current = await _identify(gateway, runtime, scope)
    except GatewayError as exc:
        return _error(exc)
    answer = current.answer() if current is not None else {"key_id": identity.key_id, "expires_at": None, "csrf_token": None,
                                                             "via": identity.via}
    return JSONResponse(answer, headers=dict(NO_STORE))
