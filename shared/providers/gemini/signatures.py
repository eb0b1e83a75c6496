"""Thought signatures <-> OpenAI tool call ids.

Gemini 3 rejects a replayed ``functionCall`` part without the ``thoughtSignature`` it came with,
and OpenAI clients keep only a tool call's ``id``, ``name`` and ``arguments``; so the signature
rides in the id (``call_<24 hex>_ts_<base64url signature>``): :func:`tool_call_id` writes it when
translating an answer, :func:`signature_of` reads it back when the history returns.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

# Google documents this value for function calls that have no signature of their own (history
# written by the client or by another provider); without it Gemini 3 answers 400.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_OUR_ID = re.compile(r"^call_[0-9a-f]{24}_ts_([A-Za-z0-9_-]+)$")


def tool_call_id(basis: str, index: int, signature: str | None) -> str:
    """A stable OpenAI tool call id for the ``index``-th call of one response, carrying its signature."""
    digest = hashlib.sha256(f"{basis}\x00{index}".encode("utf-8", "surrogatepass")).hexdigest()[:24]
    call_id = f"call_{digest}"
    if signature:
        call_id += "_ts_" + signature.replace("+", "-").replace("/", "_").rstrip("=")
    return call_id


def signature_of(tool_call: Mapping[str, Any]) -> str | None:
    """The thought signature a client sent back: Gemini's OpenAI-compat field, else our id."""
    extra = tool_call.get("extra_content")
    if isinstance(extra, dict):
        google = extra.get("google")
        signature = google.get("thought_signature") if isinstance(google, dict) else None
        if isinstance(signature, str):
            return signature
    call_id = tool_call.get("id")
    match = _OUR_ID.match(call_id) if isinstance(call_id, str) else None
    if not match:
        return None
    raw = match.group(1).replace("-", "+").replace("_", "/")
    return raw + "=" * (-len(raw) % 4)
