"""AWS Lambda door: ``functions/aws/handler.handler`` invoked with real Lambda event payloads.

A small runtime loop in a separate process imports the handler module the way Lambda does (from the
package root, configured only by environment variables) and invokes it once per event, so one process
behaves like one warm Lambda instance. Events follow the payload shapes in AWS's documentation:
Lambda Function URL and API Gateway HTTP API (payload format 2.0), API Gateway REST API (1.0).
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import pytest

from tests.door_process import ADMIN_KEY, MODELS, ROOT, SPEECH, USER_KEY, ServerProcess, chat_body, door_env, speech_audio, sse_events, stream_text
from tests.fakes.openai_fake import Reply
from tests.processes import stop_process

RUNTIME = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])  # Lambda puts the package root (/var/task) on sys.path
from functions.aws.handler import handler

class Context:
    function_name = "uni-gateway"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:uni-gateway"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    def get_remaining_time_in_millis(self):
        return 300000

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    started = time.perf_counter()
    response = handler(json.loads(line), Context())
    print(json.dumps({"response": response, "seconds": time.perf_counter() - started}), flush=True)
"""


class LambdaInstance:
    """One warm instance: ``invoke(event)`` returns what the handler returned to the Lambda runtime."""

    def __init__(self, env: dict[str, str]) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-c", RUNTIME, ROOT], env=env, cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        assert self._read(60) == {"ready": True}
        self.last_seconds = 0.0

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stderr.seek(0)
            raise RuntimeError("the Lambda runtime loop did not answer:\n" + self.stderr.read().decode(errors="replace"))
        return json.loads(line)

    def invoke(self, event: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        answer = self._read(timeout)
        self.last_seconds = answer["seconds"]
        return answer["response"]

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        self.stderr.close()


# -- event payloads (shapes from the AWS Lambda and API Gateway developer guides) -----------------

def _body(body: Any, base64_body: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (base64.b64encode(raw).decode(), True) if base64_body else (raw.decode(), False)


def function_url_event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                       query: str = "", cookies: list[str] | None = None, base64_body: bool = False) -> dict[str, Any]:
    text, encoded = _body(body, base64_body)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abcdefghijkl.lambda-url.us-east-1.on.aws", "x-forwarded-proto": "https",
                    "x-forwarded-port": "443", "x-forwarded-for": "203.0.113.7", "user-agent": "OpenAI/Python 3.54.0",
                    "x-amzn-trace-id": "Root=1-62ecd163-5f302e550dcde3b12402207d", **(headers or {})},
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghijkl", "domainName": "abcdefghijkl.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijkl",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "OpenAI/Python 3.54.0"},
            "requestId": "id-1", "routeKey": "$default", "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if cookies:
        event["cookies"] = cookies
    if text is not None:
        event["body"] = text
    return event


def http_api_event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                   cookies: list[str] | None = None, base64_body: bool = False) -> dict[str, Any]:
    event = function_url_event(method, path, body, headers, cookies=cookies, base64_body=base64_body)
    domain = "r3pmxmplak.execute-api.us-east-1.amazonaws.com"
    event["headers"]["host"] = domain
    event["routeKey"] = "ANY /{proxy+}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"].update(accountId="123456789012", apiId="r3pmxmplak", domainName=domain,
                                   domainPrefix="r3pmxmplak", routeKey="ANY /{proxy+}")
    return event


def rest_api_event(method: str, path: str, body: Any = None, multi_headers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    text, _ = _body(body, False)
    multi = {"Host": ["r3pmxmplak.execute-api.us-east-1.amazonaws.com"], "X-Forwarded-Proto": ["https"],
             "X-Forwarded-Port": ["443"], **(multi_headers or {})}
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi.items()}, "multiValueHeaders": multi,
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourceId": "2gxmpl", "resourcePath": "/{proxy+}", "httpMethod": method,
                           "path": "/prod" + path, "accountId": "123456789012", "protocol": "HTTP/1.1",
                           "stage": "prod", "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
                           "requestId": "e0ad7e38-8d7e-4b04-a3d0-1b8d0ea3e1d4", "apiId": "r3pmxmplak",
                           "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.0"},
                           "requestTimeEpoch": 1583798639428},
        "body": text, "isBase64Encoded": False,
    }


def bearer(key: str = USER_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


def json_body(response: dict[str, Any]) -> Any:
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


# -- fixtures -------------------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("fresh_upstream")


@pytest.fixture(scope="module")
def instance(upstream):
    lam = LambdaInstance(door_env(upstream.url, AWS_LAMBDA_FUNCTION_NAME="uni-gateway"))  # Lambda sets it
    yield lam
    lam.stop()


# -- tests ----------------------------------------------------------------------------------------

def test_handler_is_mangum_around_the_one_app_without_lifespan():
    from mangum import Mangum

    import functions.aws.handler as door
    from shared.app import app

    assert isinstance(door.handler, Mangum)
    assert door.handler.app is app and door.handler.lifespan == "off"


def test_function_url_lists_models(instance):
    response = instance.invoke(function_url_event("GET", "/v1/models", headers=bearer()))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert [m["id"] for m in json_body(response)["data"]] == MODELS


def test_function_url_chat_completion(instance, upstream):
    response = instance.invoke(function_url_event("POST", "/v1/chat/completions", chat_body("hello"), bearer()))
    assert response["statusCode"] == 200, response
    answer = json_body(response)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "up says: hello"
    assert upstream.requests[0]["key"] == "sk-upstream-key-1"


def test_function_url_stream_arrives_whole_because_mangum_buffers(instance, upstream):
    upstream.then(Reply(text="one two three", chunk_delay=0.2))
    response = instance.invoke(function_url_event("POST", "/v1/chat/completions", chat_body("count", stream=True), bearer()))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/event-stream")
    assert response["isBase64Encoded"] is False  # text/* stays text in the Lambda response
    events = list(sse_events(response["body"].splitlines()))
    assert events[-1] == "[DONE]"
    assert stream_text(events) == "one two three"
    assert all(e["object"] == "chat.completion.chunk" for e in events if isinstance(e, dict))
    assert instance.last_seconds >= 0.5  # the handler returned only after the whole stream was produced


def test_http_api_base64_body_and_cookies(instance):
    event = http_api_event("POST", "/v1/chat/completions", chat_body("encoded"), bearer(), cookies=["a=1", "b=2"],
                           base64_body=True)
    response = instance.invoke(event)
    assert response["statusCode"] == 200, response
    assert json_body(response)["choices"][0]["message"]["content"] == "up says: encoded"


def test_http_api_comma_joined_multi_value_header(instance):
    headers = {"x-api-key": USER_KEY, "accept": "application/json,text/event-stream"}
    response = instance.invoke(http_api_event("GET", "/v1/models", headers=headers))
    assert response["statusCode"] == 200, response


def test_rest_api_multi_value_headers(instance):
    event = rest_api_event("GET", "/v1/models", multi_headers={"Authorization": [f"Bearer {USER_KEY}"],
                                                               "Accept": ["application/json", "*/*"]})
    response = instance.invoke(event)
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    assert isinstance(response["multiValueHeaders"], dict)
    assert json.loads(response["body"])["data"][0]["id"] == "gpt-4o"


@pytest.mark.parametrize("event, status, code", [
    (function_url_event("GET", "/v1/models"), 401, "invalid_api_key"),
    (function_url_event("GET", "/v1/models", headers=bearer("sk-wrong")), 401, "invalid_api_key"),
    (function_url_event("POST", "/v1/chat/completions", chat_body(model="nope"), bearer()), 404, "model_not_found"),
    (function_url_event("POST", "/v1/chat/completions", b"{not json", bearer()), 400, "invalid_json"),
    (function_url_event("POST", "/v1/chat/completions", {"model": "gpt-4o"}, bearer()), 400, "missing_required_parameter"),
    (function_url_event("GET", "/v1/chat/completions", headers=bearer()), 405, "method_not_allowed"),
    (http_api_event("GET", "/nowhere", headers=bearer()), 404, "unknown_url"),
])
def test_errors_are_openai_error_objects(instance, event, status, code):
    response = instance.invoke(event)
    assert response["statusCode"] == status, response
    assert response["headers"]["content-type"] == "application/json"
    error = json_body(response)["error"]
    assert error["code"] == code and error["message"]


def test_upstream_failure_is_an_openai_error(instance, upstream):
    upstream.default = Reply(status=500)
    response = instance.invoke(function_url_event("POST", "/v1/chat/completions", chat_body(), bearer(ADMIN_KEY)))
    assert 500 <= response["statusCode"] < 600
    error = json_body(response)["error"]
    assert error["message"] and error["code"] and "sk-upstream" not in response["body"]


def test_body_over_lambdas_limit_gets_our_413(instance, upstream):
    """Lambda's 6 MB event must also hold the headers and the body's JSON escaping: the gateway stops at 6,000,000."""
    response = instance.invoke(function_url_event("POST", "/v1/chat/completions", chat_body("x" * 6_000_000), bearer()))
    assert response["statusCode"] == 413, response["body"][:200]
    error = json_body(response)["error"]
    assert error["code"] == "request_too_large" and "6000000 bytes" in error["message"]
    assert upstream.requests == []


def test_health_on_the_function_url_root(instance):
    response = instance.invoke(function_url_event("GET", "/"))
    assert response["statusCode"] == 200
    assert json_body(response)["status"] == "ok"


def test_warm_instance_answers_fast_after_the_first_request(instance):
    """The config is loaded once per instance: later invocations only route."""
    instance.invoke(function_url_event("GET", "/v1/models", headers=bearer()))
    started = time.perf_counter()
    for _ in range(5):
        assert instance.invoke(function_url_event("GET", "/v1/models", headers=bearer()))["statusCode"] == 200
    assert (time.perf_counter() - started) / 5 < 0.5


def test_streaming_variant_start_command_streams(upstream):
    """Streaming=true: AWS Lambda Web Adapter runs functions/aws/run.sh and proxies to it over HTTP.

    The adapter itself is AWS's binary; what is ours is the start command, run here the way the
    adapter's wrapper runs it (from the task root, PORT from the environment).
    """
    env = door_env(upstream.url, LAMBDA_TASK_ROOT=ROOT)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # python3 = this Python
    server = ServerProcess([os.path.join(ROOT, "functions", "aws", "run.sh")], env, cwd="/")
    server.env["PORT"] = str(server.port)
    upstream.then(Reply(text="a b c d", chunk_delay=0.2))
    try:
        server.start()
        arrivals, events = [], []
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat_body(stream=True),
                          headers={"authorization": f"Bearer {USER_KEY}"}, timeout=30) as response:
            assert response.status_code == 200
            for event in sse_events(response.iter_lines()):
                events.append(event)
                arrivals.append(time.perf_counter())
        assert events[-1] == "[DONE]" and stream_text(events) == "a b c d"
        assert arrivals[-1] - arrivals[0] > 0.4
    finally:
        server.stop()


# -- the other endpoints: binary bodies travel base64-encoded in Lambda events ----------------------

def test_embeddings_through_lambda(instance, upstream):
    response = instance.invoke(function_url_event("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["ab", "c"],
                                                                             "encoding_format": "float"}, bearer()))
    assert response["statusCode"] == 200, response
    assert [d["embedding"][0] for d in json_body(response)["data"]] == [2.0, 1.0]


def test_binary_speech_answer_survives_lambda(instance, upstream):
    response = instance.invoke(function_url_event("POST", "/v1/audio/speech", SPEECH, bearer()))
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "audio/mpeg"
    assert response["isBase64Encoded"] is True and base64.b64decode(response["body"]) == speech_audio()


def test_multipart_upload_in_a_base64_lambda_event(instance, upstream):
    audio = bytes(range(256)) * 4
    boundary = "lambda-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n').encode()
    body += audio + f"\r\n--{boundary}--\r\n".encode()
    headers = {"authorization": f"Bearer {USER_KEY}", "content-type": f"multipart/form-data; boundary={boundary}"}
    response = instance.invoke(function_url_event("POST", "/v1/audio/transcriptions", body, headers, base64_body=True))
    assert response["statusCode"] == 200, response
    assert json_body(response)["text"] == "transcribe of a.wav (1024 bytes, audio/wav)"
    assert upstream.requests[-1]["files"]["file"][0]["content"] == audio


def test_admin_panel_and_login_session_through_a_function_url(instance):
    """The panel's page, then a login whose cookie comes back in the Function URL's ``cookies`` list
    (payload 2.0), is sent back in the next event's ``cookies`` and opens the admin API; https (the
    ``x-forwarded-proto`` Lambda URLs set) makes it ``Secure``."""
    page = instance.invoke(function_url_event("GET", "/", headers={"accept": "text/html"}))
    assert page["statusCode"] == 200 and page["headers"]["content-type"].startswith("text/html")
    assert "default-src 'self'" in page["headers"]["content-security-policy"]
    login = instance.invoke(function_url_event("POST", "/admin/api/login", {"key": ADMIN_KEY},
                                               {"content-type": "application/json"}))
    assert login["statusCode"] == 200, login
    [cookie] = login["cookies"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    assert ADMIN_KEY not in cookie
    session = cookie.split(";", 1)[0]
    config = instance.invoke(function_url_event("GET", "/admin/api/config", cookies=[session]))
    assert config["statusCode"] == 200 and json_body(config)["version"] >= 1
    assert instance.invoke(function_url_event("GET", "/admin/api/config"))["statusCode"] == 401
    user = instance.invoke(function_url_event("GET", "/admin/api/config", headers=bearer()))
    assert user["statusCode"] == 403 and json_body(user)["error"]["code"] == "admin_only"
