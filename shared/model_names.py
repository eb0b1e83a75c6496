"""uni-api's model-name conventions: what an alias asks for, beyond the model itself.

* A Claude alias containing ``think`` (``claude-sonnet-4-5-think``) turns extended thinking on, with
  the budget of a trailing ``-N`` (``…-think-8192``), else 4096 tokens.
* A Gemini alias with ``-think-N`` (``gemini-2.5-flash-think-24576-search``) sets the thinking budget;
  ``-think-0`` turns thinking off. (``-search`` itself asks for nothing: the search tools come from the
  alias' ``post_body_parameter_overrides``, as in uni-api.)

Each returns the request fields the alias implies, in the gateway's own (OpenAI-side) form: a
native ``thinking`` object that both the Anthropic and the Gemini translators read. The adapters of
the engines concerned pick the convention (``BaseAdapter.implied_fields``); a client that sends its
own ``thinking`` or ``reasoning_effort`` wins over the name.
"""

from __future__ import annotations

import re
from typing import Any

CLAUDE_THINKING_BUDGET = 4096  # uni-api's default budget for a "think" alias
_TRAILING_NUMBER = re.compile(r"-(\d+)$")
_GEMINI_THINK = re.compile(r"-think-(\d+)(?:-|$)")


def claude_thinking(alias: str) -> dict[str, Any]:
    if "think" not in alias.lower():
        return {}
    number = _TRAILING_NUMBER.search(alias)
    budget = int(number.group(1)) if number else CLAUDE_THINKING_BUDGET
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def gemini_thinking(alias: str) -> dict[str, Any]:
    match = _GEMINI_THINK.search(alias.lower())
    if match is None:
        return {}
    budget = int(match.group(1))
    return {"thinking": {"type": "enabled", "budget_tokens": budget} if budget else {"type": "disabled"}}


# The fields a client sends to choose thinking itself; any of them and the alias implies nothing.
CLIENT_CHOICE = ("thinking", "reasoning_effort")

__all__ = ["CLAUDE_THINKING_BUDGET", "CLIENT_CHOICE", "claude_thinking", "gemini_thinking"]
