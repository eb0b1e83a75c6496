"""The Gemini schema cleaner on recursive and much-reused schemas: linear work, bounded output.

Gemini's schema dialect has no ``$ref``, so references are inlined. Inlined blindly, the audit's
216-byte schema (a definition referring to itself three times) took 43 s of CPU and 2.8 GB; here
recursion is unrolled :data:`RECURSION_LEVELS` levels and then stubbed, and all the work is
bounded by a budget linear in the schema's size (a schema that needs more is a 400 naming the
field).
"""

from __future__ import annotations

import json
import time

import openai
import pytest

from shared.providers.gemini import BadRequest, clean_schema, to_gemini
from shared.providers.gemini.schema import MAX_BUDGET, RECURSION_LEVELS
from tests.fakes.gemini_fake import FakeGoogle, check_schema


def node_schema(refs: int) -> dict:
    """The audit's schema: a ``$defs`` entry whose properties refer to it ``refs`` times."""
    return {"type": "object", "properties": {"root": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "object", "properties": {chr(97 + i): {"$ref": "#/$defs/node"} for i in range(refs)}}}}


TREE = {"type": "object", "properties": {"root": {"$ref": "#/$defs/node"}}, "required": ["root"],
        "$defs": {"node": {"type": "object", "description": "a tree node",
                           "properties": {"value": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["value"]}}}


def depth_of(schema: dict, key: str) -> int:
    """How many times ``key`` nests inside itself along the deepest path."""
    inner = [depth_of(sub, key) for sub in (schema.get("properties") or {}).values()]
    if "items" in schema:
        inner.append(depth_of(schema["items"], key))
    return (1 if key in (schema.get("properties") or {}) else 0) + max(inner, default=0)


def test_the_audit_schema_translates_at_once_with_bounded_output() -> None:
    schema = node_schema(3)
    assert len(json.dumps(schema)) < 250
    started = time.process_time()
    out = clean_schema(schema, "tools[0].function.parameters")
    assert time.process_time() - started < 1.0
    assert len(json.dumps(out)) < 5_000  # 1 + 3 + 9 + 27 copies of a three-property node, then stubs
    root = out["properties"]["root"]
    assert set(root["properties"]) == {"a", "b", "c"}
    assert depth_of(root, "a") == RECURSION_LEVELS
    leaf = root["properties"]["a"]["properties"]["a"]["properties"]["a"]
    assert leaf == {"type": "object"}  # past the recursion bound: an object without structure
    check_schema(out, "parameters")  # what the fake (like Gemini) accepts


def test_a_definition_that_refers_to_itself_a_dozen_times_is_a_400_naming_the_field() -> None:
    started = time.process_time()
    with pytest.raises(BadRequest) as info:
        to_gemini({"messages": [{"role": "user", "content": "x"}],
                   "tools": [{"type": "function", "function": {"name": "f", "parameters": node_schema(12)}}]})
    assert time.process_time() - started < 1.0
    assert info.value.status == 400 and info.value.param == "tools[0].function.parameters"
    assert info.value.code == "schema_too_large" and "$ref" in info.value.message


def test_a_tree_schema_is_unrolled_a_few_levels() -> None:
    out = clean_schema(TREE)
    node = out["properties"]["root"]
    for _ in range(RECURSION_LEVELS - 1):
        assert node["description"] == "a tree node" and node["required"] == ["value"]
        assert node["properties"]["value"] == {"type": "string"}
        node = node["properties"]["children"]["items"]
    assert node["properties"]["children"]["items"] == {"type": "object", "description": "a tree node"}
    assert out["required"] == ["root"]
    check_schema(out, "parameters")


def test_a_linked_list_through_the_root_reference() -> None:
    schema = {"type": "object", "properties": {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}}
    out = clean_schema(schema)
    assert out["properties"]["next"]["nullable"] is True
    assert out["properties"]["next"]["properties"]["value"] == {"type": "integer"}
    assert depth_of(out, "next") == RECURSION_LEVELS + 1  # the root itself, then the unrolled levels
    check_schema(out, "parameters")


def test_mutual_recursion_is_bounded_too() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}},
              "definitions": {"A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
                              "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}, "n": {"type": "number"}}}}}
    out = clean_schema(schema)
    assert len(json.dumps(out)) < 2_000
    check_schema(out, "parameters")


def test_reuse_without_recursion_is_inlined_in_full_as_before() -> None:
    address = {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
               "required": ["street"], "additionalProperties": False}
    schema = {"type": "object", "$defs": {"address": address},
              "properties": {"home": {"$ref": "#/$defs/address"}, "work": {"$ref": "#/$defs/address", "description": "office"},
                             "past": {"type": "array", "items": {"$ref": "#/$defs/address"}}}}
    cleaned = {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
               "required": ["street"]}
    assert clean_schema(schema) == {"type": "object", "properties": {
        "home": cleaned, "work": {**cleaned, "description": "office"}, "past": {"type": "array", "items": cleaned}}}


def test_a_doubling_chain_of_definitions_stays_linear() -> None:
    """No recursion, but each definition uses the next twice: 2**40 copies if inlined blindly."""
    defs = {f"d{i}": {"type": "object", "properties": {"l": {"$ref": f"#/$defs/d{i + 1}"}, "r": {"$ref": f"#/$defs/d{i + 1}"}}}
            for i in range(40)}
    defs["d40"] = {"type": "string"}
    started = time.process_time()
    try:
        out = clean_schema({"type": "object", "properties": {"top": {"$ref": "#/$defs/d0"}}, "$defs": defs})
    except BadRequest:
        out = {}
    assert time.process_time() - started < 1.0
    assert len(json.dumps(out)) < 40 * MAX_BUDGET


def test_a_big_description_in_a_recursive_definition_counts_by_its_size() -> None:
    """The budget counts characters too: a 200 kB description copied into every unrolled level would
    make megabytes of schema, so it is refused rather than multiplied."""
    schema = node_schema(2)
    schema["$defs"]["node"]["description"] = "d" * 200_000
    with pytest.raises(BadRequest):
        clean_schema(schema, "response_format.json_schema.schema")
    schema = node_schema(1)
    schema["$defs"]["node"]["description"] = "d" * 200_000
    assert len(json.dumps(clean_schema(schema))) < 1_000_000  # a linked list: a few copies, within the budget


def test_all_of_parts_are_merged_and_their_references_resolved() -> None:
    schema = {"type": "object", "definitions": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
              "properties": {"pet": {"allOf": [{"$ref": "#/definitions/Pet"}], "description": "the pet"},
                             "both": {"allOf": [{"properties": {"a": {"type": "string"}}}, {"type": "object", "title": "T"}]}}}
    out = clean_schema(schema)
    assert out["properties"]["pet"] == {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                                        "description": "the pet"}
    assert out["properties"]["both"] == {"type": "object", "properties": {"a": {"type": "string"}}, "title": "T"}


def test_keywords_of_the_wrong_type_are_dropped_not_a_crash() -> None:
    out = clean_schema({"type": "object", "$defs": [1], "definitions": "x", "required": "a", "properties": {
        "a": {"type": ["string", 5], "format": ["x"], "enum": [1, [2]], "required": [{"x": 1}], "allOf": [5, {"$ref": 5}]},
        "b": {"$ref": "#/$defs/missing"}, "c": {"anyOf": "x", "items": 5, "properties": [1]}}})
    assert set(out["properties"]) == {"a", "b", "c"} and "required" not in out


# -- through the gateway ------------------------------------------------------------------------------

@pytest.fixture
def google():
    fake = FakeGoogle().start()
    yield fake
    fake.stop()


def test_recursive_tool_schemas_through_the_gateway(google, gateway_factory) -> None:
    gw = gateway_factory(f"""
providers:
  - provider: g
    base_url: {google.url}/v1beta
    api: gemini-key-1
    model: [gemini-2.5-flash]
""")
    client = gw.client()
    tree = {"type": "function", "function": {"name": "plant", "parameters": TREE}}
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], tools=[tree])
    assert answer.choices[0].message.content  # the fake validates every nested schema like Gemini
    sent = google.requests[-1]["body"]["tools"][0]["functionDeclarations"][0]["parameters"]
    assert sent == clean_schema(TREE)
    wide = {"type": "function", "function": {"name": "explode", "parameters": node_schema(12)}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], tools=[wide])
    assert info.value.body["param"] == "tools[0].function.parameters" and info.value.code == "schema_too_large"
    assert len(google.requests) == 1  # refused before calling Gemini
