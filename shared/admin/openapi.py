"""The OpenAPI 3.1 document of the admin API, generated from the router's table.

Why generated: a hand-written document drifts from the code the first time an endpoint is added;
here every route the router serves appears exactly once, with the schemas it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from .. import __version__


class RouteLike(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def auth(self) -> bool: ...
    @property
    def body(self) -> str | None: ...
    @property
    def answer(self) -> str | None: ...
    @property
    def status(self) -> int: ...
    @property
    def query(self) -> tuple[tuple[str, bool, str], ...]: ...
    @property
    def tag(self) -> str: ...


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: Iterable[str] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
VERSION = {"type": "integer", "minimum": 0, "description": "config version"}
MASKED_CONFIG = {**ANY_OBJECT, "description": "api.yaml as a mapping; secrets masked as '…' + last 4 characters"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
COUNTS = {"requests": INTEGER, "prompt_tokens": INTEGER, "completion_tokens": INTEGER}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _obj(["error"], error=_obj(["message", "type", "param", "code"], message=STRING, type=STRING, param=NULLABLE_STRING,
                                       code=NULLABLE_STRING),
                  version={**VERSION, "description": "409 version_conflict: the current version"},
                  upstream_status={"type": ["integer", "null"], "description": "502 upstream_error: the upstream's status"}),
    "Object": ANY_OBJECT,
    "Status": _obj(["admin_enabled", "gateway_version"], admin_enabled={"type": "boolean"}, gateway_version=STRING),
    "Login": _obj(["key"], key=STRING),
    "Session": _obj(["key_id", "expires_at", "csrf_token"], key_id=STRING, expires_at=NUMBER, csrf_token=STRING),
    "Config": _obj(["version", "config"], version=VERSION, config=MASKED_CONFIG, source=NULLABLE_STRING,
                   updated_at={"type": ["number", "null"]}, updated_by=NULLABLE_STRING),
    "ConfigWrite": _obj(["version", "config"], version=VERSION, config=ANY_OBJECT),
    "ConfigWritten": _obj(["version", "config"], version=VERSION, config=MASKED_CONFIG),
    "ConfigCheck": _obj(["config"], config=ANY_OBJECT),
    "Validation": _obj(["ok"], ok={"type": "boolean"},
                       errors={"type": "array", "items": _obj(["path", "message"], path=STRING, message=STRING)}),
    "VersionOnly": _obj(["version"], version=VERSION),
    "Yaml": {"type": "string", "description": "api.yaml text"},
    "Provider": {**ANY_OBJECT, "description": "one providers[] entry of api.yaml"},
    "Providers": _obj(["version", "providers"], version=VERSION, providers={"type": "array", "items": {
        "allOf": [_ref("Provider"), _obj(engine_detected=STRING, upstream_url=STRING)]}}),
    "ProviderWrite": _obj(["version", "provider"], version=VERSION, provider=_ref("Provider")),
    "ProviderWritten": _obj(["version", "provider"], version=VERSION, provider=_ref("Provider")),
    "ProviderOnly": _obj(["provider"], provider=_ref("Provider")),
    "Preview": _obj(["engine", "upstream_url"], engine=STRING, upstream_url=STRING),
    "Models": _obj(["models"], models={"type": "array", "items": STRING}),
    "TestRequest": _obj(model={**STRING, "description": "default: the provider's first model"}),
    "TestResult": _obj(["ok", "status", "latency_ms", "reply", "error"], ok={"type": "boolean"}, status=INTEGER, latency_ms=NUMBER,
                       reply=NULLABLE_STRING, error=NULLABLE_STRING),
    "Key": _obj(["id", "api", "role"], id={**STRING, "description": "16 hex digits of the key's SHA-256"}, name=STRING,
                api={**STRING, "description": "masked, except once in the answer of POST /keys"},
                role={"enum": ["admin", "user"]}, model={"type": ["array", "null"]}, preferences=ANY_OBJECT),
    "Keys": _obj(["version", "keys"], version=VERSION, keys={"type": "array", "items": _ref("Key")}),
    "KeyWrite": _obj(["version", "key"], version=VERSION, key=_obj(name=STRING, role={"enum": ["admin", "user"]},
                                                                  model={"type": "array"}, preferences=ANY_OBJECT)),
    "KeyWritten": _obj(["version", "key"], version=VERSION, key=_ref("Key")),
    "Mappings": _obj(["version", "mappings"], version=VERSION, mappings={
        "type": "object", "additionalProperties": {"type": "object", "additionalProperties": STRING},
        "description": "unified model name -> {provider name: upstream model}"}),
    "MappingWrite": _obj(["version", "targets"], version=VERSION, targets={"type": "object", "additionalProperties": STRING}),
    "MappingsWritten": _obj(["version", "mappings"], version=VERSION, mappings={"type": "object"}),
    "Health": _obj(["channels", "recent_failures"], channels={"type": "array", "items": _obj(
        ["id", "provider", "model", "cooldown_seconds", "keys"], id=STRING, provider=STRING, model=STRING, cooldown_seconds=NUMBER,
        keys={"type": "array", "items": _obj(["id", "masked", "cooldown_seconds", "rejected"], id=STRING, masked=STRING,
                                             cooldown_seconds=NUMBER, rejected={"type": "boolean"})})},
        recent_failures={"type": "array", "items": _obj(at=NUMBER, channel=STRING, credential=NULLABLE_STRING,
                                                         status=INTEGER, reason=STRING)}),
    "Usage": _obj(["days", "rows"], days={"type": "array", "items": STRING}, rows={"type": "array", "items": _obj(
        day=STRING, key_id=STRING, key_name=NULLABLE_STRING, model=STRING, provider=NULLABLE_STRING, **COUNTS)}),
    "Audit": _obj(["entries"], entries={"type": "array", "items": _obj(
        at=NUMBER, key_id={**NULLABLE_STRING, "description": "null for the seed from the file config"}, action=STRING,
        target=STRING, version=INTEGER,
        changes={"type": "array", "items": _obj(["path"], path=STRING, old={}, new={})})}),
    "Html": {"type": "string"},
    "File": {"type": "string"},
}

MEDIA = {"Yaml": "text/yaml", "Html": "text/html", "File": "application/octet-stream"}
ERRORS = {"400": "invalid request (param names the field)", "401": "admin_auth_required", "403": "admin_only or csrf_failed",
          "404": "not found, or admin_disabled", "409": "version_conflict (with the current version) or already_exists"}


def _content(schema: str) -> dict[str, Any]:
    return {MEDIA.get(schema, "application/json"): {"schema": _ref(schema)}}


def _operation(route: RouteLike) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": name, "in": "path", "required": True, "schema": STRING}
                                    for name in re.findall(r"\{(\w+)\}", route.path)]
    params += [{"name": name, "in": "query", "required": required, "description": text, "schema": INTEGER}
               for name, required, text in route.query]
    ok: dict[str, Any] = {"description": "OK"}
    if route.answer is not None and route.status != 204:
        ok["content"] = _content(route.answer)
    responses: dict[str, Any] = {str(route.status): ok}
    for status, text in ERRORS.items():
        if route.auth or status in ("400", "404"):
            responses[status] = {"description": text, "content": _content("Error")}
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', route.path).strip('_') or 'root'}",
        "tags": [route.tag],
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if route.body is not None:
        content = _content(route.body)
        if route.body in ("ConfigCheck",):
            content["text/yaml"] = {"schema": _ref("Yaml")}
        operation["requestBody"] = {"required": route.body != "TestRequest", "content": content}
    if not route.auth:
        operation["security"] = []
    return operation


def document(routes: Iterable[RouteLike]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "uni-gateway admin API", "version": __version__,
                 "description": "Configure the gateway at run time. Every write names the config version it is based on."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an admin gateway key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "gw_admin",
                            "description": "set by POST /admin/api/login; non-GET requests also send X-CSRF-Token"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}, {"session": []}],
    }
