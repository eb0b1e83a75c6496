"""Upstream text made safe to show a client: no key material, no internal address.

Upstream error messages are passed on (they often say what is wrong with the request), but
providers echo keys, whole or partly masked (``Incorrect API key provided: sk-proj-****1234``), and
transport errors name the upstream's ``host:port``. :func:`scrub` removes what looks like either;
:meth:`Provider.mask <shared.routing.Provider.mask>` (exact keys) runs before it. The log keeps the
masked but unscrubbed text, so an operator still sees which host failed.

Patterns, in order: URLs; ``Bearer`` values; OpenAI-style (``sk-``, ``pk-``, ``rk-``) and Google
(``AIza``) keys, whole or partly masked; any word masked with ``***``; runs of 24+ letters and
digits mixing both (hex and base64 tokens; model names and paths are split by ``-``, ``.`` and
``/`` into shorter runs, so they stay); ``host:port``; IPv4 and IPv6 addresses; the upstream's own
host names, given by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
ADDRESS = "[address]"

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_SECRET = re.compile(
    r"\bBearer\s+[^\s,;'\"]+"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_\-.*…]{3,}"
    r"|\bAIza[A-Za-z0-9_\-*]{4,}"
    r"|[A-Za-z0-9_\-.]*\*{3,}[A-Za-z0-9_\-.]*",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*[0-9])(?=[0-9]*[A-Za-z])[A-Za-z0-9]{24,}(?![A-Za-z0-9])")
_HOST_PORT = re.compile(
    r"(?:\b(?:\d{1,3}\.){3}\d{1,3}|\blocalhost|\[[0-9A-Fa-f:.]+\]|\b(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,63}):\d{1,5}\b"
)
_IP = re.compile(
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}(?![\w:])"
    r"|(?<![\w:])[0-9A-Fa-f:]*::[0-9A-Fa-f:]*[0-9A-Fa-f](?![\w:])"
)


def scrub(text: str, hosts: Iterable[str] = ()) -> str:
    """``text`` without key-like tokens and internal addresses (for messages sent to clients)."""
    text = _URL.sub("[url]", text)
    text = _SECRET.sub(REDACTED, text)
    text = _TOKEN.sub(REDACTED, text)
    text = _HOST_PORT.sub(ADDRESS, text)
    text = _IP.sub(ADDRESS, text)
    for host in hosts:
        if host and host in text:
            text = text.replace(host, ADDRESS)
    return text


__all__ = ["ADDRESS", "REDACTED", "scrub"]
