"""OpenAI ``/v1/embeddings`` <-> Google's embedding APIs (wire-formats-2.md section 4).

Gemini API: one ``batchEmbedContents`` call for every input (what google-genai itself calls, even
for one input). Vertex AI: ``:predict`` with one instance per input. ``dimensions`` becomes
``outputDimensionality``; an optional ``task_type`` field (Google's ``RETRIEVAL_QUERY``…) is passed
on; ``user`` is dropped. Answers keep the client's order and model name, in the ``encoding_format``
asked for, with usage: Vertex reports tokens per input; Gemini reports none (``usageMetadata`` when
it does), so its usage is an estimate of four characters per token.
"""

from __future__ import annotations

from typing import Any

from ..base import StreamContext, UpstreamError
from ..embeddings import EmbeddingContext, estimate_tokens, openai_answer, text_inputs


def vector_of(item: Any, where: str) -> list[float]:
    values = item.get("values") if isinstance(item, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise UpstreamError(502, f"the upstream's embedding answer has no numeric 'values' in {where}")
    return [float(v) for v in values]


def batch_request(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """``batchEmbedContents``: one request per input, each naming the model."""
    extra: dict[str, Any] = {}
    if isinstance(body.get("dimensions"), int):
        extra["outputDimensionality"] = body["dimensions"]
    if isinstance(body.get("task_type"), str):
        extra["taskType"] = body["task_type"]
    return {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": text}], "role": "user"}, **extra}
                         for text in text_inputs(body, "Gemini")]}


def batch_answer(obj: dict[str, Any], ctx: StreamContext) -> tuple[bytes, dict[str, Any]]:
    """``{"embeddings": [{"values": [...]}, ...]}`` (and perhaps ``usageMetadata``) as OpenAI's answer."""
    items = obj.get("embeddings")
    if not isinstance(items, list):
        raise UpstreamError(502, "Gemini answered 200 to batchEmbedContents without 'embeddings'")
    vectors = [vector_of(item, f"embeddings[{i}]") for i, item in enumerate(items)]
    meta = obj.get("usageMetadata")
    tokens = meta.get("promptTokenCount") if isinstance(meta, dict) else None
    if not isinstance(tokens, int):
        tokens = estimate_tokens(ctx.input_chars if isinstance(ctx, EmbeddingContext) else 0)
    return openai_answer(vectors, ctx, tokens)


def predict_request(body: dict[str, Any]) -> dict[str, Any]:
    """Vertex ``:predict``: ``instances[].content`` (and ``task_type``), ``parameters.outputDimensionality``."""
    task = body.get("task_type")
    instances = [{"content": text, **({"task_type": task} if isinstance(task, str) else {})}
                 for text in text_inputs(body, "Vertex AI")]
    out: dict[str, Any] = {"instances": instances}
    if isinstance(body.get("dimensions"), int):
        out["parameters"] = {"outputDimensionality": body["dimensions"]}
    return out


def predict_answer(obj: dict[str, Any], ctx: StreamContext) -> tuple[bytes, dict[str, Any]]:
    """``predictions[].embeddings`` (``values``, ``statistics.token_count``) as OpenAI's answer."""
    predictions = obj.get("predictions")
    if not isinstance(predictions, list):
        raise UpstreamError(502, "Vertex AI answered 200 to predict without 'predictions'")
    vectors, tokens = [], 0.0
    for i, prediction in enumerate(predictions):
        embedding = prediction.get("embeddings") if isinstance(prediction, dict) else None
        vectors.append(vector_of(embedding, f"predictions[{i}]"))
        stats = embedding.get("statistics") if isinstance(embedding, dict) else None
        if isinstance(stats, dict):
            count = stats.get("token_count", stats.get("tokenCount"))
            tokens += count if isinstance(count, int | float) else 0
    return openai_answer(vectors, ctx, round(tokens))


__all__ = ["batch_answer", "batch_request", "predict_answer", "predict_request"]
