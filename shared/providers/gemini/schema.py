"""JSON Schema -> the OpenAPI 3.0 subset Gemini accepts, for tool ``parameters`` and for
``responseSchema``: :func:`clean_schema` and :func:`function_parameters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Schema keywords of the OpenAPI 3.0 subset Gemini accepts in ``parameters``/``responseSchema``;
# everything else ($schema, additionalProperties, strict, $ref, const, …) is dropped or rewritten.
SCHEMA_KEYWORDS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
# ``format`` values Gemini accepts per type; others ("uri", "email", …) give a 400.
SCHEMA_FORMATS: dict[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "integer": frozenset({"int32", "int64"}),
    "number": frozenset({"float", "double"}),
}


def clean_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """JSON Schema -> the OpenAPI subset Gemini takes: local ``$ref``s inlined, ``const`` -> ``enum``,
    ``oneOf`` -> ``anyOf``, ``["x", "null"]`` -> ``nullable``, unknown keywords dropped."""
    if not isinstance(schema, dict) or depth > 32:
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target if isinstance(target, dict) else {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        return clean_schema(merged, defs, depth + 1)
    src = dict(schema)
    if "const" in src and "enum" not in src:
        src["enum"] = [src["const"]]
    if "oneOf" in src and "anyOf" not in src:
        src["anyOf"] = src["oneOf"]
    all_of = src.get("allOf")
    if isinstance(all_of, list):
        for part in all_of:
            if isinstance(part, dict):
                src = {**part, **{k: v for k, v in src.items() if k != "allOf"}}
    out: dict[str, Any] = {}
    type_ = src.get("type")
    if isinstance(type_, list):
        kinds = [t for t in type_ if t != "null"]
        if len(kinds) < len(type_):
            out["nullable"] = True
        if len(kinds) == 1:
            type_ = kinds[0]
        else:
            out["anyOf"] = [{"type": t} for t in kinds]
            type_ = None
    if isinstance(type_, str):
        if type_ == "null":
            out["nullable"] = True
        else:
            out["type"] = type_
    for key, value in src.items():
        if key not in SCHEMA_KEYWORDS or (key in ("type", "anyOf") and key in out):
            continue
        if key == "properties" and isinstance(value, dict):
            props = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
            if props:
                out["properties"] = props
        elif key == "items":
            out["items"] = clean_schema(value, defs, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            branches = [clean_schema(b, defs, depth + 1) for b in value if isinstance(b, dict)]
            nulls = [b for b in value if isinstance(b, dict) and b.get("type") == "null"]
            branches = [b for b in branches if b and b != {"nullable": True}]
            if nulls:
                out["nullable"] = True
            if len(branches) == 1:
                out.update({k: v for k, v in branches[0].items() if k not in out})
            elif branches:
                out["anyOf"] = branches
        elif key == "enum":
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                out["enum"] = value
        elif key == "format":
            if value in SCHEMA_FORMATS.get(str(out.get("type")), frozenset()):
                out["format"] = value
        elif key == "required":
            if isinstance(value, list):
                names = set((out.get("properties") or src.get("properties") or {}).keys())
                kept = [n for n in value if n in names]
                if kept:
                    out["required"] = kept
        elif key != "type":
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"  # Gemini enums are string-typed; a bare ``const`` had no type
    return out


def function_parameters(parameters: Any) -> dict[str, Any] | None:
    """Declaration ``parameters``: None for "no parameters" (Gemini rejects empty OBJECT properties)."""
    cleaned = clean_schema(parameters) if isinstance(parameters, dict) else {}
    if cleaned.get("type", "object") == "object" and not cleaned.get("properties"):
        return None
    return cleaned
