"""Boundary validation: values that may enter room state, and the shape of each call."""

from __future__ import annotations

import math

import pytest

from kasagi.core.commands import AccessQuery, ActCommand, JoinCommand, OpenCommand, parse_room_id
from kasagi.core.errors import InvalidArgument
from kasagi.core.room import StreamPosition
from kasagi.core.values import MAX_SAFE_INTEGER, ValueLimits, check_value


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (2**53, "v"),
        (-(2**53), "v"),
        (math.inf, "v"),
        (math.nan, "v"),
        (b"bytes", "v"),
        ({1: "x"}, "v"),
        ({"a": [1, {"b": object()}]}, "v.a[1].b"),
        ("x" * 16_385, "v"),
    ],
)
def test_values_that_clients_cannot_reproduce_are_refused(value, field):
    """Unsafe integers, non-finite floats, bytes, non-string keys and odd types are refused, naming the position."""
    with pytest.raises(InvalidArgument) as info:
        check_value(value, "v")
    assert info.value.field == field
    assert info.value.expected and info.value.got


def test_deep_and_huge_values_are_refused():
    """Values nested too deeply or with too many nodes are refused before use."""
    deep: list = []
    cur = deep
    for _ in range(40):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        check_value(deep, "v")
    with pytest.raises(InvalidArgument, match="too large"):
        check_value(list(range(20)), "v", ValueLimits(max_nodes=10))
    assert check_value([MAX_SAFE_INTEGER, -0.5, None, True, {"k": "v"}], "v")


@pytest.mark.parametrize("room", ["", "A", "a-b", "a.b", "x" * 65, 5, None])
def test_malformed_room_ids_are_refused(room):
    """A room id must match ^[a-z0-9_]{1,64}$."""
    with pytest.raises(InvalidArgument) as info:
        parse_room_id(room)
    assert info.value.field == "room"


def test_calls_take_positional_or_keyword_arguments():
    """act(action, args, cseq, instance) reads the same positionally and by keyword; extras are refused."""
    a = ActCommand.from_wamp(["move", {"dx": 1}, 7], {})
    b = ActCommand.from_wamp([], {"action": "move", "args": {"dx": 1}, "cseq": 7})
    assert a == b
    assert ActCommand.from_wamp(["move", {}, 1, 2], {}) == ActCommand.from_wamp(
        [], {"action": "move", "cseq": 1, "instance": 2}
    )
    with pytest.raises(InvalidArgument, match="at most 4"):
        ActCommand.from_wamp(["move", {}, 1, 2, 3], {})
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp(["move"], {"action": "move", "cseq": 1})
    assert info.value.field == "action"
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp(["move", {}, 1], {"who": "bob"})
    assert info.value.field == "who"


@pytest.mark.parametrize("instance", [0, -1, True, 1.5, "1", 2**53])
def test_instance_must_be_null_or_a_positive_safe_integer(instance):
    """A client instance id outside 1..2**53-1 (or not an integer) is refused; null is the default instance."""
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp(["move", {}, 1, instance], {})
    assert info.value.field == "instance"
    assert ActCommand.from_wamp(["move", {}, 1, None], {}).instance == 0


@pytest.mark.parametrize("cseq", [0, -1, True, 1.5, "1", None, 2**53])
def test_cseq_must_be_a_positive_safe_integer(cseq):
    """cseq outside 1..2**53-1 (or not an integer) is refused."""
    args = ["move", {}, cseq] if cseq is not None else ["move", {}]
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp(args, {})
    assert info.value.field == "cseq"


def test_open_defaults_to_arena_and_checks_options():
    """open(room) is an arena with no options; options must be a map."""
    assert OpenCommand.from_wamp(["r1"], {}) == OpenCommand("r1", "arena", {})
    with pytest.raises(InvalidArgument) as info:
        OpenCommand.from_wamp(["r1", "doc", [1]], {})
    assert info.value.field == "options"


@pytest.mark.parametrize(
    "since", [5, {"epoch": 1}, {"epoch": "1", "seq": 2}, {"epoch": 1, "seq": -1}, {"epoch": True, "seq": 1}]
)
def test_malformed_since_is_refused(since):
    """since must be null or {epoch, seq} with integers >= 0."""
    with pytest.raises(InvalidArgument) as info:
        JoinCommand.from_wamp([since], {})
    assert info.value.field.startswith("since")
    assert JoinCommand.from_wamp([{"epoch": 3, "seq": 4}], {}).since == StreamPosition(3, 4)


def test_room_access_takes_exactly_one_room_id():
    """The authorizer's question names one well-formed room, by position or keyword; anything
    else is refused naming the field."""
    assert AccessQuery.from_wamp(["r1"], {}).room == "r1"
    assert AccessQuery.from_wamp([], {"room": "r1"}).room == "r1"
    for args, kwargs, field in (([], {}, "room"), (["r1", "r2"], {}, "args"), (["Bad Id"], {}, "room")):
        with pytest.raises(InvalidArgument) as info:
            AccessQuery.from_wamp(args, kwargs)
        assert info.value.field == field


def test_a_doc_room_takes_values_up_to_the_configured_limits():
    """Values are checked once, at the boundary, with the service's limits: a doc room then
    stores a string longer than the default limit when the operator allows it."""
    from kasagi.testing import make_room

    long = "x" * 20_000
    with pytest.raises(InvalidArgument):
        ActCommand.from_wamp(["set", {"path": ["a"], "value": long}, 1], {})
    cmd = ActCommand.from_wamp(["set", {"path": ["a"], "value": long}, 1], {}, ValueLimits(max_string=50_000))
    room = make_room(type_name="doc")
    room.join("alice", "s1", None, 0)
    room.act("alice", cmd.cseq, cmd.action, cmd.args)
    assert room.state["a"] == long


def test_half_characters_are_refused_and_errors_quoting_them_stay_sendable():
    """A lone surrogate (half of an emoji, which no serializer can send or store) in a value
    or a key is refused at the boundary; an error that quotes one still encodes as UTF-8."""
    for args in ({"path": ["a"], "value": "x\ud83d"}, {"path": ["a"], "value": {"\ud83d": 1}}):
        with pytest.raises(InvalidArgument) as info:
            ActCommand.from_wamp(["set", args, 1], {})
        assert "surrogate" in (info.value.got or "")
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp([], {"\ud83dz": 1})
    details = info.value.details()
    assert all(isinstance(v, str) and v.encode("utf-8") for v in details.values() if isinstance(v, str))
    assert details["field"].endswith("z")
