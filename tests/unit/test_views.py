"""Per-member views: each member sees the public state plus its own private entry only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.canonical import state_hash
from kasagi.core.errors import KasagiError
from kasagi.core.replica import RoomReplica, Verdict
from kasagi.core.replies import CatchUp, Snapshot
from kasagi.core.room import Room, RoomConfig, StreamPosition
from kasagi.core.views import Audience, deliveries, event_for, view_of
from kasagi.rooms import PRIVATE_KEY, Effect, RoomType, del_op, private_path, require_keys, set_op
from kasagi.testing.rooms import RoomKit
from kasagi.testing.secrets import Secrets

MEMBERS = ("alice", "bob", "carol")


class Hands(RoomType):
    """Actions write public and private paths as they are told (a test room type)."""

    name = "hands"
    actions = frozenset({"ops", "raw"})

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        require_keys(args, {"ops"}, set(), action)
        out: list[Effect] = []
        for kind, who, key, value in args["ops"]:
            path = ["table", key] if who == "" else private_path(who, key)
            out.append(set_op(path, value) if kind == "set" else del_op(path if key != "" else path[:2]))
        return out


def _room(hash_every: int = 1) -> Room:
    room = Room("r", Hands(), epoch=1, config=RoomConfig(hash_every=hash_every))
    for member in MEMBERS:
        room.join(member, f"s-{member}", None, 0)
    _commit(room)
    return room


def _commit(room: Room) -> dict[str, Any] | None:
    batch = room.begin_commit()
    if batch is None:
        return None
    room.commit_succeeded(batch, 0)
    return batch.event


def _act(room: Room, member: str, cseq: int, ops: list[list[Any]]) -> dict[str, Any]:
    room.act(member, cseq, "ops", {"ops": ops})
    event = _commit(room)
    assert event is not None
    return event


def test_a_view_holds_the_members_own_entry_and_no_other() -> None:
    """A member's view keeps the public keys and its own private entry, and drops the rest."""
    state = {"table": 1, PRIVATE_KEY: {"a": {"hand": [1]}, "b": {"hand": [2]}}}
    assert view_of(state, "a") == {"table": 1, PRIVATE_KEY: {"a": {"hand": [1]}}}
    assert view_of(state, "c") == {"table": 1}
    assert view_of(state, None) == {"table": 1}
    plain = {"table": 1}
    assert view_of(plain, "a") is plain


def test_an_event_for_a_member_carries_public_ops_and_its_own_private_ops_only() -> None:
    """Event N for member M holds the public ops of N and M's private ops of N, in order."""
    room = _room()
    event = _act(room, "alice", 1, [["set", "", "x", 1], ["set", "bob", "h", 7], ["set", "alice", "h", 5]])
    assert event_for(event, "alice")["ops"] == [["set", ["table", "x"], 1], ["set", ["private", "alice", "h"], 5]]
    assert event_for(event, "bob")["ops"] == [["set", ["table", "x"], 1], ["set", ["private", "bob", "h"], 7]]
    assert event_for(event, "carol")["ops"] == [["set", ["table", "x"], 1]]
    assert "hashes" not in event_for(event, "alice")


def test_each_member_gets_the_hash_of_its_own_view() -> None:
    """In a hash event each member's hash is that of its own view; nobody gets another's."""
    room = _room(hash_every=1)
    event = _act(room, "alice", 1, [["set", "bob", "h", 7], ["set", "alice", "h", 5]])
    for member in MEMBERS:
        mine = event_for(event, member)
        assert mine["hash"] == state_hash(view_of(room.committed, member))
    others = {event_for(event, m)["hash"] for m in MEMBERS}
    assert len(others) == 3


def test_deliveries_are_one_public_publish_plus_one_per_member_with_a_private_change() -> None:
    """The public form goes to everyone but the members with private changes, who get their own."""
    room = _room(hash_every=0)
    event = _act(room, "alice", 1, [["set", "", "x", 1], ["set", "bob", "h", 7]])
    sent = deliveries(event)
    assert [d.audience for d in sent] == [Audience(exclude=("bob",)), Audience(only="bob")]
    assert sent[0].event["ops"] == [["set", ["table", "x"], 1]]
    public = _act(room, "alice", 2, [["set", "", "y", 2]])
    assert deliveries(public)[0].event is public and len(deliveries(public)) == 1


def test_deleting_a_members_entry_leaves_its_view_without_private() -> None:
    """``del private.<M>`` reaches M as ``del private``: its view then has no ``private`` key."""
    room = _room()
    _act(room, "alice", 1, [["set", "alice", "h", 5]])
    event = _act(room, "alice", 2, [["del", "alice", "", None]])
    assert event_for(event, "alice")["ops"] == [["del", ["private"]]]
    assert room.view("alice") == {"members": room.committed["members"]}


def test_private_as_a_whole_can_not_be_written() -> None:
    """An action that sets or deletes ``private`` itself is refused and changes nothing."""

    class Whole(Hands):
        def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> list[Effect]:
            return [set_op([PRIVATE_KEY], {"x": 1})]

    room = Room("r", Whole(), epoch=1)
    room.join("alice", "s", None, 0)
    _commit(room)
    before = room.committed
    try:
        room.act("alice", 1, "ops", {})
    except Exception as exc:  # noqa: BLE001 -- the refusal is what the test checks
        assert getattr(exc, "uri", "") == "kasagi.error.rejected"
    else:
        raise AssertionError("accepted a write of private as a whole")
    assert room.committed == before and not room.has_pending


def test_snapshots_and_catch_ups_are_per_member() -> None:
    """A join's snapshot is the member's view, and its catch-up the events in its form."""
    room = _room()
    _act(room, "alice", 1, [["set", "bob", "h", 777_777], ["set", "alice", "h", 5]])
    snap = room.catch_up("carol", None)
    assert isinstance(snap, Snapshot) and PRIVATE_KEY not in snap.state
    bob = room.catch_up("bob", StreamPosition(1, 1))
    assert isinstance(bob, CatchUp)
    assert bob.events[0]["ops"] == [["set", ["private", "bob", "h"], 777_777]]
    assert "777777" not in repr(room.catch_up("carol", StreamPosition(1, 1)))


def test_the_doc_room_refuses_client_writes_to_private() -> None:
    """A client of a ``doc`` room can't write ``private``: it is refused with ``rejected``."""
    from kasagi.roomtypes import Doc

    kit = RoomKit(Doc)
    kit.join("alice")
    refusal = kit.refused("alice", "set", {"path": ["private", "bob"], "value": 1})
    assert refusal.uri == "kasagi.error.rejected"


def test_the_kit_shows_each_member_its_view_and_its_events() -> None:
    """RoomKit's ``view`` and ``events_for`` are what each member's client holds and receives."""
    kit = RoomKit(Secrets)
    kit.join("alice")
    kit.join("bob")
    secret = kit.state[PRIVATE_KEY]["bob"]["secret"]
    assert kit.view("bob")[PRIVATE_KEY] == {"bob": {"secret": secret}}
    assert PRIVATE_KEY not in kit.view("carol")
    assert str(secret) not in repr(kit.events_for("alice")) + repr(kit.view("alice"))
    assert str(secret) in repr(kit.events_for("bob"))


# -- the property: snapshot at n + the member's events n+1..m == the member's view at m -------
_ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "set", "del"]),
        st.sampled_from(["", *MEMBERS]),
        st.sampled_from(["a", "b", ""]),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MEMBERS), _ops), min_size=1, max_size=12), st.integers(0, 3))
def test_a_replica_of_each_member_follows_its_view(steps: list[tuple[str, list[Any]]], hash_every: int) -> None:
    """Whatever the changes, each member's replica equals its view and every hash it checks agrees."""
    room = _room(hash_every=hash_every)
    replicas = {m: RoomReplica("r") for m in MEMBERS}
    for member, replica in replicas.items():
        replica.load(room.catch_up(member, None).to_wire())
    cseq = 0
    for member, raw in steps:
        ops = [[k, w, key or "k", v] if k == "set" or key else [k, w, key, v] for k, w, key, v in raw]
        cseq += 1
        try:
            room.act(member, cseq, "ops", {"ops": ops})
        except KasagiError:
            pass  # a change that does not apply is refused, nothing is committed
        event = _commit(room)
        if event is None:
            continue
        for who, replica in replicas.items():
            assert replica.offer(event_for(event, who)) is Verdict.APPLIED
    for who, replica in replicas.items():
        assert replica.state == room.view(who)
        assert not replica.needs_snapshot
