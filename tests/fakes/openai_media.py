"""The fake OpenAI upstream's non-chat endpoints: embeddings, images, audio (wire-formats-2.md section 3).

Answers are derived from the request, so a test can tell what the upstream received: embedding
vectors encode each input's length and position, image edits send back the uploaded image's bytes,
transcriptions name the uploaded file and its size, speech audio is the input text repeated.
Multipart bodies are parsed with Starlette's form parser (python-multipart), independently of the
gateway's own parser.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

if TYPE_CHECKING:
    from .openai_fake import FakeOpenAI, Reply

SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}


def vector(text: Any, index: int, dimensions: int | None) -> list[float]:
    """Input length, position, then 0.25 steps: enough for a test to check order and dimensions."""
    size = dimensions or 4
    head = [float(len(text) if isinstance(text, str | list) else 1), float(index)]
    return (head + [0.25 * (i + 1) for i in range(max(0, size - 2))])[:size]


def embeddings(fake: FakeOpenAI, body: dict[str, Any], reply: Reply) -> Response:
    inputs = body.get("input")
    items = [inputs] if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)) else inputs
    as_base64 = body.get("encoding_format") == "base64" and not reply.float_only
    data = []
    for i, item in enumerate(items or []):
        v = vector(item, i, body.get("dimensions"))
        data.append({"object": "embedding", "index": i,
                     "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v})
    tokens = sum(len(t.split()) if isinstance(t, str) else len(t) if isinstance(t, list) else 1 for t in items or [])
    return JSONResponse({"object": "list", "data": data, "model": body.get("model"),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, headers=reply.headers)


def image_usage() -> dict[str, Any]:
    return {"input_tokens": 50, "input_tokens_details": {"text_tokens": 10, "image_tokens": 40}, "output_tokens": 60,
            "output_tokens_details": {"text_tokens": 0, "image_tokens": 60}, "total_tokens": 110}


def image_answer(fake: FakeOpenAI, model: str, picture: bytes, n: int, reply: Reply, stream: bool, kind: str) -> Response:
    if stream:
        return StreamingResponse(image_events(picture, reply, kind), media_type="text/event-stream")
    if model.startswith("dall-e"):
        return JSONResponse({"created": int(time.time()), "data": [{"url": f"https://images.example/{fake.name}/{i}.png",
                                                                     "revised_prompt": None} for i in range(n)]}, headers=reply.headers)
    return JSONResponse({"created": int(time.time()), "data": [{"b64_json": base64.b64encode(picture).decode()} for _ in range(n)],
                         "output_format": "png", "size": "1024x1024", "usage": image_usage()}, headers=reply.headers)


async def image_events(picture: bytes, reply: Reply, kind: str):
    encoded = base64.b64encode(picture).decode()
    partial = {"type": f"{kind}.partial_image", "b64_json": encoded[: len(encoded) // 2], "partial_image_index": 0, "created_at": 1}
    done = {"type": f"{kind}.completed", "b64_json": encoded, "created_at": 1, "usage": image_usage()}
    for n, event in enumerate((partial, done)):
        if reply.break_after is not None and n >= reply.break_after:
            raise ConnectionResetError("fake upstream drops the connection")
        if reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def images(fake: FakeOpenAI, body: dict[str, Any], reply: Reply) -> Response:
    prompt = str(body.get("prompt"))
    return image_answer(fake, str(body.get("model")), f"PNG for {prompt}".encode(), int(body.get("n") or 1), reply,
                        body.get("stream") is True, "image_generation")


def image_edits(fake: FakeOpenAI, form: dict[str, Any], files: dict[str, list[dict[str, Any]]], reply: Reply) -> Response:
    uploads = files.get("image") or files.get("image[]")
    if not uploads or not form.get("prompt"):
        return bad_request("image and prompt are required", "image" if not uploads else "prompt")
    picture = b"|".join(f["content"] for f in uploads)
    return image_answer(fake, str(form.get("model")), picture, int(form.get("n") or 1), reply,
                        form.get("stream") == "true", "image_edit")


def bad_request(message: str, param: str | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}, status_code=400)


def speech(fake: FakeOpenAI, body: dict[str, Any], reply: Reply) -> Response:
    if not body.get("input") or not body.get("voice"):
        return bad_request("input and voice are required")
    fmt = body.get("response_format") or "mp3"
    chunk = f"[{fmt} audio of {body['input']}]".encode()
    return StreamingResponse(audio_chunks(fake, chunk, reply), media_type=SPEECH_TYPES.get(fmt, "application/octet-stream"),
                             headers=reply.headers)


async def audio_chunks(fake: FakeOpenAI, chunk: bytes, reply: Reply):
    """``reply.chunks`` pieces of audio, ``chunk_delay`` apart; when each left is kept in ``fake.sent``."""
    fake.sent = []
    for n in range(reply.chunks):
        if reply.break_after is not None and n >= reply.break_after:
            raise ConnectionResetError("fake upstream drops the connection")
        if n and reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        fake.sent.append(time.perf_counter())
        yield bytes([n % 256]) + chunk


def transcription_text(files: dict[str, list[dict[str, Any]]], task: str) -> str:
    upload = files["file"][0]
    return f"{task} of {upload['filename']} ({len(upload['content'])} bytes, {upload['content_type']})"


def audio_text(fake: FakeOpenAI, form: dict[str, Any], files: dict[str, list[dict[str, Any]]], reply: Reply, task: str) -> Response:
    if not files.get("file"):
        return bad_request("file is required", "file")
    text = transcription_text(files, task)
    fmt = form.get("response_format") or "json"
    usage = {"type": "tokens", "input_tokens": 14, "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
             "output_tokens": 45, "total_tokens": 59}
    if form.get("stream") == "true":
        return StreamingResponse(transcript_events(text, usage, reply), media_type="text/event-stream")
    if fmt == "json":
        return JSONResponse({"text": text, "usage": usage}, headers=reply.headers)
    if fmt == "verbose_json":
        return JSONResponse({"task": task, "language": "english", "duration": 2.5, "text": text,
                             "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 2.5, "text": text, "tokens": [1, 2],
                                           "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01}],
                             "words": [{"word": w, "start": 0.0, "end": 0.1} for w in text.split()[:3]],
                             "usage": {"type": "duration", "seconds": 3}}, headers=reply.headers)
    if fmt == "text":
        return PlainTextResponse(text + "\n", headers=reply.headers)
    if fmt == "srt":
        return PlainTextResponse(f"1\n00:00:00,000 --> 00:00:02,500\n{text}\n\n", headers=reply.headers)
    if fmt == "vtt":
        return PlainTextResponse(f"WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n{text}\n\n", headers=reply.headers)
    return bad_request(f"unknown response_format {fmt}", "response_format")


async def transcript_events(text: str, usage: dict[str, Any], reply: Reply):
    words = text.split(" ")
    for n, word in enumerate(words):
        if reply.break_after is not None and n >= reply.break_after:
            raise ConnectionResetError("fake upstream drops the connection")
        if reply.chunk_delay:
            await asyncio.sleep(reply.chunk_delay)
        yield b"data: " + json.dumps({"type": "transcript.text.delta", "delta": (" " if n else "") + word}).encode() + b"\n\n"
    yield b"data: " + json.dumps({"type": "transcript.text.done", "text": text, "usage": usage}).encode() + b"\n\n"


async def read_form(request: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Text fields (last wins; ``name[]`` lists kept as lists) and files of a multipart body."""
    form = await request.form()
    fields: dict[str, Any] = {}
    files: dict[str, list[dict[str, Any]]] = {}
    for name, value in form.multi_items():
        if hasattr(value, "filename"):
            files.setdefault(name, []).append({"filename": value.filename, "content_type": value.content_type,
                                               "content": await value.read()})
        elif name.endswith("[]"):
            fields.setdefault(name, []).append(value)
        else:
            fields[name] = value
    return fields, files
