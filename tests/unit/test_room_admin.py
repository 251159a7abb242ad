"""An admin's changes to a room in the core: removing a member and closing the room, noticed in the event."""

from __future__ import annotations

import pytest

from kasagi.auth import TokenError, claimed_role, mint_token, verify_token
from kasagi.core.commands import AdminCloseCommand, AdminRemoveCommand
from kasagi.core.errors import InvalidArgument, NotMember
from kasagi.core.room import Room
from kasagi.store.codec import decode_event
from kasagi.testing import make_room

SECRET = b"an-admin-secret-of-some-length"


def joined(room: Room, *members: str) -> Room:
    for m in members:
        room.join(m, f"s-{m}", None, 0)
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, 0)
    return room


def test_removing_a_member_ends_its_presence_in_one_noticed_event():
    """A removed member's presence and player are deleted at once (no grace), its session is gone, and the event
    says who was removed."""
    room = joined(make_room(), "alice", "bob")
    room.remove_member("bob", 10)
    batch = room.begin_commit()
    assert batch is not None
    assert batch.event["notices"] == [{"kind": "removed", "member": "bob"}]
    assert ["del", ["members", "bob"]] in batch.event["ops"]
    room.commit_succeeded(batch, 10)
    assert "bob" not in room.committed["members"] and "bob" not in room.committed["players"]
    with pytest.raises(NotMember):
        room.act("bob", 1, "move", {"dx": 1, "dy": 0})
    assert decode_event(batch.event, room.room_id, batch.epoch, batch.seq) == batch.event


def test_removing_someone_who_is_not_there_is_refused_and_changes_nothing():
    """Removing an unknown member raises NotMember and queues nothing."""
    room = joined(make_room(), "alice")
    with pytest.raises(NotMember):
        room.remove_member("zed", 0)
    assert not room.has_pending


def test_closing_removes_everyone_and_ends_with_a_closed_notice():
    """Closing a room removes every member and the event ends with the closed notice and its reason."""
    room = joined(make_room(), "alice", "bob")
    room.close(5, "maintenance")
    assert room.closing
    batch = room.begin_commit()
    assert batch is not None
    kinds = [(n["kind"], n.get("member")) for n in batch.event["notices"]]
    assert kinds == [("removed", "alice"), ("removed", "bob"), ("closed", None)]
    assert batch.event["notices"][-1]["reason"] == "maintenance"
    room.commit_succeeded(batch, 5)
    assert room.committed["members"] == {} and room.online_count == 0


def test_an_empty_room_closes_with_an_event_of_no_ops():
    """A room with nobody in it still gets a final closed event."""
    room = make_room()
    room.close(0)
    batch = room.begin_commit()
    assert batch is not None and batch.ops == [] and batch.event["notices"] == [{"kind": "closed", "reason": ""}]


def test_admin_commands_validate_their_arguments():
    """Bad room ids, member ids and reasons are refused with InvalidArgument naming the field."""
    assert AdminRemoveCommand.from_wamp(["r1", "alice"], {}) == AdminRemoveCommand("r1", "alice")
    assert AdminCloseCommand.from_wamp(["r1"], {}).reason == ""
    for args, field in ((["R!", "alice"], "room"), (["r1", "bad id"], "member")):
        with pytest.raises(InvalidArgument) as info:
            AdminRemoveCommand.from_wamp(args, {})
        assert info.value.details()["field"] == field
    with pytest.raises(InvalidArgument):
        AdminCloseCommand.from_wamp(["r1", "x" * 201], {})


def test_an_admin_ticket_names_its_role_and_a_client_ticket_none():
    """A ticket minted with the admin role verifies as admin and claims it; a client ticket is a client's."""
    admin = mint_token("ops", SECRET, 100, 60, role="admin")
    client = mint_token("ops", SECRET, 100, 60)
    assert claimed_role(admin) == "admin" and verify_token(admin, "ops", SECRET, 110) == "admin"
    assert claimed_role(client) == "client" and verify_token(client, "ops", SECRET, 110) == "client"
    assert claimed_role("garbage") == "client"
    with pytest.raises(TokenError):
        mint_token("ops", SECRET, 100, 60, role="root")
