"""AWS Signature Version 4 for one request (wire-formats-2 5.9), stdlib only (no botocore: cold start).

:func:`sign` returns the headers to add (``x-amz-date``, ``x-amz-security-token`` with temporary
credentials, ``authorization``). It signs every header present (except the hop-by-hop and tracing
ones botocore leaves out) and the exact body bytes, so it must run last, on what is sent.

The canonical URI is the path *as sent* (already percent-encoded once), encoded again, keeping only
``A-Za-z0-9-_.~`` and ``/``: what AWS does for every service but S3 ("double encoding").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "bedrock"  # the signing name of bedrock-runtime
UNSIGNED = frozenset({"user-agent", "expect", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                      "proxy-authenticate", "proxy-authorization", "x-amzn-trace-id", "traceparent", "tracestate", "baggage",
                      "authorization", "content-length"})


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str = SERVICE) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_uri(path: str) -> str:
    segments = [s for s in path.split("/") if s not in ("", ".")]
    return "/" + "/".join(quote(s, safe="-_.~") for s in segments) + ("/" if path.endswith("/") and segments else "")


def canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        pairs.append((quote(name, safe="-_.~%"), quote(value, safe="-_.~%")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """``(canonical request, signed header names)``."""
    parts = urlsplit(url)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in UNSIGNED:
            lowered[key] = " ".join(str(value).split())
    names = sorted(lowered)
    signed = ";".join(names)
    block = "".join(f"{n}:{lowered[n]}\n" for n in names)
    payload_hash = lowered.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    text = "\n".join([method.upper(), canonical_uri(parts.path or "/"), canonical_query(parts.query), block, signed, payload_hash])
    return text, signed


def host_of(url: str) -> str:
    """The ``Host`` header an HTTP client sends for ``url`` (port only when not the scheme's default)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port is None or parts.port == default else f"{host}:{parts.port}"


def sign(method: str, url: str, headers: Mapping[str, str], body: bytes, *, access_key: str, secret_key: str,
         region: str, session_token: str = "", service: str = SERVICE, now: datetime | None = None) -> dict[str, str]:
    """The headers to add to ``headers`` (which must include ``host``) so that AWS accepts the request."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    added = {"x-amz-date": amz_date}
    if session_token:
        added["x-amz-security-token"] = session_token
    merged = {k: v for k, v in headers.items() if k.lower() not in added}
    merged.update(added)
    request, signed = canonical_request(method, url, merged, body)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    added["authorization"] = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return added
