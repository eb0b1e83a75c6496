"""The gateway's multipart/form-data reader and writer on their own (shared/multipart.py).

Checked against what httpx (the transport under openai-python) writes, and against python-multipart
(what the fake upstreams parse with): the rewritten upload must be the client's parts, byte for byte,
with only the changed text fields different.
"""

from __future__ import annotations

import io

import httpx
import pytest
from python_multipart import MultipartParser

from shared.errors import GatewayError
from shared.multipart import boundary_of, parse_form


def httpx_upload(data: dict, files: dict) -> tuple[bytes, str]:
    """The body and Content-Type httpx sends for ``data`` and ``files`` (as openai-python's requests do)."""
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


def independent_parse(body: bytes, content_type: str) -> list[tuple[bytes, bytes]]:
    """(headers, content) of every part, read by python-multipart."""
    parts: list[tuple[bytes, bytes]] = []
    current = {"headers": b"", "data": b""}

    def on_part_begin():
        current.update(headers=b"", data=b"")

    def on_header_field(data, start, end):
        current["headers"] += data[start:end] + b":"

    def on_header_value(data, start, end):
        current["headers"] += data[start:end] + b";"

    def on_part_data(data, start, end):
        current["data"] += data[start:end]

    def on_part_end():
        parts.append((current["headers"], current["data"]))

    parser = MultipartParser(boundary_of(content_type), {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                                          "on_header_value": on_header_value, "on_part_data": on_part_data,
                                                          "on_part_end": on_part_end})
    parser.write(body)
    parser.finalize()
    return parts


AUDIO = b"\r\n--\r\n\x00\xff" * 300


def test_reads_what_httpx_writes():
    body, content_type = httpx_upload({"model": "whisper-1", "language": "en", "timestamp_granularities[]": ["word", "segment"]},
                                      {"file": ("talk.mp3", io.BytesIO(AUDIO), "audio/mpeg")})
    form = parse_form(body, content_type)
    assert form["model"] == "whisper-1" and form["language"] == "en" and form["timestamp_granularities[]"] == "segment"
    (upload,) = form.files("file")
    assert upload.filename == "talk.mp3" and body[upload.content_start:upload.end] == AUDIO
    assert form.encode() is body  # nothing changed: the client's bytes, not a copy


def test_a_changed_model_rewrites_only_that_part():
    body, content_type = httpx_upload({"model": "whisper-1", "prompt": "é\r\nx"}, {"file": ("a.wav", io.BytesIO(AUDIO), "audio/wav")})
    form = parse_form(body, content_type).with_fields({"model": "whisper-large-v3"})
    sent = form.encode()
    original, rewritten = independent_parse(body, content_type), independent_parse(sent, form.content_type)
    assert [p[1] for p in rewritten] == [b"whisper-large-v3", "é\r\nx".encode(), AUDIO]
    assert rewritten[1:] == original[1:]  # every other part, headers included, as the client sent it
    assert parse_form(sent, form.content_type)["model"] == "whisper-large-v3"


def test_overrides_replace_or_add_text_fields_and_removes_drop_them():
    body, content_type = httpx_upload({"model": "m", "temperature": "0.7", "prompt": "p"}, {"file": ("a.wav", io.BytesIO(b"x"), "audio/wav")})
    form = parse_form(body, content_type)
    sent = form.encode({"temperature": 0, "language": "de", "stream": False}, ("prompt",))
    again = parse_form(sent, form.content_type)
    assert {k: again[k] for k in again} == {"model": "m", "temperature": "0", "language": "de", "stream": "false"}
    assert again.files("file")[0].filename == "a.wav"


def test_preamble_epilogue_quoted_boundary_and_escaped_names():
    body = (b"preamble to ignore\r\n--a:b\r\nContent-Disposition: form-data; name=\"say \\\"hi\\\"\"\r\n\r\nhello\r\n"
            b"--a:b\r\ncontent-disposition: form-data; name=model\r\n\r\nm\r\n--a:b--\r\nepilogue")
    form = parse_form(body, 'multipart/form-data; charset=utf-8; boundary="a:b"')
    assert form == {'say "hi"': "hello", "model": "m"}


@pytest.mark.parametrize("body, content_type, needle", [
    (b"x", "application/json", "multipart/form-data"),
    (b"x", "multipart/form-data", "no boundary"),
    (b"--b\r\nContent-Disposition: form-data; name=\"m\"\r\n\r\nx", "multipart/form-data; boundary=b", "truncated"),
    (b"--b\r\nContent-Disposition: form-data; name=\"m\"", "multipart/form-data; boundary=b", "not terminated"),
    (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b", "Content-Disposition"),
    (b"--b--\r\n", "multipart/form-data; boundary=b", "no parts"),
    (b"nothing here", "multipart/form-data; boundary=b", "does not contain the boundary"),
    (b"--bjunk\r\n", "multipart/form-data; boundary=b", "other than a line break"),
])
def test_malformed_bodies_are_400s_saying_where(body, content_type, needle):
    with pytest.raises(GatewayError) as info:
        parse_form(body, content_type)
    assert info.value.status == 400 and needle in info.value.message


def test_too_many_parts_is_refused():
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n' for _ in range(1001)) + b"--b--\r\n"
    with pytest.raises(GatewayError) as info:
        parse_form(body, "multipart/form-data; boundary=b")
    assert "more than 1000 parts" in info.value.message
