"""OpenAI chat body -> Anthropic Messages body: :func:`to_anthropic` and its top-level fields.

``max_tokens`` (defaulted, and covering the thinking budget), ``thinking`` from
``reasoning_effort``, sampling parameters, stop sequences, ``response_format`` as a system
instruction, ``tools`` and ``tool_choice``, plus the refusals of what cannot be translated. The
messages themselves are :mod:`.messages`' job; ``model`` and ``stream`` are the caller's.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import invalid
from .messages import translate_messages

# Anthropic requires max_tokens; 4096 is accepted by every Claude model (claude-3-haiku's ceiling).
DEFAULT_MAX_TOKENS = 4096
# With thinking on and no max_tokens given, the answer still gets this much room after the budget.
ANSWER_ROOM = 4096
MIN_THINKING_BUDGET = 1024

# reasoning_effort -> thinking.budget_tokens (gateway policy, providers.md 9.1). "none" = no thinking.
# The top value plus ANSWER_ROOM stays within the 32k output ceiling of the Opus 4 models.
THINKING_BUDGETS: dict[str, int | None] = {
    "none": None,
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 28672,
}

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose before or after it and no Markdown code fences."
)
JSON_SCHEMA_INSTRUCTION = (
    "Respond with a single JSON value that conforms to the following JSON Schema, and nothing else: "
    "no prose before or after it and no Markdown code fences.\nSchema{name}:\n{schema}"
)


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic Messages body for an OpenAI chat body, without ``model`` and ``stream``."""
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise invalid("n > 1 is not supported by Anthropic models; send one request per choice")
    if body.get("functions") or body.get("function_call"):
        raise invalid("'functions' and 'function_call' are deprecated and not translated for Anthropic; use 'tools'")

    system, messages = translate_messages(body.get("messages") or [])
    system.extend(response_format_blocks(body.get("response_format")))
    tools = translate_tools(body.get("tools"))
    tools, tool_choice = translate_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), tools)
    forced_tool = bool(tool_choice and tool_choice["type"] in ("any", "tool"))

    requested = requested_max_tokens(body)
    thinking = thinking_for(body, requested, forced_tool)

    out: dict[str, Any] = {"max_tokens": max_tokens_for(requested, thinking)}
    if system:
        out["system"] = system_value(system)
    out["messages"] = messages
    if thinking is not None:
        out["thinking"] = thinking
    thinking_on = bool(thinking and thinking.get("type") != "disabled")
    if not thinking_on:  # sampling parameters are fixed while thinking (providers.md 2.9)
        if isinstance(body.get("temperature"), (int, float)):
            out["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
        if isinstance(body.get("top_p"), (int, float)):
            out["top_p"] = body["top_p"]
        if body.get("top_k") is not None:
            out["top_k"] = body["top_k"]
    stop = stop_sequences(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    if tools:
        out["tools"] = tools
        if tool_choice:
            out["tool_choice"] = tool_choice
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("output_config") is not None:
        out["output_config"] = body["output_config"]
    return out


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` over ``max_tokens`` (the newer field is the precise one)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"'{name}' must be a positive integer")
        return value
    return None


def thinking_for(body: dict[str, Any], requested: int | None, forced_tool: bool) -> dict[str, Any] | None:
    """The ``thinking`` object: a native one passed as is, else from ``reasoning_effort``.

    Forcing a tool and thinking cannot be combined on Anthropic; the forced tool wins because
    client code usually depends on getting that call. Like OpenAI's ``max_completion_tokens``,
    ``max_tokens`` covers thinking, so the budget is cut to fit below it; under 1024 (Anthropic's
    minimum) thinking is left off.
    """
    native = body.get("thinking")
    if isinstance(native, dict):
        return None if forced_tool and native.get("type") != "disabled" else native
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in THINKING_BUDGETS:
        raise invalid(f"unsupported reasoning_effort {effort!r}; expected one of {', '.join(THINKING_BUDGETS)}")
    budget = THINKING_BUDGETS[effort]
    if budget is None or forced_tool:
        return None
    if requested is not None:
        budget = min(budget, requested - 1)
    if budget < MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def max_tokens_for(requested: int | None, thinking: dict[str, Any] | None) -> int:
    if requested is not None:
        return requested
    budget = thinking.get("budget_tokens") if thinking else None
    if isinstance(budget, int) and thinking and thinking.get("type") == "enabled":
        return budget + ANSWER_ROOM
    return DEFAULT_MAX_TOKENS


def system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A plain string unless a block carries ``cache_control`` (which only the list form can hold)."""
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def stop_sequences(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def response_format_blocks(fmt: Any) -> list[dict[str, Any]]:
    """JSON modes as a system instruction: works on every Claude model (native structured output,
    ``output_config.format``, only on some; clients can send that through ``extra_body``)."""
    if not isinstance(fmt, dict):
        return []
    if fmt.get("type") == "json_object":
        return [{"type": "text", "text": JSON_OBJECT_INSTRUCTION}]
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        name = f" ({spec['name']})" if spec.get("name") else ""
        schema = json.dumps(spec.get("schema") or {}, ensure_ascii=False)
        return [{"type": "text", "text": JSON_SCHEMA_INSTRUCTION.format(name=name, schema=schema)}]
    return []


# -- tools


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(tool.get("function"), dict):
            raise invalid(f"tools[{i}]: only function tools can be sent to an Anthropic model")
        fn = tool["function"]
        if not fn.get("name"):
            raise invalid(f"tools[{i}]: function.name is required")
        schema = dict(fn.get("parameters") or {"type": "object", "properties": {}})
        schema.setdefault("type", "object")
        entry: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            entry["description"] = fn["description"]
        entry["input_schema"] = schema
        if isinstance(tool.get("cache_control"), dict):
            entry["cache_control"] = tool["cache_control"]
        out.append(entry)
    return out


def translate_tool_choice(choice: Any, parallel: Any, tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``(tools, tool_choice)``; ``allowed_tools`` narrows the tool list itself."""
    if not tools:
        return tools, None
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice in ("auto", "none"):
        result = {"type": choice}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise invalid("tool_choice.function.name is required")
        result = {"type": "tool", "name": name}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)}
        tools = [t for t in tools if t["name"] in names]
        result = {"type": "any" if allowed.get("mode") == "required" else "auto"}
    else:
        raise invalid(f"unsupported tool_choice {choice!r}")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tools, result
