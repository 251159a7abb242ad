"""Capacity limits of one room, and argument validation at the boundary."""

from __future__ import annotations

import pytest

from kasagi.core.commands import ActCommand, JoinCommand, LeaveCommand, OpenCommand
from kasagi.core.errors import Full, InvalidArgument
from kasagi.core.room import RoomConfig
from kasagi.core.values import ValueLimits
from kasagi.testing import make_room


def test_a_full_room_refuses_new_members_but_not_returning_ones():
    """With max_members 2 a third member gets kasagi.error.full; a member in its grace period may come back."""
    room = make_room(config=RoomConfig(max_members=2, grace_ms=1000))
    room.join("alice", "s1", None, 0)
    room.join("bob", "s2", None, 0)
    with pytest.raises(Full) as info:
        room.join("carol", "s3", None, 0)
    assert info.value.details()["retryable"] is True
    room.leave("bob", "s2", 10)
    room.join("bob", "s4", None, 20)
    room.join("alice", "s5", None, 20)
    room.expire(10_000)
    assert "carol" not in room.state["members"]


def test_a_member_leaving_for_good_frees_a_place():
    """Once a member's grace period ends, a new member fits."""
    room = make_room(config=RoomConfig(max_members=1, grace_ms=1000))
    room.join("alice", "s1", None, 0)
    room.leave("alice", "s1", 0)
    with pytest.raises(Full):
        room.join("bob", "s2", None, 500)
    room.expire(1000)
    room.join("bob", "s2", None, 1000)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: OpenCommand.from_wamp([], {}), "room"),
        (lambda: OpenCommand.from_wamp(["Bad-Room"], {}), "room"),
        (lambda: OpenCommand.from_wamp(["r" * 65], {}), "room"),
        (lambda: OpenCommand.from_wamp(["r1\n"], {}), "room"),
        (lambda: OpenCommand.from_wamp(["r", "t" * 65], {}), "type"),
        (lambda: OpenCommand.from_wamp(["r", "arena", []], {}), "options"),
        (lambda: OpenCommand.from_wamp(["r"], {"room": "s"}), "room"),
        (lambda: OpenCommand.from_wamp(["r"], {"owner": "bob"}), "owner"),
        (lambda: JoinCommand.from_wamp([{"epoch": -1, "seq": 0}], {}), "since.epoch"),
        (lambda: JoinCommand.from_wamp([], {"member": "bob"}), "member"),
        (lambda: LeaveCommand.from_wamp(["bob"], {}), "args"),
        (lambda: LeaveCommand.from_wamp([], {"session": 1}), "session"),
        (lambda: ActCommand.from_wamp(["move", {}, 0], {}), "cseq"),
        (lambda: ActCommand.from_wamp(["move", {}, 1], {"member": "bob"}), "member"),
        (lambda: ActCommand.from_wamp(["x" * 65, {}, 1], {}), "action"),
        (lambda: ActCommand.from_wamp(["set", {"v": "x" * 101}, 1], {}, ValueLimits(max_string=100)), "args.v"),
    ],
)
def test_malformed_calls_are_refused_at_the_boundary(build, field):
    """Every malformed argument is refused with invalid_argument naming the field."""
    with pytest.raises(InvalidArgument) as info:
        build()
    assert info.value.field == field


def test_error_details_are_bounded():
    """An error never echoes more than a bounded piece of what arrived."""
    with pytest.raises(InvalidArgument) as info:
        ActCommand.from_wamp(["move", {}, 1], {"k" * 10_000: 1})
    assert all(len(str(v)) <= 256 for v in info.value.details().values())
