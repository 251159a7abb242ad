"""Private rooms in the core: member lists at the boundary and in the room."""

from __future__ import annotations

import pytest

from kasagi.core.access import PUBLIC, RoomAccess, split_open_options
from kasagi.core.commands import OpenCommand
from kasagi.core.errors import InvalidArgument, NotAuthorized
from kasagi.testing import make_room


def test_open_splits_members_from_the_room_type_options():
    """lobby.open's members option becomes the room's access and never reaches the room type."""
    cmd = OpenCommand.from_wamp(["r1", "doc", {"members": ["alice", "bob"], "schema": {"type": "object"}}], {})
    assert cmd.access == RoomAccess.private(["alice", "bob"])
    assert cmd.options == {"schema": {"type": "object"}}


def test_open_without_members_leaves_access_unspecified():
    """Without a members option the command has no opinion on access (public when created)."""
    assert OpenCommand.from_wamp(["r1"], {}).access is None
    assert OpenCommand.from_wamp(["r1", "arena", {"members": None}], {}).access is None


@pytest.mark.parametrize(
    ("members", "field"),
    [
        ([], "options.members"),
        ("alice", "options.members"),
        (["alice", "alice"], "options.members"),
        (["alice", 7], "options.members[1]"),
        (["al ice"], "options.members[0]"),
        ([f"m{i}" for i in range(6)], "options.members"),
    ],
    ids=["empty", "string", "duplicate", "number", "bad-id", "too-many"],
)
def test_malformed_member_lists_are_refused(members, field):
    """A member list that is not a short list of distinct member ids is refused, naming the field."""
    with pytest.raises(InvalidArgument) as info:
        OpenCommand.from_wamp(["r1", "arena", {"members": members}], {}, max_members=5)
    assert info.value.field == field


def test_split_open_options_keeps_other_keys():
    """Splitting options leaves every key but members to the room type."""
    members, rest = split_open_options({"members": ["a"], "schema": {}})
    assert members == ["a"] and rest == {"schema": {}}


def test_a_private_room_refuses_others_to_join_act_or_leave():
    """Only listed members may join, act in or leave a private room; others get not_authorized."""
    room = make_room()
    room.access = RoomAccess.private(["alice"])
    room.join("alice", "s1", None, 0)
    for call in (
        lambda: room.join("mallory", "s2", None, 0),
        lambda: room.act("mallory", 1, "move", {"dx": 1, "dy": 1}),
        lambda: room.leave("mallory", "s2", 0),
    ):
        with pytest.raises(NotAuthorized) as info:
            call()
        assert info.value.details()["got"] == "mallory"
    assert set(room.state["members"]) == {"alice"}


def test_a_public_room_admits_everyone():
    """The default access admits any member."""
    assert PUBLIC.admits("anyone") and not PUBLIC.is_private
    assert PUBLIC.to_wire() is None
    assert RoomAccess.private(["b", "a"]).to_wire() == ["a", "b"]
