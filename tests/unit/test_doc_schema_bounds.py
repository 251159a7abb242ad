"""``doc`` schemas: what can't be bounded is refused at open, and every action's check has a
work budget linear in the value it writes, whatever the document's size."""

from __future__ import annotations

import json

import pytest

from kasagi.core.errors import InvalidArgument, Rejected
from kasagi.core.room import Accepted, Room
from kasagi.testing import make_room


def doc_room(schema: dict, members: tuple[str, ...] = ("alice",)) -> Room:
    room = make_room(type_name="doc", options={"schema": schema})
    for m in members:
        room.join(m, f"s-{m}", None, 0)
    return room


def nested(keyword: str, depth: int, width: int = 2) -> dict:
    schema: dict = {"type": "object"}
    for _ in range(depth):
        schema = {keyword: [schema] * width}
    return schema


def nested_if(depth: int) -> dict:
    schema: dict = {"type": "object"}
    for _ in range(depth):
        schema = {"if": schema, "then": schema, "else": schema}
    return schema


def steps(room: Room) -> int:
    return room.type._check.meter.spent  # type: ignore[attr-defined]


UNBOUNDED = {
    "deep oneOf": (nested("oneOf", 7), "nests too many subschemas"),
    "deep anyOf": (nested("anyOf", 7), "nests too many subschemas"),
    "deep allOf": (nested("allOf", 7), "nests too many subschemas"),
    "chained refs": (
        {
            "$defs": {
                f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(8)
            }
            | {"d8": {"type": "object"}}
        }
        | {"$ref": "#/$defs/d0"},
        "nests too many subschemas",
    ),
    "nested if/then/else": (nested_if(4), "nests too many subschemas"),
    "dependentSchemas fan-out": (
        {"dependentSchemas": {f"k{i}": nested("anyOf", 3) for i in range(10)}},
        "nests too many subschemas",
    ),
    "self-reference in place": (
        {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
        "refers to itself",
    ),
    "uniqueItems over maps": (
        {"properties": {"l": {"type": "array", "uniqueItems": True, "items": {"type": "object"}}}},
        "uniqueItems",
    ),
    "uniqueItems without items": ({"type": "array", "uniqueItems": True}, "uniqueItems"),
    "huge schema": ({"properties": {f"p{i:05d}": {"type": "string", "maxLength": i} for i in range(1000)}}, "too big"),
}


@pytest.mark.parametrize("case", list(UNBOUNDED))
def test_schemas_whose_cost_cannot_be_bounded_are_refused_at_open(case: str):
    """Deep allOf/anyOf/oneOf/$ref/if nesting, wide dependentSchemas, an in-place $ref cycle,
    uniqueItems over non-scalars and a schema over 16 KiB are refused with invalid_argument."""
    schema, message = UNBOUNDED[case]
    with pytest.raises(InvalidArgument) as info:
        make_room(type_name="doc", options={"schema": schema})
    assert message in str(info.value)
    assert info.value.field.startswith("options.schema")


def test_recursive_schemas_through_properties_and_scalar_unique_items_are_fine():
    """A tree schema (a $ref cycle through properties/items) and uniqueItems over strings open and apply."""
    schema = {
        "$defs": {
            "node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
        },
        "properties": {
            "tree": {"$ref": "#/$defs/node"},
            "tags": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
        },
    }
    room = doc_room(schema)
    assert isinstance(room.act("alice", 1, "set", {"path": ["tree"], "value": {"kids": [{"kids": []}]}}), Accepted)
    with pytest.raises(Rejected):
        room.act("alice", 2, "set", {"path": ["tree", "kids", 0, "kids"], "value": 5})
    assert isinstance(room.act("alice", 3, "set", {"path": ["tags"], "value": ["a", "b"]}), Accepted)
    with pytest.raises(Rejected):
        room.act("alice", 4, "set", {"path": ["tags", 2], "value": "a"})


PLAIN = {
    "type": "object",
    "required": ["items"],
    "additionalProperties": False,
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 6000,
            "items": {
                "type": "object",
                "required": ["x"],
                "additionalProperties": False,
                "properties": {"x": {"type": "integer", "minimum": 0}, "y": {"type": "string", "maxLength": 8}},
            },
        },
    },
}


def big_plain_room(n: int) -> Room:
    room = doc_room(PLAIN)
    room.state["items"] = [{"x": i, "y": "s"} for i in range(n)]
    room.committed["items"] = [{"x": i, "y": "s"} for i in range(n)]
    return room


def test_a_plain_schema_checks_only_the_changed_path_whatever_the_document_size():
    """Over a 5000-element document, a set of one element costs the same few validator steps
    as over a 5-element one; the checks still refuse what breaks the schema anywhere on the path."""
    small, big = big_plain_room(5), big_plain_room(5000)
    for cseq, room in enumerate((small, big), start=1):
        assert isinstance(room.act("alice", cseq, "set", {"path": ["items", 3], "value": {"x": 7}}), Accepted)
    assert steps(big) == steps(small) < 40
    bad = [
        (["items", 1, "x"], -1),
        (["items", 1, "z"], 1),
        (["other"], 1),
        (["items", 5000], {"y": "no x"}),
        (["items"], "not a list"),
    ]
    for i, (path, value) in enumerate(bad):
        with pytest.raises(Rejected):
            big.act("alice", 10 + i, "set", {"path": path, "value": value})
        assert steps(big) < 40
    with pytest.raises(Rejected) as info:
        big.act("alice", 20, "del", {"path": ["items"]})
    assert "required" in info.value.expected
    with pytest.raises(Rejected):
        big.act("alice", 21, "del", {"path": ["items", 0, "x"]})
    assert isinstance(big.act("alice", 22, "del", {"path": ["items", 0]}), Accepted)


def test_the_worst_allowed_schema_over_a_large_document_is_refused_within_its_budget():
    """The most expensive schema allowed (64 subschemas over one value, each looking at the
    whole document) over a 5000-element document: an act is refused with rejected naming the
    budget, having spent at most the budget (base + 1 per written node) plus one error."""
    element = {"type": "object", "properties": {"x": {"type": "integer"}}}
    worst = {"anyOf": [{"type": "object", "properties": {"items": {"type": "array", "items": element}}}] * 63}
    assert len(json.dumps(worst)) < 16_384
    room = doc_room(worst)
    room.state["items"] = [{"x": i} for i in range(5000)]
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "set", {"path": ["items", 0], "value": {"x": 1}})
    assert info.value.field == "options.schema"
    assert "budget" in str(info.value) and "1002 validator steps" in info.value.expected
    assert steps(room) <= 1002 + 8
    assert room.state["items"][0] == {"x": 0}


def test_an_expensive_keyword_is_charged_its_cost():
    """A const with a large value costs its size at each use, so checking many small values
    against it exhausts the budget (refused), while one value of that size is accepted."""
    big = {f"k{i}": i for i in range(300)}
    schema = {"properties": {"l": {"type": "array", "items": {"const": big}}}}
    room = doc_room(schema)
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "set", {"path": ["l"], "value": [0] * 10})
    assert "budget" in str(info.value)
    assert isinstance(room.act("alice", 2, "set", {"path": ["l"], "value": [big]}), Accepted)
