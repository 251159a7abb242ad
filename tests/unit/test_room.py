"""The room state machine: actions, commits, dedupe, rollback, catch-up and presence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.canonical import state_hash
from kasagi.core.errors import InvalidArgument, NotMember, Rejected
from kasagi.core.ops import apply_ops
from kasagi.core.replies import CatchUp, JoinPending, Snapshot
from kasagi.core.room import Accepted, Applied, InFlight, Room, RoomConfig, StreamPosition
from kasagi.core.values import copy_value
from kasagi.testing import make_room


def joined(room: Room, *members: str, now: int = 0) -> Room:
    for m in members:
        room.join(m, f"s-{m}", None, now)
    return room


def commit(room: Room, now: int = 0):
    batch = room.begin_commit()
    assert batch is not None
    room.commit_succeeded(batch, now)
    return batch


def test_act_before_join_is_refused():
    """A member that has not joined can't act."""
    room = make_room()
    with pytest.raises(NotMember):
        room.act("alice", 1, "move", {"dx": 1, "dy": 1})


def test_join_is_answered_at_the_seq_of_its_event_with_its_presence_and_player():
    """A join waits for the event that carries it: the reply at that seq shows the member online and its player."""
    room = make_room()
    pending = room.join("alice", "s1", None, now_ms=1000)
    assert isinstance(pending, JoinPending) and pending.seq == 1
    assert room.answer_join(pending) is None, "not before its event is committed"
    event = commit(room).event
    assert event["seq"] == 1
    reply = room.answer_join(pending)
    assert isinstance(reply, Snapshot) and reply.seq == 1
    assert reply.state["members"]["alice"] == {"online": True, "since": 1000}
    assert set(reply.state["players"]) == {"alice"}
    assert reply.state == room.committed


def test_a_join_of_a_member_already_online_is_answered_at_once():
    """A second session of a member whose presence is committed gets the committed state at once."""
    room = joined(make_room(), "alice")
    commit(room)
    reply = room.join("alice", "s2", None, 5)
    assert isinstance(reply, Snapshot) and reply.seq == 1 and "alice" in reply.state["players"]


def test_a_join_while_a_batch_is_in_flight_waits_for_the_batch_after_it():
    """Effects accepted while a batch is in flight go into the next one, and so does the join's answer."""
    room = joined(make_room(), "alice")
    inflight = room.begin_commit()
    assert inflight is not None
    pending = room.join("bob", "s-bob", None, 5)
    assert isinstance(pending, JoinPending) and pending.seq == 2
    room.commit_succeeded(inflight, 5)
    assert room.answer_join(pending) is None
    commit(room)
    reply = room.answer_join(pending)
    assert isinstance(reply, Snapshot) and reply.seq == 2 and set(reply.state["players"]) == {"alice", "bob"}


def test_a_second_session_joining_before_the_first_ones_event_waits_for_it_too():
    """A member online in the working state but not yet committed is answered once its presence is."""
    room = make_room()
    first = room.join("alice", "s1", None, 0)
    second = room.join("alice", "s2", None, 0)
    assert isinstance(first, JoinPending) and isinstance(second, JoinPending) and first.seq == second.seq == 1
    commit(room)
    for pending in (first, second):
        reply = room.answer_join(pending)
        assert isinstance(reply, Snapshot) and "alice" in reply.state["players"]


def test_a_rejoin_with_since_catches_up_through_its_own_event():
    """join(since) of a returning member answers with every event after since, its own presence event last."""
    room = joined(make_room(), "alice", "bob")
    commit(room)
    room.leave("bob", "s-bob", 10)
    commit(room, now=10)
    since, at_since = room.position, copy_value(room.committed)
    pending = room.join("bob", "s-bob2", since, 20)
    assert isinstance(pending, JoinPending) and pending.seq == since.seq + 1
    commit(room, now=20)
    reply = room.answer_join(pending)
    assert isinstance(reply, CatchUp) and reply.seq == pending.seq
    assert [e["seq"] for e in reply.events] == [pending.seq]
    for event in reply.events:
        apply_ops(at_since, event["ops"])
    assert at_since == room.committed and at_since["members"]["bob"]["online"] is True


def test_one_event_per_commit_carries_many_actions_and_acks_each():
    """Actions between two commits share one event whose seq answers every one of them."""
    room = joined(make_room(), "alice", "bob")
    commit(room)
    assert isinstance(room.act("alice", 1, "move", {"dx": 1, "dy": 0}), Accepted)
    assert isinstance(room.act("bob", 1, "move", {"dx": 0, "dy": 1}), Accepted)
    assert isinstance(room.act("alice", 2, "move", {"dx": 1, "dy": 0}), Accepted)
    batch = commit(room)
    assert batch.seq == 2
    assert batch.acks == (("alice", 1), ("bob", 1), ("alice", 2))
    assert len(batch.ops) == 2, "alice's two moves coalesce into one op"
    assert room.results["alice"] == {1: 2, 2: 2}


def test_refused_action_changes_nothing_and_takes_no_seq():
    """A move over the speed limit is rejected, and the state and seq stay as they were."""
    room = joined(make_room(), "alice")
    commit(room)
    before = copy_value(room.state)
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "move", {"dx": 11, "dy": 0})
    assert info.value.field == "args.dx"
    assert room.state == before and not room.has_pending and room.seq == 1


def test_repeated_cseq_returns_the_first_result_in_flight_and_after():
    """The same cseq while pending or being written is the same ticket; after commit it returns the first seq."""
    room = joined(make_room(), "alice")
    commit(room)
    first = room.act("alice", 7, "move", {"dx": 1, "dy": 0})
    assert isinstance(first, Accepted)
    assert room.act("alice", 7, "move", {"dx": 5, "dy": 5}) == InFlight(("alice", 7))
    batch = room.begin_commit()
    assert batch is not None
    assert room.act("alice", 7, "move", {"dx": 5, "dy": 5}) == InFlight(("alice", 7)), "while the store writes it"
    room.commit_succeeded(batch, 0)
    assert room.act("alice", 7, "move", {"dx": 5, "dy": 5}) == Applied(batch.seq)
    assert not room.has_pending


def test_results_window_keeps_the_highest_cseqs_per_member():
    """Only the N highest cseqs' results per member are kept (the lowest dropped first, into the floor)."""
    room = joined(make_room(config=RoomConfig(results_per_member=3)), "alice")
    commit(room)
    for c in (10, 5, 20, 30):
        room.act("alice", c, "move", {"dx": 0, "dy": 0})
        commit(room)
    assert sorted(room.results["alice"]) == [10, 20, 30]
    assert room.floors == {"alice": 5}


def test_failed_commit_rolls_back_everything_uncommitted_and_heals_presence():
    """When the store refuses a batch, its actions and later ones are undone, presence is re-asserted."""
    room = joined(make_room(), "alice")
    commit(room)
    committed = copy_value(room.committed)
    room.act("alice", 1, "move", {"dx": 3, "dy": 0})
    batch = room.begin_commit()
    room.act("alice", 2, "move", {"dx": 3, "dy": 0})
    room.join("bob", "s-bob", None, 5)
    failed = room.commit_failed(batch, now_ms=5)
    assert failed == [("alice", 1), ("alice", 2)]
    assert room.seq == 1 and room.committed == committed
    assert room.state["players"]["alice"] == committed["players"]["alice"]
    # bob's session is live, so his presence is pending again; alice can retry cseq 1.
    assert room.has_pending and "bob" in room.state["members"]
    assert isinstance(room.act("alice", 1, "move", {"dx": 3, "dy": 0}), Accepted)


def test_catch_up_serves_events_when_history_holds_them_else_a_snapshot():
    """join(since) returns the missing events in order, or a snapshot when it can't."""
    room = joined(make_room(config=RoomConfig(history_events=3, history_min_age_ms=0)), "alice")
    commit(room)
    for c in range(1, 6):
        room.act("alice", c, "move", {"dx": 1, "dy": 0})
        commit(room, now=c)
    reply = room.catch_up("alice", StreamPosition(room.epoch, 4))
    assert isinstance(reply, CatchUp) and [e["seq"] for e in reply.events] == [5, 6]
    up_to_date = room.catch_up("alice", StreamPosition(room.epoch, 6))
    assert isinstance(up_to_date, CatchUp) and list(up_to_date.events) == []
    assert isinstance(room.catch_up("alice", StreamPosition(room.epoch, 1)), Snapshot), "trimmed"
    assert isinstance(room.catch_up("alice", StreamPosition(room.epoch + 1, 6)), Snapshot), "other epoch"
    assert isinstance(room.catch_up("alice", StreamPosition(room.epoch, 99)), Snapshot), "future seq"


def test_hash_is_in_every_kth_event_and_matches_the_state():
    """Every K-th event carries the hash of the state at that seq."""
    room = joined(make_room(config=RoomConfig(hash_every=2)), "alice")
    commit(room)
    room.act("alice", 1, "move", {"dx": 1, "dy": 1})
    batch = commit(room)
    assert batch.seq == 2 and batch.hash == state_hash(room.committed)
    room.act("alice", 2, "move", {"dx": 1, "dy": 1})
    assert commit(room).hash is None


def test_last_session_leaving_starts_grace_and_expiry_removes_the_player():
    """Losing the last session marks the member offline until now+grace; then it and its player go."""
    room = joined(make_room(config=RoomConfig(grace_ms=30_000)), "alice", now=0)
    room.join("alice", "s-2", None, 0)
    commit(room)
    room.session_closed("s-alice", 1_000)
    assert not room.has_pending, "another session is still there"
    room.leave("alice", "s-2", 2_000)
    assert room.state["members"]["alice"] == {"online": False, "since": 2_000, "until": 32_000}
    assert room.next_expiry() == 32_000
    assert room.expire(31_999) == 32_000 and "alice" in room.state["players"]
    room.expire(32_000)
    assert "alice" not in room.state["members"] and "alice" not in room.state["players"]


def test_member_back_within_grace_keeps_its_player():
    """A member that comes back before its grace ends keeps its player where it was."""
    room = joined(make_room(), "alice")
    commit(room)
    room.act("alice", 1, "move", {"dx": 7, "dy": 7})
    commit(room)
    where = dict(room.state["players"]["alice"])
    room.session_closed("s-alice", 1_000)
    room.join("alice", "s-new", None, 2_000)
    commit(room)
    assert room.committed["players"]["alice"] == where
    assert room.committed["members"]["alice"]["online"] is True


def test_actions_cannot_write_server_owned_members():
    """A doc action on members/... is rejected."""
    room = joined(make_room(type_name="doc"), "alice")
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "set", {"path": ["members", "alice"], "value": {"online": False}})
    assert info.value.field == "args.path"


def test_doc_schema_refuses_actions_that_break_it():
    """With a JSON Schema, a set that breaks it is rejected and undone; a valid one passes."""
    schema = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 5}}}
    room = joined(make_room(type_name="doc", options={"schema": schema}), "alice")
    with pytest.raises(Rejected) as info:
        room.act("alice", 1, "set", {"path": ["title"], "value": "much too long"})
    assert "title" in info.value.field
    assert "title" not in room.state
    assert isinstance(room.act("alice", 2, "set", {"path": ["title"], "value": "ok"}), Accepted)


def test_doc_with_an_invalid_schema_is_refused_at_open():
    """Opening a doc room with a schema that is not a JSON Schema fails with invalid_argument."""
    with pytest.raises(InvalidArgument) as info:
        make_room(type_name="doc", options={"schema": {"type": "no-such-type"}})
    assert info.value.field == "options.schema"


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"properties": {"a": {"pattern": "^(a+)+$"}}}, "options.schema.properties.a.pattern"),
        ({"propertyNames": {"pattern": "x"}}, "options.schema.propertyNames.pattern"),
        ({"patternProperties": {"^a": {}}}, "options.schema.patternProperties"),
        ({"$ref": "#/$defs/nope"}, "options.schema.$ref"),
        ({"properties": {"a": {"$ref": "https://example.com/s.json"}}}, "options.schema.properties.a.$ref"),
    ],
)
def test_doc_schemas_may_not_run_client_regexes_or_point_outside(schema, field):
    """A client's schema may not use regular expressions (a backtracking pattern could hold the
    room service for hours) nor a $ref that does not resolve inside it (every act would fail):
    both are refused at open, naming the keyword."""
    with pytest.raises(InvalidArgument) as info:
        make_room(type_name="doc", options={"schema": schema})
    assert info.value.field == field


def test_doc_schema_words_used_as_property_names_and_local_refs_are_fine():
    """A property named "pattern" is data, not the keyword; a local $ref applies."""
    schema = {
        "$defs": {"n": {"type": "integer"}},
        "properties": {"pattern": {"type": "string"}, "count": {"$ref": "#/$defs/n"}},
    }
    room = joined(make_room(type_name="doc", options={"schema": schema}), "alice")
    assert isinstance(room.act("alice", 1, "set", {"path": ["pattern"], "value": "x"}), Accepted)
    with pytest.raises(Rejected):
        room.act("alice", 2, "set", {"path": ["count"], "value": "not a number"})


def test_doc_del_of_missing_path_is_rejected():
    """Deleting a path that does not exist is rejected, naming the path."""
    room = joined(make_room(type_name="doc"), "alice")
    with pytest.raises(Rejected):
        room.act("alice", 1, "del", {"path": ["nope"]})


def test_arena_clamps_to_the_world_and_refuses_unknown_arguments():
    """Positions stay within 0..1000; unknown arguments and actions are invalid."""
    room = joined(make_room(), "alice")
    commit(room)
    room.state["players"]["alice"]["x"] = 995
    room.act("alice", 1, "move", {"dx": 10, "dy": 0})
    assert room.state["players"]["alice"]["x"] == 1000
    with pytest.raises(InvalidArgument) as info:
        room.act("alice", 2, "move", {"dx": 1, "dy": 0, "teleport": True})
    assert info.value.field == "args.teleport"
    with pytest.raises(InvalidArgument) as info:
        room.act("alice", 3, "fly", {})
    assert info.value.field == "action"
    with pytest.raises(InvalidArgument) as info:
        room.act("alice", 4, "move", {"dx": "1", "dy": 0})
    assert info.value.field == "args.dx"


doc_actions = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob"]),
        st.one_of(
            st.builds(
                lambda p, v: ("set", {"path": p, "value": v}),
                st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
                st.integers(0, 9),
            ),
            st.builds(
                lambda p: ("del", {"path": p}), st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2)
            ),
        ),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(doc_actions, st.integers(0, 40))
def test_snapshot_at_n_plus_events_after_it_equals_snapshot_at_m(actions, cut):
    """Replaying events n+1..m onto the snapshot at n gives exactly the snapshot at m."""
    room = joined(make_room(type_name="doc"), "alice", "bob")
    commit(room)
    snapshots = {room.seq: copy_value(room.committed)}
    events = []
    cseq = 0
    for member, (action, args), flush in actions:
        cseq += 1
        try:
            room.act(member, cseq, action, args)
        except (Rejected, InvalidArgument):
            pass
        if flush and room.has_pending:
            events.append(commit(room).event)
            snapshots[room.seq] = copy_value(room.committed)
    if room.has_pending:
        events.append(commit(room).event)
        snapshots[room.seq] = copy_value(room.committed)
    assert room.state == room.committed
    n = min(cut, room.seq)
    state = copy_value(snapshots.get(n, snapshots[min(snapshots)]))
    start = n if n in snapshots else min(snapshots)
    for event in events:
        if event["seq"] > start:
            apply_ops(state, event["ops"])
    assert state == room.committed


def test_a_doc_schema_that_cannot_be_applied_refuses_instead_of_failing():
    """Should a schema that can't be applied reach a room (one stored before the open-time
    checks), an action is refused with rejected naming the schema, not an internal error."""
    from kasagi.roomtypes.doc import Doc

    with pytest.raises(Rejected) as info:
        Doc({"$ref": "#/$defs/nope"}).check({"members": {}})
    assert info.value.field == "options.schema"
