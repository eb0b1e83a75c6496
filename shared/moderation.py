"""``ENABLE_MODERATION``: check what a request sends with a moderation model before answering.

The moderation model is one the key may use whose name contains ``moderation`` (e.g. the rule
``openai/text-moderation-latest``). It is called through the dispatcher like any request (the
``moderations`` operation), so it gets credential rotation, credential cooldowns and
``api_key_rate_limit``, retries on the next credential or channel, and only channels whose engine
serves moderations (OpenAI-compatible, Azure). It does not count against the key's own rate limit.

Every text the request sends is checked (system, developer, user and tool messages). A flagged
request is refused with 400 ``content_filter``; if the moderation call itself fails the request goes
ahead (fail open) and a warning is logged, so a moderation outage is not an outage.
A key whose moderation model no channel can serve gets 503 ``moderation_unavailable`` (a config
problem, said as such).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from .errors import GatewayError
from .operations import MODERATIONS
from .routing import KeyPolicy

if TYPE_CHECKING:
    from .dispatch import Dispatcher

log = logging.getLogger("gateway")

TIMEOUT = 10.0  # seconds: a moderation call that takes longer is skipped (fail open)


def moderation_model(policy: KeyPolicy) -> str | None:
    for name in policy.routes:
        if "moderation" in name:
            return name
    return None


MODERATED_ROLES = ("system", "developer", "user", "tool")  # what the client sends; assistant turns are the model's


def request_text(body: dict[str, Any]) -> str:
    """Every text the request sends (system, developer, user and tool messages, string content and
    text parts), one block per piece: a flagged instruction hidden in an earlier turn or a tool
    result is checked too, not only the last user message."""
    pieces: list[str] = []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict) or message.get("role") not in MODERATED_ROLES:
            continue
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(p["text"] for p in content
                          if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return "\n\n".join(p for p in pieces if p)


async def moderate(dispatcher: Dispatcher, policy: KeyPolicy, body: dict[str, Any]) -> None:
    """Raise 400 ``content_filter`` when the moderation model flags the request's text."""
    import asyncio

    model = moderation_model(policy)
    if model is None:
        raise GatewayError(503, "ENABLE_MODERATION is on for this key but it may use no moderation model; "
                                "add one to its model rules (e.g. 'openai/text-moderation-latest').", code="moderation_unavailable")
    if not dispatcher.candidates(policy, MODERATIONS, model):
        raise GatewayError(503, f"ENABLE_MODERATION is on for this key but its moderation model '{model}' is served only by "
                                "providers without a moderations endpoint; serve it from an OpenAI-compatible or Azure provider.",
                           code="moderation_unavailable")
    text = request_text(body)
    if not text:
        return
    try:
        async with asyncio.timeout(TIMEOUT):
            answer = await dispatcher.run(MODERATIONS, policy, {"model": model, "input": text}, model, time.perf_counter(), counted=False)
        result = json.loads(answer.body)["results"][0]
        if answer.after is not None:
            await answer.after()
    except GatewayError as exc:
        if exc.code == "config_changed":  # not a moderation failure: the whole request runs again on the new config
            raise
        log.warning("moderation call failed (HTTP %s: %s); request allowed", exc.status, exc.message)
        return
    except (TimeoutError, ValueError, LookupError, TypeError) as exc:
        log.warning("moderation call failed (%s); request allowed", type(exc).__name__)
        return
    if isinstance(result, dict) and result.get("flagged"):
        categories = sorted(k for k, v in (result.get("categories") or {}).items() if v)
        raise GatewayError(400, f"The request was flagged by the moderation model ({', '.join(categories) or 'flagged'}).",
                           code="content_filter", param="messages")
