"""Checks of the OpenAI chat fields a translator reads: a wrong type or value is a 400 that names
the field (``param``), in OpenAI's own words, never a crash deep inside a translation.

The OpenAI-compatible adapters forward bodies untouched and let their upstream judge them; the
translating adapters (Anthropic, Gemini, Vertex) read the body field by field, and every read of a
client value goes through one of these helpers (or an ``isinstance`` test with its own 400).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import InvalidRequest

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def kind_of(value: Any) -> str:
    """How OpenAI names a JSON value's type in its error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def wrong_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}, but got {kind_of(value)} instead.", param, "invalid_type")


def wrong_value(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {why}", param, "invalid_value")


def shown(value: Any, limit: int = 60) -> str:
    """A client value quoted in a message, cut short (it may be megabytes long)."""
    text = repr(value) if isinstance(value, str) else kind_of(value)
    return text if len(text) <= limit else text[:limit] + "…"


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise wrong_type(param, "an object", value)
    return value


def opt_obj(value: Any, param: str) -> dict[str, Any] | None:
    return None if value is None else obj(value, param)


def array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_type(param, "an array", value)
    return value


def opt_array(value: Any, param: str) -> list[Any]:
    """An optional array: ``[]`` when absent."""
    return [] if value is None else array(value, param)


def string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    return value


def opt_string(value: Any, param: str) -> str | None:
    return None if value is None else string(value, param)


def opt_bool(value: Any, param: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise wrong_type(param, "a boolean", value)
    return value


def opt_number(value: Any, param: str) -> float | int | None:
    """A finite number (Python's JSON parser also reads ``NaN`` and ``Infinity``, which no upstream takes)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong_type(param, "a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise wrong_value(param, "expected a finite number.")
    if isinstance(value, int) and not -1e300 < value < 1e300:
        raise wrong_value(param, "the number is too large.")
    return value


def opt_int(value: Any, param: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(param, "an integer", value)
    if minimum is not None and value < minimum:
        raise wrong_value(param, f"expected an integer of at least {minimum}, got {value}." if value > -10**12 else "too small.")
    return value


def max_tokens_of(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` over ``max_tokens`` (the newer field is the precise one); each a positive integer."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = opt_int(body.get(name), name, minimum=1)
        if value is not None:
            return value
    return None


def stop_of(body: Mapping[str, Any]) -> list[str]:
    """``stop``: one string or an array of strings; empty strings dropped."""
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    for i, item in enumerate(array(stop, "stop")):
        string(item, f"stop[{i}]")
    return [s for s in stop if s]


def choices_of(body: Mapping[str, Any], provider: str) -> None:
    """``n``: one choice is all a translating adapter can give."""
    n = opt_int(body.get("n"), "n", minimum=1)
    if n is not None and n > 1:
        raise InvalidRequest(f"n > 1 is not supported by {provider} models; send one request per choice", "n", "unsupported_value")


def reasoning_effort_of(body: Mapping[str, Any]) -> str | None:
    effort = opt_string(body.get("reasoning_effort"), "reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise wrong_value("reasoning_effort", f"unsupported value {shown(effort)}; expected one of {', '.join(REASONING_EFFORTS)}.")
    return effort


def response_format_of(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``response_format`` as ``(type, json_schema object)``; None for plain text."""
    fmt = opt_obj(body.get("response_format"), "response_format")
    if fmt is None:
        return None
    kind = string(fmt.get("type"), "response_format.type")
    if kind == "text":
        return None
    if kind == "json_object":
        return kind, {}
    if kind == "json_schema":
        spec = obj(fmt.get("json_schema"), "response_format.json_schema")
        opt_string(spec.get("name"), "response_format.json_schema.name")
        opt_obj(spec.get("schema"), "response_format.json_schema.schema")
        return kind, spec
    raise wrong_value("response_format.type", f"unsupported value {shown(kind)}; expected 'text', 'json_object' or 'json_schema'.")


def function_tools(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``tools`` as ``(param, tool, function)`` for each function tool, its name and optional
    description and parameters checked. Other tool types are the caller's to refuse."""
    out = []
    for i, tool in enumerate(opt_array(body.get("tools"), "tools")):
        where = f"tools[{i}]"
        obj(tool, where)
        kind = tool.get("type", "function")
        if kind != "function":
            raise InvalidRequest(f"{where}: tool type {shown(kind)} cannot be translated; only function tools can", f"{where}.type",
                                 "unsupported_tool_type")
        fn = obj(tool.get("function"), f"{where}.function")
        name = string(fn.get("name"), f"{where}.function.name")
        if not name:
            raise wrong_value(f"{where}.function.name", "a function name is required.")
        opt_string(fn.get("description"), f"{where}.function.description")
        opt_obj(fn.get("parameters"), f"{where}.function.parameters")
        out.append((where, tool, fn))
    return out


@dataclass(frozen=True)
class ToolChoice:
    """``tool_choice``, checked: a mode, and the functions it narrows the choice to, if any."""

    mode: str  # "none", "auto" or "required"
    function: str | None = None  # {"type": "function"}: the one function the model must call
    allowed: tuple[str, ...] | None = None  # {"type": "allowed_tools"}: the functions it may call


def tool_choice_of(body: Mapping[str, Any]) -> ToolChoice | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise wrong_value("tool_choice", f"unsupported value {shown(choice)}; expected 'none', 'auto' or 'required'.")
        return ToolChoice(choice)
    obj(choice, "tool_choice")
    kind = choice.get("type")
    if kind == "function":
        fn = obj(choice.get("function"), "tool_choice.function")
        name = string(fn.get("name"), "tool_choice.function.name")
        if not name:
            raise wrong_value("tool_choice.function.name", "a function name is required.")
        return ToolChoice("required", function=name)
    if kind == "allowed_tools":
        allowed = obj(choice.get("allowed_tools"), "tool_choice.allowed_tools")
        mode = opt_string(allowed.get("mode"), "tool_choice.allowed_tools.mode") or "auto"
        if mode not in ("auto", "required"):
            raise wrong_value("tool_choice.allowed_tools.mode", f"unsupported value {shown(mode)}; expected 'auto' or 'required'.")
        names = []
        for i, tool in enumerate(array(allowed.get("tools"), "tool_choice.allowed_tools.tools")):
            where = f"tool_choice.allowed_tools.tools[{i}]"
            fn = obj(obj(tool, where).get("function"), f"{where}.function")
            names.append(string(fn.get("name"), f"{where}.function.name"))
        return ToolChoice(mode, allowed=tuple(names))
    raise wrong_value("tool_choice.type", f"unsupported value {shown(kind)}; expected 'function' or 'allowed_tools'.")


def messages_of(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """``messages`` as ``(param, message, role)``: an array of objects with string roles."""
    out = []
    for i, message in enumerate(array(body.get("messages"), "messages")):
        where = f"messages[{i}]"
        obj(message, where)
        out.append((where, message, string(message.get("role"), f"{where}.role")))
    return out


def tool_calls_of(message: Mapping[str, Any], where: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """An assistant message's ``tool_calls`` as ``(param, call, function)``: string ids and names."""
    out = []
    for k, call in enumerate(opt_array(message.get("tool_calls"), f"{where}.tool_calls")):
        here = f"{where}.tool_calls[{k}]"
        obj(call, here)
        opt_string(call.get("id"), f"{here}.id")
        fn = obj(call.get("function"), f"{here}.function")
        string(fn.get("name"), f"{here}.function.name")
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, (str, dict)):
            raise wrong_type(f"{here}.function.arguments", "a string", arguments)
        out.append((here, call, fn))
    return out
