"""RoomKit: a room type driven synchronously on a fake clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kasagi.rooms import Effect, Rejected, RoomType, cancel_timer, del_op, describe, require_keys, set_op, set_timer
from kasagi.roomtypes import Arena
from kasagi.testing.rooms import HookFailed, RoomKit


class Countdown(RoomType):
    """Players join; ``start`` begins a 3 s countdown (a timer); a 10 Hz loop counts ticks."""

    name = "countdown"
    actions = frozenset({"start", "stop"})
    tick_hz = 10

    def initial_state(self) -> dict[str, Any]:
        return {"players": {}, "phase": "lobby", "ticks": 0}

    def apply(self, state: Mapping[str, Any], member: str, action: str, args: Mapping[str, Any]) -> Sequence[Effect]:
        require_keys(args, set(), set(), action)
        if action == "start":
            if state["phase"] != "lobby":
                raise Rejected("already started", field="phase", expected="lobby", got=describe(state["phase"]))
            return [set_op(["phase"], "counting"), set_timer("go", after_ms=3000, data={"by": member})]
        return [set_op(["phase"], "lobby"), cancel_timer("go")]

    def on_join(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        return [set_op(["players", member], {"score": 0})]

    def on_leave(self, state: Mapping[str, Any], member: str) -> Sequence[Effect]:
        return [del_op(["players", member])]

    def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
        return [set_op(["ticks"], state["ticks"] + 1)]

    def on_timer(self, state: Mapping[str, Any], name: str, data: Any, now_ms: int) -> Sequence[Effect]:
        return [set_op(["phase"], "playing"), set_op(["started"], {"by": data["by"], "at": now_ms})]


def test_join_returns_the_state_including_the_members_own_effects() -> None:
    """kit.join answers with the committed state holding the member's presence and on_join effects."""
    kit = RoomKit(Countdown)
    state = kit.join("alice")
    assert state["players"]["alice"] == {"score": 0}
    assert state["members"]["alice"]["online"] is True


def test_act_returns_none_or_the_refusal_and_refusals_are_kept() -> None:
    """act is None when applied; a refused act returns the refusal and lands in kit.refusals."""
    kit = RoomKit(Countdown)
    kit.join("alice")
    assert kit.act("alice", "start") is None
    refusal = kit.refused("alice", "start")
    assert refusal.uri == "kasagi.error.rejected" and refusal.details["field"] == "phase"
    assert kit.refusals == [refusal]
    assert kit.act("alice", "start", {"x": 1}) is not None
    assert kit.refusals[-1].uri == "kasagi.error.invalid_argument"


def test_refused_fails_when_the_action_is_applied() -> None:
    """refused raises AssertionError when the action was in fact applied."""
    kit = RoomKit(Countdown)
    kit.join("alice")
    with pytest.raises(AssertionError):
        kit.refused("alice", "start")


def test_advance_fires_the_timer_at_its_time_once() -> None:
    """A timer set with after_ms fires when the fake clock reaches it, once, with its data."""
    kit = RoomKit(Countdown, now_ms=1000)
    kit.join("alice")
    kit.act("alice", "start")
    kit.advance(2999)
    assert kit.state["phase"] == "counting"
    kit.advance(1)
    assert kit.state["started"] == {"by": "alice", "at": 4000} and kit.state["timers"] == {}
    kit.advance(10_000)
    assert kit.state["started"]["at"] == 4000


def test_cancel_timer_stops_the_countdown() -> None:
    """A cancelled timer never fires."""
    kit = RoomKit(Countdown)
    kit.join("alice")
    kit.act("alice", "start")
    kit.act("alice", "stop")
    kit.advance(5000)
    assert kit.state["phase"] == "lobby" and "started" not in kit.state


def test_ticks_run_at_the_fixed_rate_only_while_someone_is_online() -> None:
    """At 10 Hz one second of fake time runs 10 ticks; an empty room runs none."""
    kit = RoomKit(Countdown)
    kit.advance(1000)
    assert kit.state["ticks"] == 0
    kit.join("alice")
    kit.advance(1000)
    assert kit.state["ticks"] == 10
    kit.leave("alice")
    kit.advance(1000)
    assert kit.state["ticks"] == 10 and "alice" not in kit.state["players"]


def test_events_carry_seq_and_ops_and_replay_to_the_state() -> None:
    """kit.events are the committed events in seq order; their ops rebuild kit.state."""
    from kasagi.core.ops import apply_ops

    kit = RoomKit(Arena)
    kit.join("alice")
    kit.act("alice", "move", {"dx": 3, "dy": -2})
    assert [e["seq"] for e in kit.events] == list(range(1, kit.seq + 1))
    state: dict[str, Any] = Arena().initial_state()
    state["members"] = {}
    for event in kit.events:
        apply_ops(state, event["ops"])
    assert state == kit.state


def test_a_failing_tick_hook_fails_the_test_unless_told_otherwise() -> None:
    """A raising on_tick raises HookFailed with its traceback; strict_hooks=False records it."""

    class Broken(Countdown):
        def on_tick(self, state: Mapping[str, Any], now_ms: int, dt_ms: int) -> Sequence[Effect]:
            raise RuntimeError("tick bug")

    kit = RoomKit(Broken)
    kit.join("alice")
    with pytest.raises(HookFailed, match="tick bug"):
        kit.advance(100)
    lenient = RoomKit(Broken, strict_hooks=False)
    lenient.join("alice")
    lenient.advance(300)
    assert [f.hook for f in lenient.hook_failures] == ["on_tick"] * 3
