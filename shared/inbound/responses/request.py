"""A Responses API request as a Chat Completions body (wire-formats-2.md 1.2-1.4 and 1.8).

:func:`translate` makes the chat body every translating channel gets (OpenAI-compatible hosts,
Anthropic, Gemini, Vertex, through their own chat adapters). What only an upstream serving the
Responses API itself can do (built-in tools such as ``web_search``, items of built-in tools,
``file_id`` inputs, stored prompts) is not translated: it is listed in
:attr:`Translation.native`, and the request is then served only by passthrough channels (or
refused with a 400 naming the first such field). What needs stored state is refused for every
channel (:func:`check_stateless`): this gateway stores no responses.

Field policy: ``instructions`` becomes a leading system message; ``max_output_tokens`` becomes
``max_completion_tokens``; ``text.format`` becomes ``response_format``; ``reasoning.effort``
becomes ``reasoning_effort``; ``temperature``, ``top_p``, ``parallel_tool_calls`` and ``user`` keep
their names. ``store``, ``metadata``, ``include``, ``truncation``, ``text.verbosity``,
``reasoning.summary``, ``prompt_cache_key``, ``safety_identifier``, ``service_tier``,
``top_logprobs`` and ``max_tool_calls`` are dropped (non-OpenAI hosts reject or ignore them).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import GatewayError

# A reasoning item's ``encrypted_content`` made by this gateway: Anthropic's signed thinking blocks,
# which must come back unchanged when a tool loop with thinking goes on (see response.thinking_token).
THINKING_PREFIX = "ugw1."
IMAGE_DETAILS = {"low": "low", "high": "high", "auto": "auto", "original": "high"}
PASSED_FIELDS = ("temperature", "top_p", "parallel_tool_calls", "user")


@dataclass
class Translation:
    """The chat body, and what in the request only a passthrough channel can serve: ``(what, param)``."""

    chat: dict[str, Any]
    native: list[tuple[str, str]] = field(default_factory=list)


def invalid(message: str, param: str | None = None, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


STATELESS = "not supported: stateless gateway (it stores no responses)"


def check_stateless(body: dict[str, Any]) -> None:
    """Refuse what needs responses stored on the server, whatever the upstream (a 400, not a 404:
    the id may be perfectly valid at OpenAI, but this gateway cannot know which key made it)."""
    if body.get("previous_response_id") is not None:
        raise invalid(f"'previous_response_id' is {STATELESS}; send the whole conversation in 'input' "
                      "(with store: false, clients keep the items themselves)", "previous_response_id", "unsupported_parameter")
    if body.get("conversation") is not None:
        raise invalid(f"'conversation' is {STATELESS}; send the whole conversation in 'input'", "conversation", "unsupported_parameter")
    if body.get("background") is True:
        raise invalid(f"'background' is {STATELESS}; answers are streamed or returned directly", "background", "unsupported_parameter")


def check_body(body: dict[str, Any]) -> str:
    """The model name, after the checks every Responses request must pass."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if model is None or model == "":
            raise invalid("you must provide a model parameter", "model", "missing_required_parameter")
        raise invalid("'model' must be a string", "model", "invalid_type")
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        raise invalid("'stream' must be a boolean", "stream", "invalid_type")
    value = body.get("input")
    if value is None and body.get("prompt") is None:
        raise invalid("'input' is required: a string or an array of input items", "input", "missing_required_parameter")
    if value is not None and not isinstance(value, str | list):
        raise invalid("'input' must be a string or an array of input items", "input", "invalid_type")
    check_stateless(body)
    return model


def translate(body: dict[str, Any]) -> Translation:
    """The chat body for a (checked) Responses body."""
    out = Translation({"model": body["model"]})
    chat = out.chat
    chat["messages"] = Messages(out.native).of(body)
    if body.get("prompt") is not None:
        out.native.append(("a stored prompt ('prompt')", "prompt"))
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise invalid("'tools' must be an array", "tools", "invalid_type")
        chat["tools"] = chat_tools(tools, out.native)
    if body.get("tool_choice") is not None:
        choice = chat_tool_choice(body["tool_choice"], out.native)
        if choice is not None:
            chat["tool_choice"] = choice
    for name in PASSED_FIELDS:
        if body.get(name) is not None:
            chat[name] = body[name]
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise invalid("'max_output_tokens' must be a positive integer", "max_output_tokens", "invalid_type")
        chat["max_completion_tokens"] = limit
    response_format = chat_response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    elif reasoning is not None and not isinstance(reasoning, dict):
        raise invalid("'reasoning' must be an object such as {\"effort\": \"low\"}", "reasoning", "invalid_type")
    return out


def passthrough_body(body: dict[str, Any], upstream_model: str, tools: bool) -> dict[str, Any]:
    """The client's body for an upstream that serves the Responses API: the upstream model name,
    ``store: false`` (nothing is kept under the provider's key), tools removed for ``tools: false``."""
    payload = {**body, "model": upstream_model, "store": False}
    if not tools:
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            payload.pop(name, None)
    return payload


# -- input items -> messages


class Messages:
    """``instructions`` + ``input`` -> chat messages.

    Consecutive ``function_call`` items join the assistant message before them (one assistant turn
    with ``tool_calls``); ``function_call_output`` items become ``tool`` messages, and images in them
    a user message after the run of tool messages (chat tool messages hold text only); a reasoning
    item this gateway made carries signed thinking blocks to the next assistant message.
    """

    def __init__(self, native: list[tuple[str, str]]) -> None:
        self.native = native
        self.out: list[dict[str, Any]] = []
        self.thinking: list[Any] = []  # signed thinking blocks waiting for their assistant message
        self.images: list[dict[str, Any]] = []  # images from tool outputs, sent after the tool messages

    def of(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            if instructions:
                self.out.append({"role": "system", "content": instructions})
        elif instructions is not None:
            raise invalid("'instructions' must be a string", "instructions", "invalid_type")
        value = body.get("input")
        if isinstance(value, str):
            self.out.append({"role": "user", "content": value})
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise invalid(f"input[{i}] must be an object (an input item)", f"input[{i}]", "invalid_type")
                if item.get("type") != "function_call_output":
                    self._flush_images()
                self.item(item, f"input[{i}]")
        self._flush_images()
        return self.out

    def item(self, item: dict[str, Any], where: str) -> None:
        kind = item.get("type")
        if kind is None or kind == "message":
            self.message(item, where)
        elif kind == "function_call":
            self.function_call(item, where)
        elif kind == "function_call_output":
            self.function_output(item, where)
        elif kind == "reasoning":
            token = item.get("encrypted_content")
            if isinstance(token, str) and token.startswith(THINKING_PREFIX):
                self.thinking.extend(thinking_blocks(token))
            # Other reasoning (OpenAI's own encrypted reasoning, summaries) means nothing to another model.
        elif kind == "item_reference":
            raise invalid(f"{where}: 'item_reference' is {STATELESS}; send the item itself "
                          "(clients do so with store: false)", where, "unsupported_parameter")
        elif isinstance(kind, str):
            self.native.append((f"input items of type '{kind}'", f"{where}.type"))
        else:
            raise invalid(f"{where}.type must be a string", f"{where}.type", "invalid_type")

    def message(self, item: dict[str, Any], where: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if role == "assistant":
            text, refusal = assistant_content(content, where)
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if refusal is not None:
                message["refusal"] = refusal
            self.assistant(message)
        elif role in ("user", "system", "developer"):
            if isinstance(content, str):
                self.out.append({"role": role, "content": content})
            elif isinstance(content, list):
                parts = [self.part(p, f"{where}.content[{j}]", role == "user") for j, p in enumerate(content)]
                self.out.append({"role": role, "content": [p for p in parts if p is not None]})
            else:
                raise invalid(f"{where}.content must be a string or an array of content parts", f"{where}.content", "invalid_type")
        else:
            raise invalid(f"{where}.role must be one of 'user', 'assistant', 'system', 'developer'", f"{where}.role")

    def assistant(self, message: dict[str, Any]) -> None:
        if self.thinking:
            message["thinking_blocks"], self.thinking = self.thinking, []
        self.out.append(message)

    def part(self, part: Any, where: str, media: bool) -> dict[str, Any] | None:
        """One input content part as a chat part (None: only a passthrough channel can take it)."""
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(kind, str):
            raise invalid(f"{where} must be a content part object with a 'type'", where, "invalid_type")
        if kind in ("input_text", "output_text", "text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"{where}.text must be a string", f"{where}.text", "invalid_type")
            return {"type": "text", "text": text}
        if not media:
            raise invalid(f"{where}: system and developer messages hold text only", f"{where}.type")
        if kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                if part.get("file_id"):
                    self.native.append(("images given by 'file_id'", f"{where}.file_id"))
                    return None
                raise invalid(f"{where}: input_image needs 'image_url'", f"{where}.image_url", "missing_required_parameter")
            image: dict[str, Any] = {"url": url}
            detail = part.get("detail")
            if isinstance(detail, str) and detail in IMAGE_DETAILS:
                image["detail"] = IMAGE_DETAILS[detail]
            return {"type": "image_url", "image_url": image}
        if kind == "input_file":
            data = part.get("file_data")
            if isinstance(data, str) and data:
                file: dict[str, Any] = {"file_data": data}
                if isinstance(part.get("filename"), str):
                    file["filename"] = part["filename"]
                return {"type": "file", "file": file}
            what = "files given by 'file_id'" if part.get("file_id") else "files given by 'file_url'"
            self.native.append((what, where))
            return None
        self.native.append((f"content parts of type '{kind}'", f"{where}.type"))
        return None

    def function_call(self, item: dict[str, Any], where: str) -> None:
        call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"{where}: a function_call item needs 'call_id'", f"{where}.call_id", "missing_required_parameter")
        if not isinstance(name, str) or not name:
            raise invalid(f"{where}: a function_call item needs 'name'", f"{where}.name", "missing_required_parameter")
        if arguments is None:
            arguments = "{}"
        elif not isinstance(arguments, str):
            raise invalid(f"{where}.arguments must be a string of JSON", f"{where}.arguments", "invalid_type")
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        last = self.out[-1] if self.out else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
            if self.thinking:
                last["thinking_blocks"] = [*last.get("thinking_blocks", ()), *self.thinking]
                self.thinking = []
        else:
            self.assistant({"role": "assistant", "content": None, "tool_calls": [call]})

    def function_output(self, item: dict[str, Any], where: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"{where}: a function_call_output item needs 'call_id'", f"{where}.call_id", "missing_required_parameter")
        output = item.get("output")
        if isinstance(output, list):
            texts = []
            for j, part in enumerate(output):
                converted = self.part(part, f"{where}.output[{j}]", True)
                if converted is None:
                    continue
                if converted["type"] == "text":
                    texts.append(converted["text"])
                else:
                    self.images.append(converted)
            content = "".join(texts)
        elif isinstance(output, str):
            content = output
        else:
            content = json.dumps(output, ensure_ascii=False)
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": content})

    def _flush_images(self) -> None:
        if self.images:
            self.out.append({"role": "user", "content": self.images})
            self.images = []


def assistant_content(content: Any, where: str) -> tuple[str | None, str | None]:
    """``(text, refusal)`` of an assistant message in the history."""
    if content is None or isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or an array of content parts", f"{where}.content", "invalid_type")
    texts: list[str] = []
    refusal = None
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("output_text", "input_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            refusal = part["refusal"]
        else:
            raise invalid(f"{where}.content[{j}]: an assistant message holds output_text and refusal parts",
                          f"{where}.content[{j}]")
    return ("".join(texts) if texts or refusal is None else None), refusal


def thinking_blocks(token: str) -> list[Any]:
    """The thinking blocks a gateway-made ``encrypted_content`` carries (none if it was tampered with)."""
    data = token[len(THINKING_PREFIX):]
    try:
        blocks = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (ValueError, binascii.Error):
        return []
    return blocks if isinstance(blocks, list) else []


# -- tools, tool choice, response format


def chat_tools(tools: list[Any], native: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Flat function tools -> chat's nested form; ``strict`` only when the client set it (Responses
    defaults it to true, Chat Completions to false, and many hosts reject strict schemas)."""
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or not isinstance(kind, str):
            raise invalid(f"tools[{i}] must be a tool object with a 'type'", f"tools[{i}]", "invalid_type")
        if kind != "function":
            native.append((f"the built-in tool '{kind}'", f"tools[{i}].type"))
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(f"tools[{i}]: a function tool needs 'name'", f"tools[{i}].name", "missing_required_parameter")
        function: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        if tool.get("parameters") is not None:
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: Any, native: list[tuple[str, str]]) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(kind, str):
        raise invalid("'tool_choice' must be 'auto', 'none', 'required' or a tool choice object", "tool_choice")
    if kind == "function":
        if not isinstance(choice.get("name"), str):
            raise invalid("tool_choice: a function choice needs 'name'", "tool_choice.name", "missing_required_parameter")
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools":
        tools = choice.get("tools")
        if not isinstance(tools, list):
            raise invalid("tool_choice: allowed_tools needs a 'tools' array", "tool_choice.tools", "invalid_type")
        functions = []
        for tool in tools:
            if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str):
                functions.append({"type": "function", "function": {"name": tool["name"]}})
            else:
                native.append(("built-in tools in tool_choice.allowed_tools", "tool_choice.tools"))
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode") or "auto", "tools": functions}}
    native.append((f"tool_choice of type '{kind}'", "tool_choice.type"))
    return None


def chat_response_format(text: Any) -> dict[str, Any] | None:
    """``text.format`` -> ``response_format`` (Responses' flat json_schema -> chat's nested one)."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise invalid("'text' must be an object such as {\"format\": {\"type\": \"text\"}}", "text", "invalid_type")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt, dict):
        if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
            raise invalid("text.format: a json_schema format needs 'name' and 'schema'", "text.format", "missing_required_parameter")
        spec = {"name": fmt["name"], "schema": fmt["schema"]}
        for name in ("strict", "description"):
            if fmt.get(name) is not None:
                spec[name] = fmt[name]
        return {"type": "json_schema", "json_schema": spec}
    raise invalid("text.format.type must be 'text', 'json_object' or 'json_schema'", "text.format.type")
