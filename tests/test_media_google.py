"""Embeddings on Gemini (``batchEmbedContents``) and Vertex AI (``:predict``), with the OpenAI SDK.

The fake Google server validates the embedding requests the way the services do (unknown fields, a
per-request model that is not the URL's) and answers vectors encoding each input's length and
position, so the test sees both what was sent and that the answer kept the client's order.
"""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

from shared.providers import google_auth
from shared.providers.embeddings import EmbeddingContext, from_base64, in_format, to_base64
from tests.builders import config, provider
from tests.fakes.gemini_fake import FakeGoogle, GeminiReply, make_service_account
from tests.fakes.openai_fake import Reply

EMAIL = "embedder@test-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def account():
    return make_service_account()


@pytest.fixture
def google(account, fake_factory):
    google_auth.reset()
    yield fake_factory(kind=FakeGoogle, accounts={EMAIL: account[1]})
    google_auth.reset()


def gemini_provider(fake: FakeGoogle, name: str = "g") -> dict:
    return provider(name, fake, path="/v1beta", api="gemini-key-1", models=[{"gemini-embedding-001": "embed"}])


def vertex_provider(fake: FakeGoogle) -> dict:
    return provider("vx", fake, path="", api=None, models=[{"text-embedding-005": "embed"}], project_id="test-project",
                    client_email=EMAIL, private_key="${VERTEX_PRIVATE_KEY}", token_uri=f"{fake.url}/token", region="europe-west4")


# -- Gemini ---------------------------------------------------------------------------------------

def test_gemini_batch_embeddings_in_the_sdks_default_base64(google, gateway_factory):
    gw = gateway_factory(config(gemini_provider(google)))
    answer = gw.client().embeddings.create(model="embed", input=["hello", "wide world"], dimensions=3, extra_body={"task_type": "RETRIEVAL_QUERY"})
    assert [d.embedding for d in answer.data] == [[5.0, 0.0, 0.125], [10.0, 1.0, 0.125]]
    assert [d.index for d in answer.data] == [0, 1] and answer.model == "embed"
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == 4  # 15 characters, about 4 per token
    sent = google.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents" and sent["key"] == "gemini-key-1"
    assert sent["body"] == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}], "role": "user"},
         "outputDimensionality": 3, "taskType": "RETRIEVAL_QUERY"},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "wide world"}], "role": "user"},
         "outputDimensionality": 3, "taskType": "RETRIEVAL_QUERY"}]}


def test_gemini_embeddings_float_and_reported_usage(google, gateway_factory):
    gw = gateway_factory(config(gemini_provider(google)))
    google.then(GeminiReply(usage={"promptTokenCount": 7}))
    response = httpx.post(gw.url + "/v1/embeddings", json={"model": "embed", "input": "abc", "encoding_format": "float", "user": "u1"},
                          headers={"authorization": "Bearer temp_api_key"})
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [3.0, 0.0, 0.125, 0.25]}],
                               "model": "embed", "usage": {"prompt_tokens": 7, "total_tokens": 7}}
    base64_answer = httpx.post(gw.url + "/v1/embeddings", json={"model": "embed", "input": "abc", "encoding_format": "base64"},
                               headers={"authorization": "Bearer temp_api_key"}).json()
    assert base64_answer["data"][0]["embedding"] == base64.b64encode(struct.pack("<4f", 3.0, 0.0, 0.125, 0.25)).decode()


def test_token_arrays_cannot_go_to_gemini(google, gateway_factory):
    gw = gateway_factory(config(gemini_provider(google)))
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().embeddings.create(model="embed", input=[[1, 2, 3]])
    assert "'input'" in info.value.body["message"] and "Gemini" in info.value.body["message"]
    assert google.requests == []


def test_gemini_failure_fails_over_to_an_openai_channel(google, fake_factory, gateway_factory):
    openai_fake = fake_factory("oa")
    gw = gateway_factory(config(gemini_provider(google), provider("oa", openai_fake, models=[{"text-embedding-3-small": "embed"}])))
    google.then(GeminiReply(status=503))
    answer = gw.client().embeddings.with_raw_response.create(model="embed", input="abcd", encoding_format="float")
    assert answer.headers["x-gateway-provider"] == "oa" and answer.parse().data[0].embedding[0] == 4.0
    assert openai_fake.requests[-1]["body"]["model"] == "text-embedding-3-small"


def test_gemini_rate_limit_is_retried_on_the_next_key(google, gateway_factory):
    entry = provider("g", google, path="/v1beta", api=["gemini-key-1", "gemini-key-2"], models=["gemini-embedding-001"],
                     preferences={"api_key_schedule_algorithm": "fixed_priority"})
    google.keys.add("gemini-key-2")
    gw = gateway_factory(config(entry))
    google.then(GeminiReply(status=429, retry_delay="7s"))
    answer = gw.client().embeddings.create(model="gemini-embedding-001", input="x")
    assert answer.data[0].embedding[0] == 1.0
    assert [r["key"] for r in google.requests] == ["gemini-key-1", "gemini-key-2"]


# -- Vertex AI ------------------------------------------------------------------------------------

def test_vertex_predict_embeddings(google, gateway_factory, account):
    gw = gateway_factory(config(vertex_provider(google)), env={"VERTEX_PRIVATE_KEY": account[0]})
    answer = gw.client().embeddings.create(model="embed", input=["one two three", "four"], dimensions=2)
    assert [d.embedding for d in answer.data] == [[13.0, 0.0], [4.0, 1.0]]
    assert answer.usage.prompt_tokens == 4  # the sum of Vertex's token_count statistics
    sent = google.requests[-1]
    assert sent["path"] == "/v1/projects/test-project/locations/europe-west4/publishers/google/models/text-embedding-005:predict"
    assert sent["token"] in google.tokens
    assert sent["body"] == {"instances": [{"content": "one two three"}, {"content": "four"}], "parameters": {"outputDimensionality": 2}}


def test_vertex_error_is_an_openai_error(google, gateway_factory, account):
    gw = gateway_factory(config(vertex_provider(google)), env={"VERTEX_PRIVATE_KEY": account[0]})
    google.default = GeminiReply(status=500)
    with pytest.raises(openai.InternalServerError) as info:
        gw.client().embeddings.create(model="embed", input="x")
    assert info.value.status_code == 502 and "vx" in info.value.body["message"]


# -- the encoding on its own ----------------------------------------------------------------------

def test_base64_is_float32_little_endian():
    assert to_base64([0.1, -0.2, 0.5]) == "zczMPc3MTL4AAAA/"  # wire-formats-2.md 3.1's worked example
    assert from_base64("zczMPc3MTL4AAAA/") == pytest.approx([0.1, -0.2, 0.5])


def test_an_answer_already_in_the_asked_format_is_passed_on_as_is():
    data = b'{"data": [{"embedding": "zczMPc3MTL4AAAA/"}]}'
    assert in_format({"data": [{"embedding": "zczMPc3MTL4AAAA/"}]}, data, EmbeddingContext(model="m", encoding_format="base64")) is data
    converted = in_format({"data": [{"embedding": "AAAAPw=="}]}, data, EmbeddingContext(model="m", encoding_format="float"))
    assert converted == b'{"data":[{"embedding":[0.5]}]}'


def test_an_openai_host_ignoring_the_format_still_answers_base64(fake_factory, gateway_factory):
    fake = fake_factory("oa")
    fake.default = Reply(float_only=True)
    gw = gateway_factory(config(provider("oa", fake, models=["e"])))
    answer = gw.client().embeddings.create(model="e", input="ab")  # SDK default: asks base64, decodes strings only
    assert answer.data[0].embedding == [2.0, 0.0, 0.25, 0.5]
