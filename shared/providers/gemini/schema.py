"""JSON Schema -> the OpenAPI 3.0 subset Gemini accepts, for tool ``parameters`` and for
``responseSchema``: :func:`clean_schema` and :func:`function_parameters`.

Gemini's subset has no ``$ref``, so references are inlined, and inlining is where a schema can
explode: a definition that refers to itself twice doubles at every level, and even without
recursion a chain of definitions each used twice grows exponentially. So the cleaner works to a
budget that is linear in the size of the schema:

* a definition is expanded at most :data:`RECURSION_LEVELS` times on one path (a tree or a linked
  list is unrolled that many levels), and at most :data:`MAX_REF_DEPTH` references are followed on
  one path; past either bound the reference becomes a stub without structure, ``{"type":
  "object"}`` (or the definition's scalar type);
* all the work (and so the output) is bounded: :data:`GROWTH` times the size of the schema, at
  least :data:`MIN_BUDGET` and at most :data:`MAX_BUDGET` units, never less than twice the schema
  itself; a schema that needs more is refused with a 400 naming the field.

A unit is one JSON value (an object or array also counts its members, a string one per
:data:`CHARS_PER_UNIT` characters).
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest

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
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})

MAX_DEPTH = 32  # nesting of sub-schemas; deeper ones become {}
MAX_REF_DEPTH = 8  # references followed on one path
RECURSION_LEVELS = 3  # expansions of one definition on one path
GROWTH, MIN_BUDGET, MAX_BUDGET = 10, 1_000, 50_000
CHARS_PER_UNIT = 64


def size_of(value: Any) -> int:
    """The size of a JSON value in budget units (iterative: client values may be deeply nested)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            total += 1 + len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            total += 1 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            total += 1 + len(item) // CHARS_PER_UNIT
        else:
            total += 1
    return total


def clean_schema(schema: Any, param: str | None = None) -> dict[str, Any]:
    """JSON Schema -> the OpenAPI subset Gemini takes: local ``$ref``s inlined (within the bounds
    above), ``const`` -> ``enum``, ``oneOf`` -> ``anyOf``, ``allOf`` merged, ``["x", "null"]`` ->
    ``nullable``, unknown keywords dropped. ``param`` names the field in a 400."""
    if not isinstance(schema, dict):
        return {}
    return _Cleaner(schema, param).clean(schema, 0)


def function_parameters(parameters: Any, param: str | None = None) -> dict[str, Any] | None:
    """Declaration ``parameters``: None for "no parameters" (Gemini rejects empty OBJECT properties)."""
    cleaned = clean_schema(parameters, param) if isinstance(parameters, dict) else {}
    if cleaned.get("type", "object") == "object" and not cleaned.get("properties"):
        return None
    return cleaned


class _Cleaner:
    """One cleaning: the schema's definitions, the references open on the current path, and the
    work done so far against the budget."""

    def __init__(self, root: dict[str, Any], param: str | None) -> None:
        self.root = root
        self.param = param
        self.defs: dict[str, Any] = {}
        for name in ("definitions", "$defs"):
            if isinstance(root.get(name), dict):
                self.defs.update(root[name])
        own = size_of(root)
        self.budget = max(2 * own, min(MAX_BUDGET, max(MIN_BUDGET, GROWTH * own)))
        self.spent = 0
        self.open: dict[str, int] = {}  # definition -> expansions on the current path
        self.refs = 0  # references followed on the current path
        self._sizes: dict[int, int] = {}  # id of a copied container -> its size

    def charge(self, units: int) -> None:
        self.spent += units
        if self.spent > self.budget:
            where = f"'{self.param}'" if self.param else "the schema"
            raise BadRequest(f"{where} is too large once its $refs are inlined for Gemini (recursive or much reused definitions); "
                             f"Gemini's schema dialect has no $ref", "schema_too_large", self.param)

    def charge_value(self, value: Any) -> None:
        """Charge for a value copied into the output as it is (descriptions, enums, examples…)."""
        if isinstance(value, (dict, list)):
            size = self._sizes.get(id(value))
            if size is None:
                size = self._sizes[id(value)] = size_of(value)
            self.charge(size)
        else:
            self.charge(size_of(value))

    def clean(self, schema: Any, depth: int) -> dict[str, Any]:
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return {}
        self.charge(1 + len(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.inline(ref, schema, depth)
        src = dict(schema)
        if "const" in src and "enum" not in src:
            src["enum"] = [src["const"]]
        if "oneOf" in src and "anyOf" not in src:
            src["anyOf"] = src["oneOf"]
        all_of = src.pop("allOf", None)
        if isinstance(all_of, list):
            merged: dict[str, Any] = {}
            for part in reversed(all_of):  # on a conflict the first part wins, and the schema's own keywords over all
                if isinstance(part, dict):
                    self.charge(len(part))
                    merged.update(part)
            src = {**merged, **src}
            if isinstance(merged.get("$ref"), str) or "allOf" in merged:
                return self.clean(src, depth + 1)  # a part's reference or nested allOf: resolve it too
        return self.keywords(src, depth)

    def inline(self, ref: str, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """A local reference (``#/$defs/x``, ``#/definitions/x``, ``#``) replaced by its target,
        merged with the reference's own siblings; a stub past the recursion bounds."""
        name = "#" if ref == "#" else ref.rsplit("/", 1)[-1]
        target = self.root if name == "#" else self.defs.get(name)
        target = target if isinstance(target, dict) else {}
        if self.open.get(name, 0) >= RECURSION_LEVELS or self.refs >= MAX_REF_DEPTH:
            return self.stub(schema, target)
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        self.open[name] = self.open.get(name, 0) + 1
        self.refs += 1
        try:
            return self.clean(merged, depth + 1)
        finally:
            self.open[name] -= 1
            self.refs -= 1

    def stub(self, schema: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
        """What a reference becomes past the bounds: its type without structure, and its description."""
        kind = target.get("type")
        out: dict[str, Any] = {"type": kind if isinstance(kind, str) and kind in SCALAR_TYPES else "object"}
        description = schema.get("description", target.get("description"))
        if isinstance(description, str):
            self.charge_value(description)
            out["description"] = description
        return out

    def keywords(self, src: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        type_ = src.get("type")
        if isinstance(type_, list):
            self.charge(len(type_))
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
            if key == "properties":
                if isinstance(value, dict):
                    props = {name: self.clean(sub, depth + 1) for name, sub in value.items()}
                    if props:
                        out["properties"] = props
            elif key == "items":
                out["items"] = self.clean(value, depth + 1)
            elif key == "anyOf":
                if isinstance(value, list):
                    self.any_of(value, out, depth)
            elif key == "enum":
                if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                    self.charge_value(value)
                    out["enum"] = value
            elif key == "format":
                if isinstance(value, str) and value in SCHEMA_FORMATS.get(str(out.get("type")), frozenset()):
                    out["format"] = value
            elif key == "required":
                if isinstance(value, list):
                    self.charge_value(value)
                    declared = out.get("properties") or src.get("properties")
                    names = declared if isinstance(declared, dict) else {}
                    kept = [n for n in value if isinstance(n, str) and n in names]
                    if kept:
                        out["required"] = kept
            elif key != "type":
                self.charge_value(value)
                out[key] = value
        if "enum" in out and "type" not in out:
            out["type"] = "string"  # Gemini enums are string-typed; a bare ``const`` had no type
        return out

    def any_of(self, value: list[Any], out: dict[str, Any], depth: int) -> None:
        self.charge(len(value))
        branches = [self.clean(b, depth + 1) for b in value if isinstance(b, dict)]
        nulls = [b for b in value if isinstance(b, dict) and b.get("type") == "null"]
        branches = [b for b in branches if b and b != {"nullable": True}]
        if nulls:
            out["nullable"] = True
        if len(branches) == 1:
            out.update({k: v for k, v in branches[0].items() if k not in out})
        elif branches:
            out["anyOf"] = branches
