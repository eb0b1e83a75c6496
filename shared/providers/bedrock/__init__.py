"""AWS Bedrock runtime (wire-formats-2 section 5): OpenAI chat through Converse / ConverseStream, signed
with SigV4.

``POST {base}/model/{modelId}/converse`` (or ``/converse-stream``, an ``application/vnd.amazon.eventstream``
body), ``base`` = ``https://bedrock-runtime.{region}.amazonaws.com`` by default. One module per job:
:mod:`.request` (OpenAI -> Converse), :mod:`.response` (Converse -> OpenAI), :mod:`.stream` (event
stream -> chunks), :mod:`.eventstream` (the binary framing), :mod:`.sigv4` (signing), :mod:`.errors`.
Converse serves every Bedrock chat model, Claude included, so InvokeModel is not used.

Credentials: each ``aws_access_key``/``aws_secret_key`` pair (optional ``aws_session_token``) is one
credential, rotated and cooled down like an API key; ``api`` keys are Bedrock API keys (sent as
``Authorization: Bearer``, no signing). With neither, the environment's credentials sign, read at
request time (:func:`environment_credentials`).

The model id goes in the path with ``:`` left raw (``…-v1:0``) and everything else outside
``A-Za-z0-9-_.~`` percent-encoded (``/`` in an ARN -> ``%2F``), the Anthropic SDK's spelling, which
AWS accepts like botocore's ``%3A``: the HTTP transport (aiohttp/yarl) rewrites ``%3A`` to ``:`` on
the wire, and the signature has to cover the path actually sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ...credentials import Credential, api_keys, with_parts
from ..base import BaseAdapter, OutboundRequest, ParsedResponse, StreamContext, UpstreamError, UpstreamRequest, dumps, loads
from . import sigv4
from .errors import parse_error
from .request import to_converse
from .response import from_converse
from .stream import ConverseStream

if TYPE_CHECKING:
    from ...config.schema import ProviderConfig
    from ...routing import Channel

KIND = "aws"
RUNTIME_PREFIXES = ("bedrock-runtime.", "bedrock-runtime-fips.")


def region_of(config: Any) -> str | None:
    """``region``, else the one in a ``bedrock-runtime.<region>.amazonaws.com`` base_url."""
    if config.region:
        return str(config.region)
    host = (urlsplit(config.base_url or "").hostname or "").lower()
    for prefix in RUNTIME_PREFIXES:
        if host.startswith(prefix) and ".amazonaws.com" in host:
            region = host[len(prefix):].split(".", 1)[0]
            return region or None
    return None


def api_root(config: Any) -> str:
    return (config.base_url or f"https://bedrock-runtime.{region_of(config)}.amazonaws.com").rstrip("/")


def model_url(config: Any, model: str, stream: bool) -> str:
    return f"{api_root(config)}/model/{quote(model, safe=':')}/{'converse-stream' if stream else 'converse'}"


def _listed(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"{name}: expected a string or a list of non-empty strings")
    return list(items)


def key_pairs(config: Any) -> list[tuple[str, str, str]]:
    """``(access key, secret key, session token)`` per configured pair; ValueError when they do not pair up."""
    access = _listed(config.aws_access_key, "aws_access_key")
    secret = _listed(config.aws_secret_key, "aws_secret_key")
    tokens = _listed(config.aws_session_token, "aws_session_token")
    if len(access) != len(secret):
        raise ValueError(f"aws_access_key and aws_secret_key come in pairs: {len(access)} access key(s), {len(secret)} secret key(s)")
    if tokens and len(tokens) != len(access):
        raise ValueError("aws_session_token: give one per key pair (or none)")
    return [(a, s, tokens[i] if tokens else "") for i, (a, s) in enumerate(zip(access, secret, strict=True))]


def environment_credentials() -> tuple[str, str, str] | None:
    """The environment's AWS credentials: on Lambda, the function's IAM role.

    Settings is otherwise the only reader of ``os.environ``; these are read here, on every signed
    request, on purpose: Lambda rotates the role's temporary credentials under a running function,
    so a copy taken at start (or cached) would expire. Three dictionary reads cost nothing.
    """
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        return None
    return access, secret, os.environ.get("AWS_SESSION_TOKEN", "")


class BedrockAdapter(BaseAdapter):
    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        problems = []
        if region_of(provider) is None:
            problems.append(("region", "Bedrock needs region, or a base_url https://bedrock-runtime.<region>.amazonaws.com"))
        try:
            key_pairs(provider)
        except ValueError as exc:
            problems.append(("aws_access_key", str(exc)))
        if provider.model is None:
            problems.append(("model", "Bedrock needs its model list (the runtime has no model listing)"))
        return problems

    def credentials(self, provider: ProviderConfig) -> tuple[Credential, ...]:
        pairs = key_pairs(provider)
        if pairs:
            return tuple(with_parts(provider.provider, KIND, access_key=a, secret_key=s, session_token=t) for a, s, t in pairs)
        return api_keys(provider.provider, tuple(provider.api))  # Bedrock API keys; none: the environment's credentials

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        payload = to_converse(body, channel.upstream_model)
        url = model_url(channel.provider.config, channel.upstream_model, stream)
        headers = {"content-type": "application/json"}
        if stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        return UpstreamRequest(url, headers, payload)

    async def finalize(self, request: OutboundRequest, channel: Channel, credential: Credential | None) -> OutboundRequest:
        """SigV4 over the exact bytes and headers sent (a configured ``Authorization`` is left alone)."""
        if any(name.lower() == "authorization" for name in request.headers):
            return request
        if credential is not None and credential.kind != KIND:
            request.headers["authorization"] = f"Bearer {credential.secret}"
            return request
        if credential is not None:
            parts = credential.parts
            access, secret, token = parts.get("access_key", ""), parts.get("secret_key", ""), parts.get("session_token", "")
        else:
            found = environment_credentials()
            if found is None:
                raise UpstreamError(500, f"provider {channel.provider.name!r}: no AWS credentials (set aws_access_key/aws_secret_key, "
                                         "or run with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, e.g. a Lambda role)")
            access, secret, token = found
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers["host"] = sigv4.host_of(request.url)
        headers.update(sigv4.sign(request.method, request.url, headers, request.content, access_key=access, secret_key=secret,
                                  session_token=token, region=region_of(channel.provider.config) or ""))
        request.headers = headers
        return request

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        try:
            obj = loads(data)
        except ValueError:
            raise UpstreamError(502, "Bedrock answered 200 with a body that is not JSON", "server_error") from None
        out = from_converse(obj, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: Channel, ctx: StreamContext) -> ConverseStream:
        return ConverseStream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return parse_error(status, data, headers)


adapter = BedrockAdapter()
__all__ = ["BedrockAdapter", "ConverseStream", "adapter", "api_root", "environment_credentials", "from_converse", "key_pairs",
           "model_url", "parse_error", "region_of", "to_converse"]
