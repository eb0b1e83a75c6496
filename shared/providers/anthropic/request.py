"""OpenAI chat body -> Anthropic Messages body: :func:`to_anthropic` and its top-level fields.

``max_tokens`` (defaulted, and covering the thinking budget), ``thinking`` from
``reasoning_effort``, sampling parameters, stop sequences, ``response_format`` as a system
instruction, ``tools`` and ``tool_choice``, plus the refusals of what cannot be translated. The
messages themselves are :mod:`.messages`' job; ``model`` and ``stream`` are the caller's.
"""

from __future__ import annotations

import json
from typing import Any

from .. import fields
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
    """The Anthropic Messages body for an OpenAI chat body, without ``model`` and ``stream``.
    Every field read is checked: a wrong type or value is a 400 naming it."""
    fields.choices_of(body, "Anthropic")
    if body.get("functions") or body.get("function_call"):
        raise invalid("'functions' and 'function_call' are deprecated and not translated for Anthropic; use 'tools'",
                      "functions" if body.get("functions") else "function_call")

    system, messages = translate_messages(body.get("messages"))
    system.extend(response_format_blocks(body))
    tools = translate_tools(body)
    tools, tool_choice = translate_tool_choice(fields.tool_choice_of(body), fields.opt_bool(body.get("parallel_tool_calls"),
                                                                                            "parallel_tool_calls"), tools)
    forced_tool = bool(tool_choice and tool_choice["type"] in ("any", "tool"))

    requested = fields.max_tokens_of(body)
    thinking = thinking_for(body, requested, forced_tool)

    out: dict[str, Any] = {"max_tokens": max_tokens_for(requested, thinking)}
    if system:
        out["system"] = system_value(system)
    out["messages"] = messages
    if thinking is not None:
        out["thinking"] = thinking
    thinking_on = bool(thinking and thinking.get("type") != "disabled")
    temperature = fields.opt_number(body.get("temperature"), "temperature")
    top_p = fields.opt_number(body.get("top_p"), "top_p")
    top_k = fields.opt_int(body.get("top_k"), "top_k", minimum=0)
    if not thinking_on:  # sampling parameters are fixed while thinking (providers.md 2.9)
        if temperature is not None:
            out["temperature"] = min(max(float(temperature), 0.0), 1.0)
        if top_p is not None:
            out["top_p"] = top_p
        if top_k is not None:
            out["top_k"] = top_k
    stop = fields.stop_of(body)
    if stop:
        out["stop_sequences"] = stop
    if tools:
        out["tools"] = tools
        if tool_choice:
            out["tool_choice"] = tool_choice
    user = fields.opt_string(body.get("user"), "user") or fields.opt_string(body.get("safety_identifier"), "safety_identifier")
    if user:
        out["metadata"] = {"user_id": user}
    output_config = fields.opt_obj(body.get("output_config"), "output_config")
    if output_config is not None:
        out["output_config"] = output_config
    return out


def thinking_for(body: dict[str, Any], requested: int | None, forced_tool: bool) -> dict[str, Any] | None:
    """The ``thinking`` object: a native one passed as is, else from ``reasoning_effort``.

    Forcing a tool and thinking cannot be combined on Anthropic; the forced tool wins because
    client code usually depends on getting that call. Like OpenAI's ``max_completion_tokens``,
    ``max_tokens`` covers thinking, so the budget is cut to fit below it; under 1024 (Anthropic's
    minimum) thinking is left off.
    """
    native = fields.opt_obj(body.get("thinking"), "thinking")
    if native is not None:
        return None if forced_tool and native.get("type") != "disabled" else native
    effort = fields.reasoning_effort_of(body)
    if effort is None:
        return None
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
    if isinstance(budget, int) and not isinstance(budget, bool) and thinking and thinking.get("type") == "enabled":
        return budget + ANSWER_ROOM
    return DEFAULT_MAX_TOKENS


def system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A plain string unless a block carries ``cache_control`` (which only the list form can hold)."""
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def response_format_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON modes as a system instruction: works on every Claude model (native structured output,
    ``output_config.format``, only on some; clients can send that through ``extra_body``)."""
    fmt = fields.response_format_of(body)
    if fmt is None:
        return []
    kind, spec = fmt
    if kind == "json_object":
        return [{"type": "text", "text": JSON_OBJECT_INSTRUCTION}]
    name = f" ({spec['name']})" if spec.get("name") else ""
    try:
        schema = json.dumps(spec.get("schema") or {}, ensure_ascii=False)
    except (ValueError, RecursionError):
        raise invalid("the schema is nested too deeply", "response_format.json_schema.schema") from None
    return [{"type": "text", "text": JSON_SCHEMA_INSTRUCTION.format(name=name, schema=schema)}]


# -- tools


def translate_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for _, tool, fn in fields.function_tools(body):
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


def translate_tool_choice(choice: fields.ToolChoice | None, parallel: bool | None,
                          tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``(tools, tool_choice)``; ``allowed_tools`` narrows the tool list itself."""
    if not tools:
        return tools, None
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice.function is not None:
        result = {"type": "tool", "name": choice.function}
    elif choice.allowed is not None:
        tools = [t for t in tools if t["name"] in choice.allowed]
        result = {"type": "any" if choice.mode == "required" else "auto"}
    else:
        result = {"type": "any" if choice.mode == "required" else choice.mode}
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tools, result
