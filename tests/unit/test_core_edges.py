"""The typed edges of the room core: join replies, a new epoch, stored options, and the path walk."""

from __future__ import annotations

import pytest

from kasagi.core.access import PUBLIC, RoomAccess, access_of_stored, stored_options
from kasagi.core.ops import OpError, resolve, set_op
from kasagi.core.replies import CatchUp, Snapshot
from kasagi.core.room import StreamPosition
from kasagi.core.size import json_size, size_delta
from kasagi.testing import make_room


def test_join_replies_are_frozen_values_with_their_wire_form():
    """A snapshot sends its state, a catch-up its events, each with the room, position and member."""
    snapshot = Snapshot("r1", 7, 3, "alice", {"members": {}})
    assert snapshot.to_wire() == {"room": "r1", "epoch": 7, "seq": 3, "member": "alice", "state": {"members": {}}}
    assert "member" not in Snapshot("r1", 7, 3, None, {}).to_wire()
    event = {"epoch": 7, "seq": 4, "ops": []}
    catch_up = CatchUp("r1", 7, 4, "alice", [event])
    assert catch_up.to_wire() == {"room": "r1", "epoch": 7, "seq": 4, "member": "alice", "events": [event]}
    with pytest.raises(AttributeError):
        snapshot.seq = 4  # type: ignore[misc]


def test_a_new_epoch_keeps_state_and_seq_and_forgets_the_old_history():
    """After restart_epoch a since of the old epoch gets a snapshot at the same seq."""
    room = make_room()
    room.join("alice", "s1", None, 0)
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, 0)
    old = room.position
    room.restart_epoch(old.epoch + 1)
    assert (room.epoch, room.seq, len(room.history)) == (old.epoch + 1, old.seq, 0)
    assert isinstance(room.catch_up("alice", StreamPosition(old.epoch, 0)), Snapshot)
    with pytest.raises(ValueError):
        room.restart_epoch(old.epoch)


def test_stored_options_carry_a_private_rooms_members_and_split_back():
    """A private room's member list is stored next to the type's options and read back from them."""
    access = RoomAccess.private(["bob", "alice"])
    options = stored_options({"speed": 2}, access)
    assert options == {"speed": 2, "members": ["alice", "bob"]}
    assert access_of_stored(options) == (access, {"speed": 2})
    assert stored_options({"speed": 2}, PUBLIC) == {"speed": 2}
    assert access_of_stored({"speed": 2}) == (PUBLIC, {"speed": 2})


def test_resolve_creates_missing_maps_or_stops_at_the_first_missing_key():
    """The one path walk: creating maps for a set, or reporting where the path leaves the state."""
    state: dict = {"a": {"l": [{"x": 1}]}}
    assert resolve(state, ["a", "l", 0, "x"]) == ({"x": 1}, 3)
    container, depth = resolve(state, ["a", "b", "c", "d"], create=False)
    assert (container, depth) == (state["a"], 1) and "b" not in state["a"]
    container, depth = resolve(state, ["a", "b", "c", "d"])
    assert depth == 3 and state["a"]["b"] == {"c": {}} and container is state["a"]["b"]["c"]
    for bad in (["a", 0, "x"], ["a", "l", 5, "x"], ["a", "l", "k", "x"], ["a", "l", 0.5, "x"]):
        with pytest.raises(OpError):
            resolve(state, bad)


def test_size_delta_through_missing_maps_matches_the_encoded_growth():
    """The size of a set that creates maps on the way is the growth of the encoded state."""
    state: dict = {"a": {"k": 1}}
    op = set_op(["a", "b", "c"], "value")
    before = json_size(state)
    grown = size_delta(state, op)
    state["a"]["b"] = {"c": "value"}
    assert grown == json_size(state) - before
    assert size_delta(state, set_op(["a", "k", "x"], 1)) == 0, "an op that will not apply"
