"""Durable timers and the server loop in the pure room core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasagi.core.ops import apply_ops
from kasagi.core.room import Room
from kasagi.core.values import copy_value
from kasagi.rooms import Effect, Rejected, RoomType, cancel_timer, set_op, set_timer


class Clocked(RoomType):
    """Actions set/cancel timers; timers and ticks leave a trace in the state."""

    name = "clocked"
    actions = frozenset({"set", "cancel", "bump"})
    tick_hz = 10

    def initial_state(self) -> dict[str, Any]:
        return {"fired": [], "ticks": 0}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        if action == "set":
            if "at" in args:
                return [set_timer(args["name"], args["at"], args.get("data"))]
            return [set_timer(args["name"], after_ms=args["after"], data=args.get("data"))]
        if action == "cancel":
            return [cancel_timer(args["name"])]
        return [set_op(["ticks"], state["ticks"] + 100)]

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        return [set_op(["ticks"], state["ticks"] + 1)]

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        effects: list[Effect] = [set_op(["fired"], [*state["fired"], [name, now_ms, data]])]
        if name == "chain":
            effects.append(set_timer("chained", after_ms=10))
        return effects


def make_room() -> Room:
    room = Room("r", Clocked(), epoch=1)
    room.join("alice", "s1", None, 0)
    return room


def commit(room: Room, now_ms: int = 0) -> dict[str, Any] | None:
    batch = room.begin_commit()
    if batch is None:
        return None
    room.commit_succeeded(batch, now_ms)
    return batch.event


def test_set_timer_writes_the_timer_into_the_state_in_the_actions_event() -> None:
    """An action's set_timer is stored under state.timers in the same event as the action."""
    room = make_room()
    commit(room)
    room.act("alice", 1, "set", {"name": "t", "at": 500, "data": {"k": 1}}, now_ms=100)
    event = commit(room)
    assert event is not None
    assert event["ops"] == [["set", ["timers", "t"], {"at": 500, "data": {"k": 1}}]]
    assert room.committed["timers"] == {"t": {"at": 500, "data": {"k": 1}}}
    assert room.next_timer_at() == 500


def test_after_ms_is_relative_to_the_time_the_action_is_applied() -> None:
    """set_timer(after_ms=...) becomes due that long after the act's now_ms."""
    room = make_room()
    room.act("alice", 1, "set", {"name": "t", "after": 250}, now_ms=1000)
    assert room.state["timers"]["t"]["at"] == 1250


def test_setting_a_timer_again_replaces_it_and_cancel_removes_it() -> None:
    """A name set again has one timer at the new time; cancel removes it; cancelling an
    absent timer changes nothing."""
    room = make_room()
    room.act("alice", 1, "set", {"name": "t", "at": 500}, now_ms=0)
    room.act("alice", 2, "set", {"name": "t", "at": 900}, now_ms=0)
    assert room.state["timers"] == {"t": {"at": 900, "data": None}}
    room.act("alice", 3, "cancel", {"name": "t"}, now_ms=0)
    assert room.state["timers"] == {}
    commit(room)
    seq = room.seq
    room.act("alice", 4, "cancel", {"name": "t"}, now_ms=0)
    assert commit(room) is None and room.seq == seq


def test_due_timers_fire_once_in_at_then_name_order() -> None:
    """fire_timers fires the due timers by (at, name), removes them, and fires none twice."""
    room = make_room()
    room.act("alice", 1, "set", {"name": "b", "at": 200}, now_ms=0)
    room.act("alice", 2, "set", {"name": "a", "at": 200}, now_ms=0)
    room.act("alice", 3, "set", {"name": "c", "at": 100}, now_ms=0)
    room.act("alice", 4, "set", {"name": "late", "at": 900}, now_ms=0)
    commit(room)
    assert room.fire_timers(99).fired == ()
    outcome = room.fire_timers(300)
    assert outcome.fired == ("c", "a", "b") and outcome.failures == ()
    assert [f[0] for f in room.state["fired"]] == ["c", "a", "b"]
    assert room.fire_timers(300).fired == ()
    assert set(room.state["timers"]) == {"late"}


def test_a_timers_removal_and_its_effects_are_one_event() -> None:
    """The removal of a fired timer and its on_timer effects commit in the same event."""
    room = make_room()
    room.act("alice", 1, "set", {"name": "chain", "at": 50}, now_ms=0)
    commit(room)
    room.fire_timers(60)
    event = commit(room)
    assert event is not None
    assert ["del", ["timers", "chain"]] in event["ops"]
    assert ["set", ["timers", "chained"], {"at": 70, "data": None}] in event["ops"]
    assert room.committed["fired"] == [["chain", 60, None]]


def test_actions_cannot_write_the_timers_subtree_directly() -> None:
    """An op of a room type on state.timers is refused like one on members."""

    class Sneaky(Clocked):
        def apply(
            self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]
        ) -> Sequence[Effect]:
            return [set_op(["timers", "x"], {"at": 0, "data": None})]

    room = Room("r", Sneaky(), epoch=1)
    room.join("alice", "s1", None, 0)
    with pytest.raises(Rejected):
        room.act("alice", 1, "set", {})
    assert "timers" not in room.state


def test_set_timer_refuses_bad_arguments() -> None:
    """set_timer needs exactly one of at_ms/after_ms, whole ms >= 0 and a short name."""
    with pytest.raises(ValueError):
        set_timer("t")
    with pytest.raises(ValueError):
        set_timer("t", 10, after_ms=5)
    with pytest.raises(ValueError):
        set_timer("t", -1)
    with pytest.raises(ValueError):
        set_timer("", 1)
    with pytest.raises(ValueError):
        cancel_timer("x" * 65)


def test_tick_applies_on_tick_effects_to_the_pending_batch() -> None:
    """tick runs on_tick with the time and its effects join the batch with the actions."""
    room = make_room()
    commit(room)
    room.act("alice", 1, "bump", {}, now_ms=0)
    room.tick(100, 100)
    event = commit(room)
    assert event is not None and room.committed["ticks"] == 101


def test_the_loop_runs_only_with_online_members_or_pending_timers() -> None:
    """ticking is true while a member is online or a timer is pending, false otherwise."""
    room = Room("r", Clocked(), epoch=1)
    assert not room.ticking
    room.join("alice", "s1", None, 0)
    assert room.ticking
    room.act("alice", 1, "set", {"name": "t", "at": 500}, now_ms=0)
    room.leave("alice", "s1", 0)
    assert room.ticking
    room.fire_timers(500)
    assert not room.ticking


ACTIONS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(["a", "b", "chain"]), st.integers(0, 400)),
    st.tuples(st.just("cancel"), st.sampled_from(["a", "b", "chain"]), st.just(0)),
    st.tuples(st.just("time"), st.just(""), st.integers(0, 200)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ACTIONS, max_size=25), st.data())
def test_snapshot_plus_events_reproduce_the_state_with_timers(steps: list[tuple[str, str, int]], data: Any) -> None:
    """The snapshot at any seq plus the later events equals the committed state, timers included."""
    room = make_room()
    commit(room)
    now, cseq = 0, 0
    snapshots = {room.seq: copy_value(room.committed)}
    events: list[dict[str, Any]] = []
    for kind, name, n in steps:
        if kind == "time":
            now += n
            room.tick(now, n)
            room.fire_timers(now)
        else:
            cseq += 1
            args: dict[str, Any] = {"name": name, "after": n} if kind == "set" else {"name": name}
            room.act("alice", cseq, kind, args, now_ms=now)
        event = commit(room, now)
        if event is not None:
            events.append(copy_value(event))
            snapshots[room.seq] = copy_value(room.committed)
    start = data.draw(st.sampled_from(sorted(snapshots)))
    state = copy_value(snapshots[start])
    for event in events:
        if event["seq"] > start:
            apply_ops(state, event["ops"])
    assert state == room.committed == room.state
