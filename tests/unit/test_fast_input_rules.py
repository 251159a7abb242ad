"""The fast input path in the pure core and the authorizer's rules (no router)."""

from __future__ import annotations

import pytest

from kasagi.auth import authorize_client
from kasagi.core.errors import NotMember, Rejected
from kasagi.core.room import Room
from kasagi.roomtypes import make_room_type


def _room() -> Room:
    room = Room("r1", make_room_type("arena", {}), epoch=7)
    room.join("alice", "s1", None, 1000)
    room.join("bob", "s2", None, 1000)
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, 1000)
    return room


def test_announced_actions_are_acknowledged_in_their_event() -> None:
    """Inputs of the fast path appear in their event's acks, per member, in order."""
    room = _room()
    room.act("alice", 5, "move", {"dx": 1, "dy": 0}, announce=True)
    room.act("alice", 6, "move", {"dx": 1, "dy": 0}, announce=True)
    room.act("bob", 9, "move", {"dx": 0, "dy": 1}, announce=True)
    batch = room.begin_commit()
    assert batch is not None
    assert batch.event["acks"] == {"alice": [5, 6], "bob": [9]}


def test_act_calls_add_no_acks_to_events() -> None:
    """Actions that came by the act call are answered by the call, not in the event."""
    room = _room()
    room.act("alice", 5, "move", {"dx": 1, "dy": 0})
    batch = room.begin_commit()
    assert batch is not None
    assert "acks" not in batch.event


def test_refused_and_repeated_inputs_are_not_announced() -> None:
    """A refused input and a repeat of an in-flight cseq add nothing to the next event's acks."""
    room = _room()
    with pytest.raises(Rejected):
        room.act("alice", 5, "move", {"dx": 11, "dy": 0}, announce=True)
    with pytest.raises(NotMember):
        room.act("carol", 1, "move", {"dx": 1, "dy": 0}, announce=True)
    room.act("bob", 3, "move", {"dx": 1, "dy": 0}, announce=True)
    room.act("bob", 3, "move", {"dx": 1, "dy": 0}, announce=True)
    batch = room.begin_commit()
    assert batch is not None
    assert batch.event["acks"] == {"bob": [3]}


def test_failed_commit_drops_the_announcements() -> None:
    """After a failed commit, the next event does not acknowledge the rolled-back inputs."""
    room = _room()
    room.act("alice", 5, "move", {"dx": 1, "dy": 0}, announce=True)
    batch = room.begin_commit()
    assert batch is not None
    room.commit_failed(batch, 2000)
    nxt = room.begin_commit()
    assert nxt is None or "acks" not in nxt.event


@pytest.mark.parametrize("room", ["r1", "a_b_9"])
def test_client_may_publish_exactly_on_a_room_input_topic(room: str) -> None:
    """A client may publish on kasagi.input.<room>; the router discloses it and may cache that."""
    decision = authorize_client(f"kasagi.input.{room}", "publish", {})
    assert decision == {"allow": True, "disclose": True, "cache": True}


@pytest.mark.parametrize(
    "uri",
    [
        "kasagi.room.r1",
        "kasagi.input.",
        "kasagi.input.R1",
        "kasagi.input.r1.x",
        "kasagi.lobby.open",
        "wamp.session.on_leave",
    ],
)
def test_client_may_not_publish_anywhere_else(uri: str) -> None:
    """Publishing on a room's event topic, a malformed input topic or anything else is refused."""
    assert authorize_client(uri, "publish", {})["allow"] is False


@pytest.mark.parametrize("match", ["exact", "prefix", "wildcard"])
def test_client_may_not_subscribe_to_inputs(match: str) -> None:
    """No client may read another member's inputs."""
    assert authorize_client("kasagi.input.r1", "subscribe", {"match": match})["allow"] is False
