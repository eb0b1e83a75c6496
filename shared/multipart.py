"""``multipart/form-data`` uploads (audio transcriptions and translations, image edits), held in memory.

Why in memory: failover needs the body again for the next channel, and serverless file systems are
read-only or tiny, so an upload is never written to disk. The body was already read whole and bounded
by ``MAX_REQUEST_BYTES`` (``app.read_body``); here it is only *indexed*: each part's name, filename and
where its bytes start and end. Nothing is copied until a part must change.

What is read: the text fields (``model``, ``stream``, ``response_format``…, as strings) and which
parts are files. What is sent upstream: the client's own bytes, untouched when the upstream model
name is the client's; otherwise the same parts in the same order with the client's boundary, the
``model`` part (and any ``post_body_parameter_overrides`` field) replaced and every other part byte
for byte, so a file keeps its filename and content type (OpenAI identifies audio formats by them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import GatewayError

MAX_PARTS = 1000  # an OpenAI upload has a few dozen; more is a malformed or hostile body
MAX_FIELD_BYTES = 1 << 20  # a text field's value (prompts are long, but not megabytes)
PARAM = re.compile(r';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, f"Malformed multipart/form-data body: {message}", code="invalid_multipart", param=param)


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="file"; filename="a.mp3"`` → ``("form-data", {"name": "file", "filename": "a.mp3"})``."""
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in PARAM.finditer(";" + rest):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(name, raw)
    return kind.strip().lower(), params


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, or a 400 saying what is wrong."""
    kind, params = header_params(content_type or "")
    if kind != "multipart/form-data":
        raise GatewayError(400, f"This endpoint takes a multipart/form-data upload, not {kind or 'a body without Content-Type'}.",
                           code="invalid_content_type")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise bad("the Content-Type header has no boundary parameter")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise bad("the boundary is not ASCII") from None


@dataclass(frozen=True)
class Part:
    """One part: its name, filename (None for a text field), and where its whole text (headers and
    content) and its content alone lie in the body."""

    name: str
    filename: str | None
    start: int  # first byte of the part's headers
    content_start: int
    end: int  # one past the content's last byte (the CRLF before the next delimiter is not content)


class Form(dict[str, Any]):
    """A parsed upload as the dispatcher sees a body: a dict of its text fields (last value wins),
    plus the raw body and the index of its parts, from which :meth:`encode` rebuilds what is sent."""

    def __init__(self, raw: bytes, boundary: bytes, parts: tuple[Part, ...], fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.raw = raw
        self.boundary = boundary
        self.parts = parts

    @property
    def content_type(self) -> str:
        return "multipart/form-data; boundary=" + self.boundary.decode("ascii")

    def files(self, name: str) -> list[Part]:
        return [p for p in self.parts if p.name == name and p.filename is not None]

    def with_fields(self, changes: dict[str, Any]) -> Form:
        """The same upload with some text fields changed (the upstream model name): parts are shared."""
        return Form(self.raw, self.boundary, self.parts, {**self, **changes})

    def encode(self, overrides: dict[str, Any] | None = None, removes: tuple[str, ...] = ()) -> bytes:
        """The body to send: the client's bytes when no text field changed, else the parts in order
        with changed fields re-encoded (an override not in the upload is appended) and the rest as sent."""
        values = {**self, **(overrides or {})}
        changed = {name for name, value in values.items() if name in removes or self.text(name) != field_text(value)}
        if not changed:
            return self.raw
        delimiter = b"--" + self.boundary
        out: list[bytes] = []
        done: set[str] = set()
        for part in self.parts:
            if part.name not in changed or part.filename is not None:
                out.append(self.raw[part.start:part.end])
            elif part.name not in done and part.name not in removes:
                out.append(text_part(part.name, field_text(values[part.name])))
            else:
                continue
            done.add(part.name)
        for name in sorted(changed - done - set(removes)):
            out.append(text_part(name, field_text(values[name])))
        return b"".join(delimiter + b"\r\n" + piece + b"\r\n" for piece in out) + delimiter + b"--\r\n"

    def text(self, name: str) -> str | None:
        """The text field's value as it came in (the last part of that name), or None."""
        for part in reversed(self.parts):
            if part.name == name and part.filename is None:
                return self.raw[part.content_start:part.end].decode("utf-8", "replace")
        return None


def field_text(value: Any) -> str:
    """A field value as openai-python writes it: booleans ``true``/``false``, numbers as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def text_part(name: str, value: str) -> bytes:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'Content-Disposition: form-data; name="{quoted}"\r\n\r\n'.encode() + value.encode()


def parse_form(raw: bytes, content_type: str | None) -> Form:
    """Index a whole ``multipart/form-data`` body (RFC 7578): parts, their names and filenames, and
    the text fields' values. A body that is not such an upload is a 400 saying where it breaks."""
    boundary = boundary_of(content_type)
    delimiter = b"--" + boundary
    if raw.startswith(delimiter):
        pos = len(delimiter)
    else:
        found = raw.find(b"\r\n" + delimiter)
        if found < 0:
            raise bad("the body does not contain the boundary from the Content-Type header")
        pos = found + 2 + len(delimiter)
    parts: list[Part] = []
    fields: dict[str, Any] = {}
    while True:
        if raw.startswith(b"--", pos):
            break  # the close delimiter; anything after it is an epilogue
        line_end = raw.find(b"\r\n", pos)
        if line_end < 0 or raw[pos:line_end].strip(b" \t"):
            raise bad("the body ends before its closing boundary (truncated upload?)" if line_end < 0
                      else "a boundary line is followed by something other than a line break")
        start = line_end + 2
        head_end = raw.find(b"\r\n\r\n", start)
        if start < len(raw) and raw.startswith(b"\r\n", start):
            head_end = start - 2  # a part with no headers at all
        if head_end < 0:
            raise bad("a part's headers are not terminated (truncated upload?)")
        content_start = head_end + 4
        end = raw.find(b"\r\n" + delimiter, content_start)
        if end < 0:
            raise bad("the body ends before its closing boundary (truncated upload?)")
        name, filename = disposition(raw[start:head_end])
        parts.append(Part(name, filename, start, content_start, end))
        if len(parts) > MAX_PARTS:
            raise bad(f"more than {MAX_PARTS} parts")
        if filename is None:
            if end - content_start > MAX_FIELD_BYTES:
                raise bad(f"the text field '{name}' is larger than {MAX_FIELD_BYTES} bytes", name)
            fields[name] = raw[content_start:end].decode("utf-8", "replace")
        pos = end + 2 + len(delimiter)
    if not parts:
        raise bad("the upload has no parts")
    return Form(raw, boundary, tuple(parts), fields)


def disposition(head: bytes) -> tuple[str, str | None]:
    """The ``name`` and ``filename`` of a part's ``Content-Disposition`` header."""
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-disposition":
            kind, params = header_params(value.decode("utf-8", "replace"))
            if kind != "form-data" or "name" not in params:
                break
            filename = params.get("filename")
            if filename is None and "filename*" in params:
                filename = params["filename*"].split("''", 1)[-1]
            return params["name"], filename
    raise bad("a part has no Content-Disposition: form-data header with a name")


__all__ = ["Form", "Part", "boundary_of", "field_text", "parse_form"]
