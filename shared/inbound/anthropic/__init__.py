"""Anthropic's Messages API as an inbound protocol: Anthropic's SDKs and Claude Code, pointed at the
gateway with ``ANTHROPIC_BASE_URL``, reach every configured upstream (wire-formats-2.md section 2).

One module per job: :mod:`.routes` (the two endpoints), :mod:`.operation` (how a request layers on
the adapters: natively where the channel speaks Anthropic, through its chat translation elsewhere),
:mod:`.request` (body checks, Anthropic -> OpenAI chat), :mod:`.response` (OpenAI -> Anthropic
message), :mod:`.stream` (OpenAI chunks -> Anthropic events), :mod:`.native` (answers of channels
that speak Anthropic), :mod:`.errors` (Anthropic's error shape) and :mod:`.tokens` (the
``count_tokens`` estimate). ``shared/app.py`` imports :mod:`.routes` on the first request to one
of its endpoints, so a deployment that never sees an Anthropic client never loads any of it.
"""

from __future__ import annotations

from .errors import ERROR_TYPES, error_event, error_response, error_type
from .native import Passthrough, passthrough_message
from .operation import CountTokens, Messages, forwarded_headers
from .request import EFFORT_BUDGETS, check_body, to_openai
from .response import STOP_REASONS, anthropic_usage, from_openai, stop_reason_of
from .stream import EventWriter, Translated, event
from .tokens import estimate_tokens

__all__ = [
    "EFFORT_BUDGETS", "ERROR_TYPES", "STOP_REASONS", "CountTokens", "EventWriter", "Messages", "Passthrough", "Translated",
    "anthropic_usage", "check_body", "error_event", "error_response", "error_type", "estimate_tokens", "event",
    "forwarded_headers", "from_openai", "passthrough_message", "stop_reason_of", "to_openai",
]
