"""Request filters of a provider: which requests a channel must not be sent.

uni-api's ``exclude_endpoints``, ``only_request_types`` / ``exclude_request_types``,
``exclude_request_rules`` and ``preferences.max_request_body_bytes``. They are compiled once per
provider into a :class:`ChannelFilter`; a provider without any has none, and the dispatcher then
does no work for it. A refused channel is skipped like a channel without a usable key: the request
goes to the next candidate, and is refused (without any upstream call) when none is left.

Endpoints are request paths, compared without a leading ``/v1`` and a trailing slash and without
regard to case (``/v1/responses/compact`` = ``/responses/compact``), so a filter names the path the
client called whatever endpoint it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The request types a filter may name (uni-api's); a type is what a request does, whatever its endpoint.
REQUEST_TYPES = ("compaction",)
# Fields of a rule's ``match`` that are not request body fields.
RULE_FIELDS = ("endpoint", "request_model", "upstream_model", "request_type")

_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b|bytes?)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1}
for _i, _p in enumerate("kmgt", start=1):
    _UNITS.update({_p: 1000**_i, f"{_p}b": 1000**_i, f"{_p}i": 1024**_i, f"{_p}ib": 1024**_i})


def parse_bytes(value: Any) -> int:
    """``20000000``, ``"20MB"`` (10^6) or ``"20MiB"`` (2^20) as a positive number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a number of bytes such as 20000000, '20MB' or '20MiB'")
    if isinstance(value, (int, float)):
        size = int(value)
    else:
        match = _BYTES.match(str(value).strip().replace("_", ""))
        if match is None:
            raise ValueError(f"expected a number of bytes such as 20000000, '20MB' or '20MiB', got {value!r}")
        size = int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])
    if size <= 0:
        raise ValueError("expected a positive number of bytes")
    return size


def endpoint_key(path: str) -> str:
    """A request path as filters compare it: lower case, no trailing slash, no leading ``/v1``."""
    path = "/" + path.strip().strip("/").lower()
    return path[3:] or "/" if path == "/v1" or path.startswith("/v1/") else path


def request_type(path: str, body: Mapping[str, Any]) -> str | None:
    """``compaction`` for ``/responses/compact``, or a Responses input holding a ``compaction_trigger``."""
    if endpoint_key(path).endswith("/responses/compact"):
        return "compaction"
    items = body.get("input")
    if isinstance(items, list) and any(isinstance(i, dict) and i.get("type") == "compaction_trigger" for i in items):
        return "compaction"
    return None


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """uni-api's estimate for ``<N>/tpr``: a token per 4 characters of the messages' text."""
    chars = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return chars // 4


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip().lower() or None


def _matches(patterns: tuple[str, ...], actual: str | None) -> bool:
    """A pattern is a value, ``*`` (anything present) or a prefix ending in ``*``."""
    if actual is None:
        return False
    return any(p == "*" or (p.endswith("*") and actual.startswith(p[:-1])) or p == actual for p in patterns)


@dataclass(frozen=True)
class Request:
    """What filters look at, computed once per request."""

    path: str  # endpoint_key of the request path
    model: str  # the model the client asked for
    body: Mapping[str, Any]
    size: int | None  # bytes of the client's body, when known
    type: str | None
    tokens: int = 0  # estimated prompt tokens (estimate_tokens), for "<N>/tpr"


@dataclass(frozen=True)
class Rule:
    match: tuple[tuple[str, tuple[str, ...]], ...]  # field -> patterns, every field must match
    reason: str

    def applies(self, request: Request, upstream_model: str) -> bool:
        for name, patterns in self.match:
            if name == "endpoint":
                actual: str | None = request.path
            elif name == "request_model":
                actual = request.model.lower()
            elif name == "upstream_model":
                actual = upstream_model.lower()
            elif name == "request_type":
                actual = request.type
            elif name == "reasoning_effort":
                effort = request.body.get("reasoning_effort")
                reasoning = request.body.get("reasoning")
                if effort is None and isinstance(reasoning, dict):
                    effort = reasoning.get("effort")
                actual = _text(effort)
            else:
                actual = _text(request.body.get(name))
            if not _matches(patterns, actual):
                return False
        return True


@dataclass(frozen=True)
class ChannelFilter:
    provider: str
    max_body: int | None = None
    endpoints: frozenset[str] = frozenset()
    only_types: frozenset[str] = frozenset()
    exclude_types: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = ()
    max_tokens: int | None = None  # the channel's "<N>/tpr" in api_key_rate_limit

    def refuses(self, request: Request, upstream_model: str) -> str | None:
        """Why this channel must not get the request, or None."""
        if self.max_body is not None and request.size is not None and request.size > self.max_body:
            return f"{self.provider}: the request body ({request.size} bytes) is over its max_request_body_bytes ({self.max_body})"
        if self.max_tokens is not None and request.tokens > self.max_tokens:
            return (f"{self.provider}: the request's estimated {request.tokens} tokens are over its api_key_rate_limit "
                    f"of {self.max_tokens}/tpr")
        if request.path in self.endpoints:
            return f"{self.provider}: exclude_endpoints lists {request.path}"
        if self.only_types and request.type not in self.only_types:
            return f"{self.provider}: only_request_types is {', '.join(sorted(self.only_types))}"
        if request.type is not None and request.type in self.exclude_types:
            return f"{self.provider}: exclude_request_types lists {request.type}"
        for rule in self.rules:
            if rule.applies(request, upstream_model):
                return f"{self.provider}: exclude_request_rules matched ({rule.reason})"
        return None


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value
    if not isinstance(items, list) or not all(isinstance(i, (str, int, float)) and not isinstance(i, bool) and str(i).strip()
                                              for i in items):
        raise ValueError(f"expected {what} or a list of them")
    return tuple(str(i).strip() for i in items)


def compile_filter(name: str, places: list[Mapping[str, Any]]) -> ChannelFilter | None:
    """A provider's filter from its fields and its ``preferences`` (uni-api reads both); None when it has none."""
    def joined(field: str) -> tuple[Any, ...]:
        return tuple(x for place in places for x in place.get(field) or ())

    sizes = [place["max_request_body_bytes"] for place in places if place.get("max_request_body_bytes") is not None]
    built = ChannelFilter(name, min(sizes) if sizes else None, frozenset(joined("exclude_endpoints")),
                          frozenset(joined("only_request_types")), frozenset(joined("exclude_request_types")),
                          joined("exclude_request_rules"))
    return None if built == ChannelFilter(name) else built


def endpoints(value: Any) -> tuple[str, ...]:
    return tuple(endpoint_key(p) for p in _strings(value, "a request path such as /v1/responses/compact"))


def request_types(value: Any) -> tuple[str, ...]:
    out = tuple(t.lower() for t in _strings(value, "a request type"))
    for t in out:
        if t not in REQUEST_TYPES:
            raise ValueError(f"unknown request type {t!r}; expected one of {', '.join(REQUEST_TYPES)}")
    return out


def rules(value: Any) -> tuple[Rule, ...]:
    """``[{match: {field: value | [values]}, reason: text}]``: a rule applies when every field matches."""
    if value is None:
        return ()
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise ValueError("expected a list of {match: {field: value}, reason: text} rules")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("match"), dict) or not item["match"]:
            raise ValueError(f"rule {i}: expected {{match: {{field: value or [values]}}, reason: text}} with at least one field")
        extra = set(item) - {"match", "reason"}
        if extra:
            raise ValueError(f"rule {i}: unknown field {sorted(extra)[0]!r}; a rule has 'match' and 'reason'")
        match = []
        for name, expected in item["match"].items():
            patterns = _strings(expected, f"rule {i}: {name}: a value")
            if name == "endpoint":
                patterns = tuple(endpoint_key(p) if p != "*" else p for p in patterns)
            elif name == "request_type":
                patterns = request_types(list(patterns))
            else:
                patterns = tuple(p.lower() for p in patterns)
            match.append((str(name), patterns))
        out.append(Rule(tuple(match), str(item.get("reason") or f"rule {i}")))
    return tuple(out)


__all__ = ["REQUEST_TYPES", "ChannelFilter", "Request", "Rule", "compile_filter", "endpoint_key", "endpoints", "estimate_tokens",
           "parse_bytes", "request_type", "request_types", "rules"]
