"""OAuth2 access tokens for Vertex AI from a service account, cached per account.

Why this shape:

* google-auth is imported on the first token request only, so instances that never use Vertex
  never pay for importing it (it and its crypto backend are the slowest imports we have).
* ``Credentials.refresh`` is a blocking HTTP call (sign a JWT, POST it to the token endpoint);
  it runs in a worker thread so the event loop keeps serving other requests.
* Tokens live about an hour. One is kept in memory per account and reused until
  ``REFRESH_MARGIN`` seconds before it expires; concurrent requests for the same account share
  one refresh (one task per event loop, and a thread lock around the refresh itself, because
  serverless adapters may run invocations on different loops).
* The refresh goes through a small stdlib ``urllib`` transport instead of
  ``google.auth.transport.requests``, so the runtime does not need the ``requests`` package.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from .base import UpstreamError

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
REFRESH_MARGIN = 300.0  # seconds before expiry at which a token is no longer handed out
TOKEN_TIMEOUT = 30.0


def _clock() -> float:
    """Wall clock in seconds; tests replace it to move time forward."""
    return time.time()


@dataclass(frozen=True)
class ServiceAccount:
    client_email: str
    private_key: str
    project_id: str = ""
    token_uri: str = DEFAULT_TOKEN_URI
    private_key_id: str = ""

    @property
    def cache_key(self) -> str:
        secret = hashlib.sha256(self.private_key.encode()).hexdigest()[:16]
        return f"{self.client_email}\x00{self.token_uri}\x00{secret}"

    def info(self) -> dict[str, Any]:
        """The dict ``from_service_account_info`` takes (the fields of a JSON key file)."""
        info = {"type": "service_account", "client_email": self.client_email, "private_key": self.private_key,
                "token_uri": self.token_uri, "project_id": self.project_id}
        if self.private_key_id:
            info["private_key_id"] = self.private_key_id
        return info


def service_account_of(config: Any) -> ServiceAccount:
    """The account of a provider config (``client_email``, ``private_key``, optional ``token_uri``).

    A key pasted from a JSON file into an environment variable often keeps its ``\\n`` escapes;
    they are turned back into newlines so the PEM parses.
    """
    email = getattr(config, "client_email", None)
    key = getattr(config, "private_key", None)
    if not email or not key:
        raise UpstreamError(500, f"provider {getattr(config, 'provider', '?')!r}: Vertex AI needs client_email and private_key "
                                 "(a service account key) to get an access token")
    if "\\n" in key and "\n" not in key:
        key = key.replace("\\n", "\n")
    return ServiceAccount(email, key, getattr(config, "project_id", None) or "",
                          getattr(config, "token_uri", None) or DEFAULT_TOKEN_URI)


class _Response:
    """``google.auth.transport.Response`` without the abstract base (duck-typed, read-only)."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.data = data


def _urllib_request() -> Any:
    """A ``google.auth.transport.Request`` on ``urllib`` (blocking; runs in a worker thread)."""
    import urllib.error
    import urllib.request

    from google.auth import exceptions, transport

    class UrllibRequest(transport.Request):
        def __call__(self, url: str, method: str = "GET", body: bytes | None = None, headers: Mapping[str, str] | None = None,
                     timeout: float | None = None, **kwargs: Any) -> _Response:
            request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
            try:
                with urllib.request.urlopen(request, timeout=timeout or TOKEN_TIMEOUT) as resp:
                    return _Response(resp.status, dict(resp.headers), resp.read())
            except urllib.error.HTTPError as exc:
                return _Response(exc.code, dict(exc.headers or {}), exc.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                error: Exception = exceptions.TransportError(f"token request failed: {type(exc).__name__}: {exc}")  # type: ignore[no-untyped-call]
                raise error from exc

    return UrllibRequest()


class TokenSource:
    """The cached access token of one service account."""

    def __init__(self, account: ServiceAccount) -> None:
        self.account = account
        self.token: str | None = None
        self.expires_at = 0.0
        self.refreshes = 0
        self._credentials: Any = None
        self._lock = threading.Lock()
        self._tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[str]] = {}

    def fresh(self) -> bool:
        return self.token is not None and _clock() < self.expires_at - REFRESH_MARGIN

    async def get(self) -> str:
        """A valid token; at most one refresh in flight per loop, waiters share its outcome."""
        if self.fresh():
            assert self.token is not None
            return self.token
        loop = asyncio.get_running_loop()
        task = self._tasks.get(loop)
        if task is None or task.done():
            for other in [lp for lp in self._tasks if lp.is_closed()]:
                del self._tasks[other]
            task = self._tasks[loop] = loop.create_task(asyncio.to_thread(self._refresh_blocking))
        # shield: a request that times out must not cancel the refresh the others wait for.
        return await asyncio.shield(task)

    def _refresh_blocking(self) -> str:
        with self._lock:
            if self.fresh():  # another loop's thread refreshed while we waited for the lock
                assert self.token is not None
                return self.token
            from google.auth import exceptions

            try:
                creds = self._credentials
                if creds is None:
                    from google.oauth2 import service_account

                    # google-auth's constructors are untyped; the result is typed Any here on purpose.
                    creds = self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                        self.account.info(), scopes=[SCOPE])
                creds.refresh(_urllib_request())
            except exceptions.RefreshError as exc:
                # The token endpoint refused the account (revoked key, wrong email): a key failure.
                raise UpstreamError(401, f"Vertex AI: the token endpoint refused service account "
                                         f"{self.account.client_email}: {_short(exc)}", "authentication_error") from None
            except exceptions.TransportError as exc:
                raise UpstreamError(502, f"Vertex AI: could not reach the token endpoint: {_short(exc)}") from None
            except (ValueError, TypeError, KeyError) as exc:  # a private key that does not parse
                raise UpstreamError(500, f"Vertex AI: service account {self.account.client_email} has an unusable "
                                         f"private_key ({type(exc).__name__})") from None
            self.refreshes += 1
            self.token = creds.token
            expiry = creds.expiry
            self.expires_at = expiry.replace(tzinfo=UTC).timestamp() if expiry is not None else _clock() + 3600
            return self.token


def _short(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text[:300]


_sources: dict[str, TokenSource] = {}
_sources_lock = threading.Lock()


def source_for(account: ServiceAccount) -> TokenSource:
    with _sources_lock:
        source = _sources.get(account.cache_key)
        if source is None:
            source = _sources[account.cache_key] = TokenSource(account)
        return source


async def access_token(config: Any) -> str:
    """The bearer token for a Vertex provider config (cached; refreshed shortly before expiry)."""
    return await source_for(service_account_of(config)).get()


def reset() -> None:
    """Forget every cached token (tests)."""
    with _sources_lock:
        _sources.clear()


__all__ = ["DEFAULT_TOKEN_URI", "REFRESH_MARGIN", "SCOPE", "ServiceAccount", "TokenSource", "access_token", "reset",
           "service_account_of", "source_for"]
